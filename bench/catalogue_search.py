"""Catalogue search on the embedded back end: 10,000 entries, p95 latency (target <= 20 ms) and the reindex
rate (target >= 2,000 entries/s), on SQLite or PostgreSQL.

Run:  .venv/bin/python -m bench.catalogue_search [--dialect sqlite|postgresql] [--entries 10000] [--queries 600]
SQLite uses a fresh file under a temporary directory; PostgreSQL a fresh database `cpip_bench_catalogue` on
postgres@127.0.0.1:5432 (dropped afterwards). Entries are synthetic but realistic (Chinese names and abstracts
built from a fixed vocabulary, seeded), inserted in bulk; the reindex figure is the real
`EmbeddedBackend.reindex` (what `cpip catalogue reindex` runs); each search is the real `search_catalogue`
(visibility, facets, a page of 20 with highlights) through the async request-path driver.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from catalogue.departments import DEMO_DEPARTMENTS, seed_demo_departments
from catalogue.domains import FormatCategory, OpenType, ShareType, UpdateCycle
from catalogue.models import CatalogueEntry
from catalogue.search.base import SearchQuery
from catalogue.search.embedded import EmbeddedBackend
from catalogue.search.service import search_catalogue
from catalogue.visibility import Scope, Viewer
from cpip.db import (
    make_async_engine,
    make_async_sessionmaker,
    make_sync_engine,
    make_sync_sessionmaker,
    sync_transaction,
)
from cpip.migrate import upgrade
from cpip.settings import sync_url

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PG_NAME = "cpip_bench_catalogue"

SUBJECTS = ["常住人口", "流动人口", "户籍", "法人单位", "企业", "个体工商户", "社会组织", "房屋", "建筑物", "土地",
            "规划许可", "地理信息", "道路", "统计", "国民经济", "财政收支", "婚姻", "养老服务", "社会救助", "医疗机构",
            "学校", "交通违法", "机动车", "驾驶人", "不动产", "公积金", "就业", "社保", "环境监测", "水质"]
ASPECTS = ["基本信息", "登记信息", "变更记录", "统计数据", "名单", "许可信息", "年度报告", "监测数据", "档案", "目录"]
DETAILS = ["按区县汇总", "含历史数据", "实时更新", "按月统计", "涉及个人信息", "供部门共享", "向社会开放",
           "GDP quarterly", "open data", "API access"]
QUERIES = ["人", "法", "房", "人口", "法人", "登记", "统计", "养老", "人口统计", "企业登记信息", "gdp", "api",
           "水质监测"]


def _entry_rows(n: int, rng: random.Random) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    departments = [d.code for d in DEMO_DEPARTMENTS]
    rows = []
    for i in range(1, n + 1):
        subject, aspect = rng.choice(SUBJECTS), rng.choice(ASPECTS)
        share = rng.choices(list(ShareType), weights=[6, 3, 1])[0]
        open_type = OpenType.none if share is ShareType.none else rng.choice(list(OpenType))
        status = rng.choices(["published", "draft", "under_review", "withdrawn"], weights=[8, 1, 1, 1])[0]
        item = f"{rng.randint(1, 7):02d}"
        category = rng.choice("123")
        rows.append({
            "code": f"{category}{item}001/{i:06d}", "metadata_id": str(uuid.uuid4()), "category": category,
            "item": item, "catalog": "001", "detail": None, "class_code": f"{category}{item}001", "sequence": i,
            "name": f"{subject}{aspect}",
            "abstract": f"{subject}{aspect}，{rng.choice(DETAILS)}，{rng.choice(DETAILS)}。",
            "department_code": rng.choice(departments),
            "formats": [{"category": c.value, "detail": None} for c in rng.sample(list(FormatCategory), 2)],
            "items": [{"name": f"{subject}字段{j}", "data_type": "C", "length": 50, "sensitivity": rng.randint(1, 4)}
                      for j in range(3)],
            "share_type": share.value, "share_conditions": "仅限审批" if share is ShareType.conditional else None,
            "share_channel": None if share is ShareType.none else "共享平台", "share_mode": "接口",
            "no_share_basis": "某法第十条" if share is ShareType.none else None, "open_type": open_type.value,
            "open_conditions": "注册申请" if open_type is OpenType.conditional else None,
            "update_cycle": rng.choice(list(UpdateCycle)).value, "related_codes": [], "maintainer": None,
            "maintainer_contact": None, "keywords": [subject], "temporal_start": None, "temporal_end": None,
            "spatial": "320100", "grade": "一般", "license": None, "access_url": None, "download_url": None,
            "status": status, "version": 1, "published_on": None, "source": "department", "source_key": None,
            "storage_bytes": 0, "record_count": 0, "shared_bytes": 0, "shared_records": 0, "open_bytes": 0,
            "open_records": 0, "census_updated_at": None, "created_by": "bench", "created_at": now,
            "updated_at": now,
        })
    return rows


def _pg_database(create: bool) -> str:
    admin = create_engine(sync_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{PG_NAME}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_NAME


async def _search_latencies(url: str, queries: int, rng: random.Random) -> tuple[list[float], list[float]]:
    engine = make_async_engine(url=url)
    factory = make_async_sessionmaker(engine)
    backend = EmbeddedBackend()
    viewers = [Viewer(Scope.catalogue, d.code) for d in DEMO_DEPARTMENTS] + [Viewer(Scope.open)]
    timings: list[float] = []
    cpu: list[float] = []
    try:
        for i in range(queries + 50):
            filters: dict[str, tuple[str, ...]] = {}
            if i % 4 == 1:
                filters["share_type"] = ("无条件共享",)
            if i % 5 == 2:
                filters["format"] = (rng.choice(list(FormatCategory)).value,)
            query = SearchQuery(text=None if i % 10 == 9 else rng.choice(QUERIES), filters=filters,
                                page=1 + (i % 3), size=20)
            async with factory() as session:
                started, cpu_started = time.perf_counter(), time.process_time()
                await search_catalogue(session, rng.choice(viewers), query, backend=backend)
                elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
            if i >= 50:  # the first 50 warm caches and connections
                timings.append(elapsed * 1000)
                cpu.append(cpu_used * 1000)
    finally:
        await engine.dispose()
    return timings, cpu


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=600)
    args = parser.parse_args()
    rng = random.Random(20240501)
    tmp = tempfile.TemporaryDirectory()
    url = (f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}" if args.dialect == "sqlite" else _pg_database(True))
    try:
        upgrade(url)
        factory = make_sync_sessionmaker(make_sync_engine(url=url))
        with sync_transaction(factory) as session:
            seed_demo_departments(session)
            session.execute(insert(CatalogueEntry), _entry_rows(args.entries, rng))
        started = time.perf_counter()
        with sync_transaction(factory) as session:
            indexed = EmbeddedBackend().reindex(session)
        reindex_s = time.perf_counter() - started
        load_before = os.getloadavg()[0]
        timings, cpu = asyncio.run(_search_latencies(url, args.queries, rng))
        load_after = os.getloadavg()[0]
    finally:
        if args.dialect == "postgresql":
            _pg_database(False)
        tmp.cleanup()
    p95 = _p95(timings)
    rate = indexed / reindex_s
    print(f"catalogue search, embedded back end on {args.dialect}: {indexed} entries, {len(timings)} searches")
    print(f"  search latency ms: p50 {statistics.median(timings):.2f}  p95 {p95:.2f}  max {max(timings):.2f}"
          f"   (target p95 <= 20 ms: {'met' if p95 <= 20 else 'NOT met'})")
    where = "the database engine included" if args.dialect == "sqlite" else "client side only"
    print(f"  this process's CPU per search ms ({where}): p50 {statistics.median(cpu):.2f}  p95 {_p95(cpu):.2f}")
    print(f"  machine load average during the searches: {load_before:.2f} → {load_after:.2f} "
          f"on {os.cpu_count()} CPUs (wall-clock figures stretch when it exceeds the CPU count)")
    print(f"  reindex: {indexed} entries in {reindex_s:.2f} s = {rate:,.0f} entries/s"
          f"   (target >= 2,000/s: {'met' if rate >= 2000 else 'NOT met'})")
    print(f"  command: .venv/bin/python -m bench.catalogue_search --dialect {args.dialect} "
          f"--entries {args.entries} --queries {args.queries}")
    return 0 if p95 <= 20 and rate >= 2000 else 1


if __name__ == "__main__":
    sys.exit(main())
