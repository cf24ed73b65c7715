"""Benchmark: bulk export of granted rows with masking, against a raw NDJSON stream of the same rows.

    .venv/bin/python -m bench.exchange_export [--rows 1000000] [--admin-url postgresql://postgres@127.0.0.1/postgres]

Creates a scratch PostgreSQL database, migrates it, COPYs N synthetic persons into `persons`, then in one run:
  1. raw: the same keyset-paginated batches (5,000 rows, same columns), each row's stored values as JSON, one
     line per row, into a file — no grant, no masking;
  2. export: `exchange.delivery.exports.write_file` through a grant's view of the same rows, with id_number and
     name masked (id-number / name rules), into a file with its SHA-256.
Prints rows/s of both, the ratio (target >= 0.7) and the resident-memory growth of each phase (target: flat).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

COLUMNS = ["id_number", "name", "sex", "birth_date", "hukou_region_code", "residence_address", "phone", "status",
           "created_at", "updated_at"]
FIELDS = ("id_number", "name", "sex", "birth_date", "hukou_region_code", "residence_address", "phone")
DISTRICTS = ("320102", "320104", "320105", "320106", "320111", "320113")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_rss() -> Iterator[Callable[[], int]]:
    """Samples resident memory every 10 ms; yields a function giving the growth over the start."""
    start = rss_bytes()
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: peak[0] - start
    finally:
        done.set()
        thread.join()


def fill(url: str, rows: int) -> None:
    stamp = datetime.now(UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY persons ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for i in range(rows):
                district = DISTRICTS[i % len(DISTRICTS)]
                born = date(1950 + i % 60, 1 + i % 12, 1 + i % 28)
                copy.write_row((f"{district}{i:012d}",
                                "张伟" if i % 2 else "欧阳娜娜", "1" if i % 2 else "2", born, district,
                                f"江苏省南京市某区某街道{i % 500}号", f"138{i:08d}", "normal", stamp, stamp))
        conn.commit()


def raw_stream(engine: Engine, view: Any, path: Path, batch: int = 5000) -> int:
    """The baseline: the same batches of the same rows as the export, each row's stored values as one JSON line
    (orjson, as the export) — no grant, no masking, no digest."""
    select_sql = (f"SELECT id, {', '.join(FIELDS)} FROM persons WHERE id > %(after)s "
                  f"ORDER BY id LIMIT {batch}")
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    rows = 0
    after = 0
    with path.open("wb") as out:
        while True:
            with engine.connect() as conn:
                found = conn.exec_driver_sql(select_sql, {"after": after}).all()
                conn.rollback()
            if not found:
                break
            out.write(b"".join([dumps(dict(zip(FIELDS, r[1:], strict=True)), option=newline) for r in found]))
            rows += len(found)
            if len(found) < batch:
                break
            after = found[-1][0]
    return rows


def database_json(url: str, path: Path) -> int:
    """Reference: PostgreSQL itself writes the JSON lines (COPY … TO STDOUT); Python only moves bytes."""
    rows = 0
    with psycopg.connect(url) as conn, conn.cursor() as cur, path.open("wb") as out:
        pairs = ", ".join(f"'{f}', {f}" for f in FIELDS)
        query = f"COPY (SELECT json_build_object({pairs}) FROM persons ORDER BY id) TO STDOUT"
        with cur.copy(query) as copy:
            for chunk in copy:
                out.write(chunk)
                rows += bytes(chunk).count(b"\n")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--admin-url", default=os.environ.get("CPIP_BENCH_ADMIN_URL",
                                                              "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    from cpip.db import make_sync_engine
    from cpip.migrate import upgrade
    from exchange.delivery.exports import write_file
    from exchange.delivery.view import View
    from exchange.resources import Resource, source_for_key
    from security.masking import MaskingRule

    name = "cpip_bench_exchange_export"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.admin_url).set(database=name)
    upgrade(url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False))
    started = time.perf_counter()
    fill(url.render_as_string(hide_password=False), args.rows)
    print(f"filled {args.rows:,} persons in {time.perf_counter() - started:.1f} s")
    engine = make_sync_engine(url=url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    source = source_for_key("population")
    assert source is not None
    resource = Resource("101001/000001", "人口基础信息", "psb", "有条件共享", "不予开放", "published", None,
                        {f: {"name": f, "sensitivity": 3} for f in FIELDS}, source)
    view = View(resource, source, FIELDS, {"id_number": MaskingRule.id_number, "name": MaskingRule.name}, None)

    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        plain_url = url.render_as_string(hide_password=False)
        phases: list[tuple[str, Callable[[], int]]] = [
            ("raw NDJSON stream", lambda: raw_stream(engine, view, Path(tmp) / "raw.ndjson")),
            ("export (masked, SHA-256)", lambda: write_file(engine, view, Path(tmp) / "export.ndjson", "ndjson",
                                                            False).rows),
            ("reference: COPY json in PG", lambda: database_json(plain_url, Path(tmp) / "copy.ndjson")),
        ]
        for label, run in phases:
            with peak_rss() as growth:
                t = time.perf_counter()
                rows = run()
                seconds = time.perf_counter() - t
            results[label] = rows / seconds
            print(f"{label:<28} {rows:>10,} rows in {seconds:6.2f} s = {rows / seconds:>9,.0f} rows/s   "
                  f"RSS growth {growth() / 2**20:6.1f} MiB")
        raw, export, copy = results.values()
        print(f"ratio export/raw = {export / raw:.2f} (target >= 0.7); export/COPY-json = {export / copy:.2f}")
    print(f"command: .venv/bin/python -m bench.exchange_export --rows {args.rows}")
    engine.dispose()
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
