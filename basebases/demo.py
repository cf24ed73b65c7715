"""`cpip demo`: write the synthetic city into the base databases, in one transaction, with progress bars."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, delete, func, select, text

from basebases import bulk
from basebases.demo_city import DemoCity, Scale, generate
from basebases.models import (
    Building,
    EconomyIndicator,
    EconomyObservation,
    LegalEntity,
    Person,
    SpatialFeature,
    table_of,
)
from basebases.progress import StageProgress
from cpip.clock import utcnow
from cpip.errors import Conflict

# Children before parents, for clearing; the reverse order for writing.
DEMO_TABLES: tuple[Table, ...] = tuple(table_of(m) for m in (
    Person, LegalEntity, Building, SpatialFeature, EconomyObservation, EconomyIndicator))


class BaseDatabasesNotEmpty(Conflict):
    slug, title = "basebases-not-empty", "The base databases already hold data"


@dataclass
class DemoSummary:
    seed: int
    scale: str
    counts: dict[str, int]
    skipped: bool = False


def existing_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in DEMO_TABLES}


def _clear(conn: Any) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in DEMO_TABLES)))
    else:
        for table in DEMO_TABLES:
            conn.execute(delete(table))


def run_demo(engine: Engine, *, seed: int, scale: str | Scale, replace: bool = False, if_empty: bool = False,
             progress: StageProgress | None = None) -> DemoSummary:
    """Seed the demo city. Refuses to mix with existing data unless `replace` (which empties the base tables
    first); with `if_empty` an existing data set is left alone and reported as skipped."""
    progress = progress or StageProgress()
    scale_name = scale if isinstance(scale, str) else scale.name
    present = {name: n for name, n in existing_counts(engine).items() if n}
    if present and not replace:
        if if_empty:
            return DemoSummary(seed, scale_name, present, skipped=True)
        raise BaseDatabasesNotEmpty(
            "the base databases already hold data (" + ", ".join(f"{k}: {v}" for k, v in present.items())
            + "); pass --replace to empty them first, or --if-empty to leave them")
    with progress.stage("planning the city (districts, streets, parcels, buildings)", None):
        city: DemoCity = generate(seed, scale)
    counts = write_city(engine, city, progress=progress, clear=bool(present))
    return DemoSummary(seed, scale_name, counts)


def write_city(engine: Engine, city: DemoCity, *, progress: StageProgress | None = None, clear: bool = False,
               tables: tuple[str, ...] | None = None) -> dict[str, int]:
    """Write a generated city (or only `tables` of it) in one transaction."""
    progress = progress or StageProgress()
    stamp = utcnow()
    counts: dict[str, int] = {}
    plan: list[tuple[str, type[Any], Any, int]] = [
        ("spatial features", SpatialFeature, lambda: iter(city.features), len(city.features)),
        ("buildings", Building, lambda: iter(city.buildings), len(city.buildings)),
        ("legal entities", LegalEntity, lambda: iter(city.entities), len(city.entities)),
        ("persons", Person, city.persons, city.person_count),
        ("economy indicators", EconomyIndicator, lambda: iter(city.indicators), len(city.indicators)),
        ("economy observations", EconomyObservation, lambda: iter(city.observations), len(city.observations)),
    ]
    with engine.begin() as conn:
        if clear:
            _clear(conn)
        for description, model, rows, total in plan:
            table = table_of(model)
            if tables is not None and table.name not in tables:
                continue
            with progress.stage(description, total) as advance:
                counts[table.name] = bulk.write_rows(conn, table, rows(), stamp=stamp, progress=advance)
        if conn.dialect.name == "postgresql":
            # Fresh statistics, so the first queries plan with the real row counts.
            conn.execute(text("ANALYZE " + ", ".join(t.name for t in DEMO_TABLES)))
    return counts
