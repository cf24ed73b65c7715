"""A quarter's indicators over N audit events (target: 10,000,000 in <= 5 s from rollups on PostgreSQL).

Run:  .venv/bin/python -m bench.indicators_quarter [--events 10000000] [--database-url URL] [--keep]
      .venv/bin/python -m bench.indicators_quarter --reuse [--reroll]   (a database kept by --keep: no reload)
Default database: a fresh PostgreSQL database `cpip_bench_indicators` on postgres@127.0.0.1:5432 (dropped after,
unless --keep; --reuse opens it as it is and keeps it; --reroll rebuilds its rollups instead of rolling only
missing days). Synthetic audit events spread over 2026Q3 are bulk-loaded with COPY; the daily rollups are built
by the real rollup code; then the whole platform set is computed for 2026Q3 from the rollups and, in the same run,
by a full recount of the raw log. Printed: load, rollup and both compute times, and whether the counts agree.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.audit_verify import _copy_text, _drop_database, _fresh_database
from catalogue.departments import seed_demo_departments
from catalogue.domains import EntryStatus
from catalogue.schemas import EntryCreate
from catalogue.service import create_entry, system_actor
from cpip.clock import set_clock
from cpip.db import make_sync_engine
from cpip.migrate import upgrade
from cpip.settings import get_settings, sync_url
from exchange.indicators import service
from exchange.indicators.models import CallRollup, CallRollupMonth, RollupDay, RollupMonth
from exchange.indicators.rollups import roll_missing
from security.audit.chain import canonical_json
from security.audit.models import AuditEvent

DEFAULT_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
COLUMNS = ("occurred_at", "principal", "principal_kind", "client_id", "department", "roles", "action", "resource",
           "api", "filters", "fields", "subject_keys", "outcome", "status_code", "latency_ms")
QUARTER_START = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)  # 2026-07-01 00:00 Asia/Shanghai
QUARTER_SECONDS = 92 * 86400
DEPARTMENTS = ("psb", "samr", "nrb", "hurd", "stats", "civil")


def _catalogue(url: str) -> list[str]:
    set_clock(lambda: datetime(2026, 6, 1, 2, tzinfo=UTC))
    codes: list[str] = []
    try:
        with Session(make_sync_engine(url=url)) as session, session.begin():
            seed_demo_departments(session)
            for n in range(40):
                doc = {"classification": {"category": "3", "item": f"{n % 7 + 1:02d}", "catalog": "001"},
                       "name": f"资源{n}", "abstract": "基准测试资源", "formats": [{"category": "数据库"}],
                       "items": [{"name": "字段", "key": "f", "data_type": "C", "sensitivity": 1}],
                       "share_type": "无条件共享" if n % 3 else "有条件共享", "update_cycle": "每月",
                       "share_conditions": "依法履职", "share_method": {"channel": "共享平台", "mode": "接口"},
                       "open_type": "无条件开放" if n % 5 == 0 else "不予开放", "department": DEPARTMENTS[n % 6]}
                codes.append(create_entry(session, system_actor("bench"), EntryCreate.model_validate(doc),
                                          status=EntryStatus.published).code)
    finally:
        set_clock(None)
    return codes


def load_events(url: str, count: int, codes: list[str]) -> float:
    started = time.perf_counter()
    rng = random.Random(8)
    roles, fields, empty = canonical_json(["consumer"]), canonical_json(["f"]), canonical_json([])
    filters = canonical_json({})
    dsn = sync_url(url).replace("+psycopg", "")
    step = QUARTER_SECONDS / count
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for i in range(count):
                at = QUARTER_START + timedelta(seconds=i * step)
                r = rng.random()
                row: tuple[object, ...]
                outcome = "error" if r < 0.01 else "denied" if r < 0.04 else "allowed"
                resource = codes[rng.randrange(len(codes))]
                if rng.random() < 0.1:
                    row = (at, f"key:{i % 50}", "api_key", f"api-key:k{i % 50}", None, roles, "open-data.records.read",
                           resource, "rest", filters, fields, empty, outcome, 200, round(rng.expovariate(1 / 30), 3))
                else:
                    dept = DEPARTMENTS[i % 6]
                    row = (at, f"sa-{dept}", "service_account", f"dept-{dept}", dept, roles, "exchange.records.read",
                           resource, ("rest", "graphql", "export", "feed")[i % 4], filters, fields, empty, outcome,
                           200, round(rng.expovariate(1 / 40), 3))
                buffer.write("\t".join(_copy_text(v) for v in row) + "\n")
                if i % 100_000 == 99_999:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        conn.commit()
        conn.execute("ANALYZE audit_events")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the fresh database for --reuse")
    parser.add_argument("--reuse", action="store_true", help="use the kept database as it is (no load)")
    parser.add_argument("--reroll", action="store_true", help="with --reuse: rebuild every rollup")
    args = parser.parse_args()
    name = "cpip_bench_indicators"
    if args.reuse:
        url = args.database_url or make_url(DEFAULT_ADMIN).set(database=name).render_as_string(hide_password=False)
    else:
        url = args.database_url or _fresh_database(DEFAULT_ADMIN, name)
    load = None
    try:
        upgrade(url)
        engine = make_sync_engine(url=url)
        if args.reuse:
            with Session(engine) as session:
                args.events = int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
            if args.reroll:
                with Session(engine) as session, session.begin():
                    for model in (CallRollupMonth, RollupMonth, CallRollup, RollupDay):
                        session.execute(delete(model))
        else:
            codes = _catalogue(url)
            load = load_events(url, args.events, codes)
        settings = get_settings().model_copy(update={"database_url": url})
        started = time.perf_counter()
        with Session(engine) as session, session.begin():
            days = roll_missing(session, now=datetime(2026, 10, 2, tzinfo=UTC))
        with Session(engine) as session:
            rollup_rows = [int(session.scalar(select(func.count()).select_from(m)) or 0)
                           for m in (CallRollup, CallRollupMonth)]
        rollup = time.perf_counter() - started
        timings = {}
        reports = {}
        for label, use in (("rollups", True), ("full recount", False)):
            started = time.perf_counter()
            with Session(engine) as session:
                reports[label] = service.compute(session, settings, period="2026Q3", use_rollups=use)
            timings[label] = time.perf_counter() - started
        engine.dispose()
    finally:
        if not args.keep and not args.database_url and not args.reuse:
            _drop_database(DEFAULT_ADMIN, name)
    agree = reports["rollups"]["counts"] == reports["full recount"]["counts"]
    if load is None:
        print(f"audit events (kept database):   {args.events:,}")
    else:
        print(f"audit events loaded (COPY):     {args.events:,} in {load:.1f} s")
    print(f"rollups built:                  {len(days)} days in {rollup:.1f} s "
          f"({rollup_rows[0]:,} daily rows, {rollup_rows[1]:,} monthly rows)")
    print(f"2026Q3 from rollups:            {timings['rollups']:.2f} s   (target <= 5 s)")
    print(f"2026Q3 full recount of the log: {timings['full recount']:.2f} s")
    print(f"counts identical: {agree}; total {reports['rollups']['total']}; "
          f"calls_total {reports['rollups']['counts']['calls_total']:,}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("command: .venv/bin/python -m bench.indicators_quarter " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
