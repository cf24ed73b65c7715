"""Benchmark: the full population quality suite over 1,000,000 persons on PostgreSQL (target <= 10 s).

    .venv/bin/python bench/quality_population.py [--persons 1000000] [--defects 1000]
                                                 [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

It creates a scratch database, migrates it, COPYs N synthetic persons (valid 公民身份号码 with GB 11643 check
characters, consistent birth dates and sexes, GB/T 2260 regions) plus a known number of injected defects,
VACUUM ANALYZEs, then times in the same run:
  1. the baseline: one plain `SELECT count(*) FROM persons` pass;
  2. `import great_expectations` (what a worker pays once);
  3. `quality.runner.run_resource(engine, "population")` — every rule of the suite as GX expectations run
     inside PostgreSQL, plus recording the run, its results, score and issues — the same call as
     `cpip quality run population`.
It checks that the run found exactly the injected defects, and prints the figures and this command.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
CHECK = np.array(list("10X98765432"))
COLUMNS = ("id_number", "name", "sex", "birth_date", "ethnicity", "hukou_region_code", "phone", "status",
           "created_at", "updated_at")


def generate(n: int, seed: int = 20240601) -> dict[str, np.ndarray]:
    """n distinct, valid persons of 南京市 (born 1985–2019 in districts whose codes were in use by 1984)."""
    rng = np.random.default_rng(seed)
    with (ROOT / "basebases" / "data" / "gbt2260.csv").open(encoding="utf-8") as fh:
        regions = np.array([r["code"] for r in csv.DictReader(fh) if r["code"].startswith("3201")
                            and r["level"] == "county" and not r["valid_to"] and int(r["valid_from"] or 0) <= 1984])
    oversample = int(n * 1.02) + 1000
    region = regions[rng.integers(0, len(regions), oversample)]
    born = np.datetime64("1985-01-01") + rng.integers(0, 35 * 365, oversample).astype("timedelta64[D]")
    iso = np.datetime_as_string(born, unit="D")
    seq = rng.integers(0, 1000, oversample)
    body = np.char.add(np.char.add(region, np.char.replace(iso, "-", "")), np.char.zfill(seq.astype(str), 3))
    _, first = np.unique(body, return_index=True)
    keep = np.sort(first)[:n]
    region, iso, seq, body = region[keep], iso[keep], seq[keep], body[keep]
    digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(len(body), 17) - 48
    ids = np.char.add(body, CHECK[(digits * WEIGHTS).sum(axis=1) % 11])
    phone = np.char.add("13", np.char.zfill(rng.integers(0, 10**9, len(ids)).astype(str), 9))
    return {"id_number": ids, "sex": np.where(seq % 2 == 1, "1", "2"), "birth_date": iso, "region": region,
            "phone": phone}


def inject(people: dict[str, np.ndarray], defects: int) -> dict[str, int]:
    """Spoil `defects` rows of each of four kinds, spread over the table and interleaved (each row at most one
    defect), in place; returns rule → rows spoilt."""
    ids, sex, births, region = people["id_number"], people["sex"], people["birth_date"], people["region"]
    step = len(ids) // (4 * defects + 1)
    for n in range(4 * defects):
        i, kind = (n + 1) * step, n % 4
        if kind == 0:  # a wrong check character
            ids[i] = ids[i][:17] + ("0" if ids[i][17] != "0" else "1")
        elif kind == 1:  # sex contradicts the sequence digit
            sex[i] = "2" if sex[i] == "1" else "1"
        elif kind == 2:  # birth date one day off the ID's
            births[i] = str(np.datetime64(births[i]) + np.timedelta64(1, "D"))
        else:  # a retired 户籍地 code (320120 市区, retired in 1983)
            region[i] = "320120"
    return {"id_number.valid": defects, "sex.matches_id_number": defects, "birth_date.matches_id_number": defects,
            "hukou_region_code.gbt2260": defects}


def copy_persons(url: str, people: dict[str, np.ndarray]) -> float:
    stamp = "2025-01-01 00:00:00+00"
    buffer = io.StringIO()
    for i in range(len(people["id_number"])):
        buffer.write(f"{people['id_number'][i]}\t张某{i % 1000}\t{people['sex'][i]}\t{people['birth_date'][i]}\t01\t"
                     f"{people['region'][i]}\t{people['phone'][i]}\tnormal\t{stamp}\t{stamp}\n")
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.cursor().copy(f"COPY persons ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        conn.execute("VACUUM ANALYZE persons")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--defects", type=int, default=1_000, help="rows spoilt per kind of defect")
    parser.add_argument("--admin-url", default=os.environ.get("CPIP_BENCH_ADMIN_URL",
                                                              "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    from cpip.db import make_sync_engine
    from cpip.migrate import upgrade

    name = "cpip_bench_quality"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.admin_url).set(database=name)
    upgrade(url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False))
    people = generate(args.persons)
    injected = inject(people, args.defects)
    load_seconds = copy_persons(url.set(drivername="postgresql").render_as_string(hide_password=False), people)
    rows = len(people["id_number"])
    print(f"data: {rows:,} persons COPYed and analysed in {load_seconds:.1f} s; "
          f"{sum(injected.values()):,} defects injected ({args.defects:,} of each of {len(injected)} kinds)")

    sync_url = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    engine = make_sync_engine(url=sync_url)
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        conn.execute("SELECT count(*) FROM persons").fetchone()  # warm the cache as the run will find it
        started = time.perf_counter()
        counted = conn.execute("SELECT count(*) FROM persons").fetchone()
        baseline = time.perf_counter() - started
    started = time.perf_counter()
    import great_expectations  # noqa: F401

    import quality.gx_runner  # noqa: F401
    gx_import = time.perf_counter() - started

    from quality.runner import run_resource
    from quality.suites import get_suite

    suite = get_suite("population")
    started = time.perf_counter()
    summary = run_resource(engine, "population")
    total = time.perf_counter() - started

    found = {o.rule: o.unexpected_count for o in summary.outcomes if o.success is False}
    errors = [o.rule for o in summary.outcomes if o.error]
    exact = found == injected and not errors
    print(f"baseline: one plain SELECT count(*) pass over {counted[0] if counted else 0:,} rows: "
          f"{baseline * 1000:.0f} ms")
    print(f"import great_expectations (once per worker): {gx_import:.2f} s")
    print(f"population suite: {len(suite.rules)} rules as {len(summary.outcomes)} GX expectations, "
          f"engine={summary.engine}")
    print(f"  validation inside PostgreSQL: {summary.seconds:.2f} s = {rows / summary.seconds:,.0f} rows/s "
          f"({summary.seconds / baseline:.0f}x the count pass)")
    print(f"  whole run incl. recording results, score and issues: {total:.2f} s  (target <= 10 s: "
          f"{'met' if total <= 10 else 'MISSED'})")
    print(f"  score {summary.score}; failing rules {found}")
    print(f"  injected defects found exactly: {'yes' if exact else 'NO — expected ' + str(injected)}"
          + (f"; errors in {errors}" if errors else ""))
    print("command: .venv/bin/python bench/quality_population.py " + " ".join(sys.argv[1:]))
    engine.dispose()
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
