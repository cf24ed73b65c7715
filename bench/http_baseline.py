"""Baseline HTTP throughput of the gateway: /healthz and a one-row read through the kernel's async session.

Run:  .venv/bin/python -m bench.http_baseline [--seconds 10] [--connections 16] [--database-url URL]
Default database: a fresh SQLite file; pass a postgresql+asyncpg:// URL for PostgreSQL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from bench.harness import report, server, wrk
from cpip.db import make_sync_engine
from cpip.jobs import enqueue_sync
from cpip.migrate import upgrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    upgrade(url)
    engine = make_sync_engine(url=url)
    with Session(engine) as s:
        enqueue_sync(s, "bench.row", {"x": 1})
        s.commit()
    engine.dispose()
    with server("bench.apps:kernel_read_app", {"CPIP_DATABASE_URL": url}) as base:
        wrk("warm-up", base + "/healthz", seconds=2)
        results = [
            wrk(f"/healthz (c={args.connections})", base + "/healthz", connections=args.connections,
                seconds=args.seconds),
            wrk(f"one-row read, {url.split(':')[0]} (c={args.connections})", base + "/bench/one-row",
                connections=args.connections, seconds=args.seconds),
        ]
    report("gateway baseline", results, "python -m bench.http_baseline " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
