"""Benchmark: reading the change feed through a grant's view (masking, region scope), in pages as the API does.

    .venv/bin/python -m bench.change_feed [--changes 200000] [--page 1000] [--admin-url postgresql://…/postgres]

Creates a scratch PostgreSQL database, migrates it, writes N changes of the population stream (writers of 1,000
changes per transaction through `exchange.feed.service.record_changes`), then reads them all with
`read_changes(after=…)` page by page, each page also serialised to JSON as the endpoint's body would be, once
with no region scope and once scoped to one of six districts. Target: >= 50,000 changes/s read.
Measured at the service layer (one process, no HTTP): what a gateway worker spends per page minus transport.
"""

from __future__ import annotations

import argparse
import os
import time

import orjson
import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

DISTRICTS = ("320102", "320104", "320105", "320106", "320111", "320113")
FIELDS = ("id_number", "name", "sex", "birth_date", "hukou_region_code", "phone")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--admin-url", default=os.environ.get("CPIP_BENCH_ADMIN_URL",
                                                              "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    from cpip.db import make_sync_engine
    from cpip.migrate import upgrade
    from exchange.delivery.view import View
    from exchange.feed import service as feed
    from exchange.resources import Resource, source_for_key
    from security.masking import MaskingRule

    name = "cpip_bench_change_feed"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.admin_url).set(database=name)
    upgrade(url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False))
    engine = make_sync_engine(url=url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))

    started = time.perf_counter()
    for first in range(0, args.changes, 1000):
        with Session(engine) as session, session.begin():
            feed.record_changes(session, "population", [
                feed.Change("update", f"{DISTRICTS[i % 6]}{i:012d}", DISTRICTS[i % 6], {
                    "id_number": f"{DISTRICTS[i % 6]}{i:012d}", "name": "欧阳娜娜", "sex": "2",
                    "birth_date": "1990-01-01", "hukou_region_code": DISTRICTS[i % 6], "phone": f"138{i:08d}"})
                for i in range(first, min(first + 1000, args.changes))], "bench")
    written = time.perf_counter() - started
    print(f"wrote {args.changes:,} changes in {written:.1f} s ({args.changes / written:,.0f} changes/s, "
          f"1,000 per transaction)")

    source = source_for_key("population")
    assert source is not None
    resource = Resource("101001/000001", "人口基础信息", "psb", "有条件共享", "不予开放", "published", None,
                        {f: {"name": f} for f in FIELDS}, source)
    masking = {"id_number": MaskingRule.id_number, "name": MaskingRule.name}
    for label, region in (("whole feed", None), ("one district of six", DISTRICTS[0])):
        view = View(resource, source, FIELDS, masking, region)
        after, seen, pages = 0, 0, 0
        t = time.perf_counter()
        while True:
            with Session(engine) as session, session.begin():
                page = feed.read_changes(session, view, after=after, limit=args.page)
            orjson.dumps({"changes": page.changes, "next_after": page.next_after, "head": page.head})
            seen += len(page.changes)
            pages += 1
            if page.next_after == after or (page.next_after == page.head and not page.changes):
                break
            after = page.next_after
            if after == page.head:
                break
        seconds = time.perf_counter() - t
        print(f"read {label:<22} {seen:>9,} changes in {pages:>4} pages, {seconds:6.2f} s = "
              f"{seen / seconds:>9,.0f} changes/s delivered ({args.changes / seconds:,.0f} scanned/s)")
    print(f"command: .venv/bin/python -m bench.change_feed --changes {args.changes} --page {args.page}")
    engine.dispose()
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
