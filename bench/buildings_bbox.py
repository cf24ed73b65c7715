"""Benchmark: buildings in a bbox over 200,000 buildings on PostgreSQL + PostGIS; target p95 <= 20 ms.

    .venv/bin/python bench/buildings_bbox.py [--buildings 200000] [--queries 500]

Creates a scratch database with the demo city's geography grown to ~200,000 buildings, then times the read
service the API uses (`basebases.service.buildings_in_area`, first page of 100, async session over asyncpg)
on random map windows of 200 m to 2 km around buildings. The baseline, measured on the same windows in the
same run, is the bare index query (`footprint && envelope`, count only) through psycopg, i.e. the database's
own share of the time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from dataclasses import replace

import psycopg
import shapely
from sqlalchemy.engine import make_url


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--reuse", action="store_true", help="Query the database a previous run left")
    parser.add_argument("--admin-url", default=os.environ.get("CPIP_BENCH_ADMIN_URL",
                                                              "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    from basebases.demo import write_city
    from basebases.demo_city import SCALES, generate
    from cpip.db import make_async_engine, make_async_sessionmaker, make_sync_engine
    from cpip.migrate import upgrade

    name = "cpip_bench_bbox"
    url = make_url(args.admin_url).set(database=name)
    async_url = url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    plain_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    if not args.reuse:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        upgrade(async_url)
        # Parcels per district grow with the count wanted; ~12 buildings stand on a parcel.
        scale = replace(SCALES["mega"], name="bench", parcels_per_district=max(1, round(args.buildings / 11 / 10.5)),
                        buildings_per_parcel=(9, 14), persons=0, entities=0)
        started = time.perf_counter()
        city = generate(20240601, scale)
        write_city(make_sync_engine(url=async_url), city, tables=("spatial_features", "buildings"))
        print(f"data: {len(city.buildings):,} buildings written in {time.perf_counter() - started:.1f} s")
    with psycopg.connect(plain_url) as conn:
        total = conn.execute("SELECT count(*) FROM buildings").fetchone()
        centres = conn.execute("SELECT (minx + maxx) / 2, (miny + maxy) / 2 FROM buildings "
                               "ORDER BY building_code").fetchall()
    print(f"querying {total[0] if total else 0:,} buildings")

    rng = random.Random(7)
    windows = []
    for _ in range(args.queries):
        x, y = rng.choice(centres)
        half = rng.uniform(0.001, 0.01)  # ~200 m to ~2 km across
        windows.append(shapely.box(x - half, y - half, x + half, y + half))

    async def run_service() -> tuple[list[float], int]:
        from basebases import service
        from cpip.settings import Settings

        engine = make_async_engine(Settings(database_url=async_url))
        factory = make_async_sessionmaker(engine)
        timings, returned = [], 0
        async with factory() as session:
            await service.buildings_in_area(session, windows[0], cursor=None, limit=100)  # warm the pool/cache
        for window in windows:
            started = time.perf_counter()
            async with factory() as session:
                page = await service.buildings_in_area(session, window, cursor=None, limit=100)
            timings.append((time.perf_counter() - started) * 1000)
            returned += len(page.items)
        await engine.dispose()
        return timings, returned

    service_ms, returned = asyncio.run(run_service())
    raw_ms = []
    with psycopg.connect(plain_url) as conn:
        for window in windows:
            minx, miny, maxx, maxy = window.bounds
            started = time.perf_counter()
            conn.execute("SELECT count(*) FROM buildings WHERE footprint && ST_MakeEnvelope(%s, %s, %s, %s, 4490)",
                         (minx, miny, maxx, maxy)).fetchone()
            raw_ms.append((time.perf_counter() - started) * 1000)

    p95 = _percentile(service_ms, 95)
    print(f"service buildings_in_area (first page of 100, {args.queries} windows, {returned:,} buildings returned): "
          f"p50 {statistics.median(service_ms):.1f} ms, p95 {p95:.1f} ms, p99 {_percentile(service_ms, 99):.1f} ms "
          f"(target p95 <= 20 ms) — {'PASS' if p95 <= 20 else 'FAIL'}")
    print(f"baseline, bare GiST count on the same windows: p50 {statistics.median(raw_ms):.1f} ms, "
          f"p95 {_percentile(raw_ms, 95):.1f} ms")
    print(f"command: .venv/bin/python bench/buildings_bbox.py --buildings {args.buildings} --queries {args.queries}")


if __name__ == "__main__":
    main()
