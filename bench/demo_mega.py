"""Benchmark: `cpip demo --scale mega` (1,000,000 persons) on PostgreSQL; target <= 5 minutes.

    .venv/bin/python bench/demo_mega.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates a scratch database, migrates it (not timed), then times the real command in a subprocess and prints
the rows written. The baseline printed beside it is the share of the run spent generating data in Python
(the same generator, without writing), so the database's part can be read off.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 300


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--admin-url", default=os.environ.get("CPIP_BENCH_ADMIN_URL",
                                                              "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    from cpip.migrate import upgrade

    name = "cpip_bench_demo"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.admin_url).set(drivername="postgresql+asyncpg", database=name)
    async_url = url.render_as_string(hide_password=False)
    upgrade(async_url)

    command = [str(ROOT / ".venv" / "bin" / "cpip"), "demo", "--scale", "mega"]
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, "CPIP_DATABASE_URL": async_url}, capture_output=True,
                          text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cpip demo failed ({done.returncode}): {done.stderr[-2000:]}")
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                  for t in ("persons", "legal_entities", "buildings", "spatial_features", "economy_observations")}

    from basebases.demo_city import generate

    started = time.perf_counter()
    city = generate(20240601, "mega")
    generated = sum(1 for _ in city.persons())
    python_only = time.perf_counter() - started

    print(f"cpip demo --scale mega: {elapsed:.1f} s (target <= {TARGET_SECONDS} s) — "
          f"{'PASS' if elapsed <= TARGET_SECONDS else 'FAIL'}")
    print("rows: " + ", ".join(f"{table} {count:,}" for table, count in counts.items()))
    print(f"baseline: generating the same city in Python without writing: {python_only:.1f} s "
          f"({generated:,} persons); writing (COPY, indexes, ANALYZE) took the other {elapsed - python_only:.1f} s")
    print(f"command: .venv/bin/python bench/demo_mega.py  (runs: {' '.join(command)})")


if __name__ == "__main__":
    main()
