"""`cpip audit verify` over N sealed audit events (target: 1,000,000 in <= 10 s on PostgreSQL).

Run:  .venv/bin/python -m bench.audit_verify [--events 1000000] [--database-url URL] [--keep]
Default database: a fresh PostgreSQL database `cpip_bench_audit` on postgres@127.0.0.1:5432 (dropped after,
unless --keep). Events are loaded unsealed (COPY), sealed by the real sealer, then verified by the real
verifier; the figures printed are the sealer's and the verifier's own wall times.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy.engine import make_url

from cpip.db import make_sync_engine
from cpip.migrate import upgrade
from cpip.settings import get_settings, sync_url
from security.audit.chain import SigningKey, canonical_json
from security.audit.sealer import seal
from security.audit.verify import verify

DEFAULT_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
COLUMNS = ("occurred_at", "request_id", "principal", "principal_kind", "client_id", "department", "roles",
           "action", "resource", "api", "filters", "fields", "record_count", "subject_keys", "grant_id",
           "purpose", "outcome", "status_code", "ip", "latency_ms", "bytes", "detail")


def _fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(sync_url(admin_url).replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(sync_url(admin_url).replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def load_events(url: str, count: int) -> float:
    """Insert `count` realistic unsealed events with COPY; returns seconds taken."""
    started = time.perf_counter()
    base = datetime(2025, 3, 3, 0, 30, tzinfo=UTC)
    roles, fields = canonical_json(["consumer"]), canonical_json(["address", "id_number", "name"])
    dsn = sync_url(url).replace("+psycopg", "")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for i in range(1, count + 1):
                values = (
                    base + timedelta(milliseconds=37 * i), f"req-{i:012d}", f"svc-dept-{i % 40}",
                    "service_account", f"dept-{i % 40}", f"1101{i % 40:02d}", roles,
                    "basebase.population.lookup", "population", "rest",
                    canonical_json({"id_number": f"hmac:{i:016x}", "region": "110101"}), fields, 1,
                    canonical_json([f"{i:064x}"]), f"grant-{i % 300}", "户籍核验", "allowed", 200, "10.0.0.7",
                    round(1.0 + (i % 997) / 1000, 3), 512 + i % 100, None,
                )
                buffer.write("\t".join(_copy_text(v) for v in values) + "\n")
                if i % 50_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        conn.commit()
        cur.execute("ANALYZE audit_events")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None, help="an existing database to use (must be empty)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    name = "cpip_bench_audit"
    url = args.database_url or _fresh_database(DEFAULT_ADMIN, name)
    if not url.startswith("postgresql"):
        raise SystemExit("this benchmark loads with PostgreSQL COPY: pass a postgresql+asyncpg:// URL")
    try:
        upgrade(url)
        engine = make_sync_engine(url=url)
        loaded = load_events(url, args.events)
        settings = get_settings()
        sealed_started = time.perf_counter()
        sealed = seal(engine, settings, batch_size=20_000)
        seal_seconds = time.perf_counter() - sealed_started
        key = SigningKey.from_seed_b64(settings.audit_signing_key.get_secret_value()).public
        # As `cpip audit verify` runs by default: one process per CPU; the single-process walk is the baseline.
        single = verify(engine, [key], workers=1)
        print(f"verified, 1 process: {single.events:,} events in {single.seconds:.2f} s (baseline, same data)")
        report = verify(engine, [key], workers=os.cpu_count() or 1)
        engine.dispose()
    finally:
        if not args.keep and args.database_url is None:
            _drop_database(DEFAULT_ADMIN, name)
    print("\n## audit log: seal and verify (PostgreSQL)")
    print(f"events loaded (COPY)          {args.events:>10,}   {loaded:7.1f} s")
    print(f"sealed (seq, chain, 1 checkpoint per 20,000)   {sealed.sealed:>10,}   {seal_seconds:7.1f} s   "
          f"{sealed.sealed / seal_seconds:,.0f} events/s")
    print(f"verified                      {report.events:>10,}   {report.seconds:7.2f} s   "
          f"{report.events / max(report.seconds, 1e-9):,.0f} events/s   "
          f"checkpoints {report.checkpoints}   ok={report.ok}   target <= 10 s: "
          f"{'met' if report.seconds <= 10 else 'NOT met'}")
    print("reproduce: .venv/bin/python -m bench.audit_verify " + " ".join(sys.argv[1:]))
    if not report.ok:
        for problem in report.problems[:5]:
            print("  problem:", problem.line())
        raise SystemExit(1)


if __name__ == "__main__":
    main()
