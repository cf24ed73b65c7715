"""Whole-table quality runs: `cpip quality run`, the scheduled job, and what they leave behind.

On PostgreSQL the suite runs inside the database (GX SQL); elsewhere the table is read in chunks into pandas:
row rules run chunk by chunk and their counts are added up, while rules that need every row at once (uniqueness,
series completeness) run once over just their columns. A run is recorded before it starts and completed after
it ends in transactions of its own, so a run that breaks still leaves its record and its error.

Afterwards: one result per expectation (counts and a few failing keys), the resource's score — also published
on the resource's catalogue entry, in the same transaction — and a quality issue for every rule that failed (or
the open issue for it brought up to date).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, Engine, LargeBinary, String, func, select, type_coerce
from sqlalchemy.orm import Session

from basebases.geometry import Geometry
from catalogue.service import set_quality_score
from cpip.clock import utcnow
from cpip.settings import Settings, get_settings
from quality import repository
from quality.context import suite_context
from quality.models import QualityResult, QualityRun, QualityScore, RunStatus, RunTrigger
from quality.outcomes import Outcome
from quality.service import masked_samples, new_issue
from quality.suites import Rule, Suite, SuiteContext, get_suite

log = logging.getLogger("cpip.quality")
SAMPLE_LIMIT = 20
SYSTEM = "cpip-quality"


@dataclass
class RunSummary:
    run_id: int
    resource: str
    status: str
    engine: str
    row_count: int
    score: float | None
    outcomes: list[Outcome]
    seconds: float

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.success is False]


def score_of(outcomes: Sequence[Outcome]) -> float | None:
    """The mean share of rows passing each evaluated expectation, as 0–100 with 2 decimals."""
    shares = [1.0 - o.unexpected_count / o.element_count for o in outcomes
              if o.success is not None and o.element_count > 0]
    return round(100.0 * sum(shares) / len(shares), 2) if shares else None


def _read_columns(suite: Suite, names: Sequence[str], dialect: str) -> list[Any]:
    columns: list[Any] = []
    for name in names:
        column = suite.table.c[name]
        if isinstance(column.type, Geometry):
            # Raw WKB: a corrupt value must reach the geometry rule, not break the read.
            columns.append(type_coerce(column, LargeBinary).label(name))
        elif isinstance(column.type, Date) and dialect == "sqlite":
            # SQLite stores dates as text; an impossible one must reach the date rules, not break the read.
            columns.append(type_coerce(column, String).label(name))
        else:
            columns.append(column)
    return columns


def chunks(engine: Engine, suite: Suite, names: Sequence[str], size: int) -> Iterator[Any]:
    """The table as DataFrames of `size` rows, in primary-key order (keyset paging: no OFFSET rescans)."""
    import pandas as pd

    pk = next(iter(suite.table.primary_key.columns))
    wanted = _read_columns(suite, names, engine.dialect.name)
    last: Any = None
    first = True
    while True:
        query = select(pk.label("__pk"), *wanted).order_by(pk).limit(size)
        if last is not None:
            query = query.where(pk > last)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        if rows or first:
            frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=["__pk", *names])
            yield frame.drop(columns="__pk").astype(object)
        first = False
        if len(rows) < size:
            return
        last = rows[-1][0]


def validate_table(engine: Engine, suite: Suite, context: SuiteContext, *, mode: str = "auto",
                   chunk_rows: int = 100_000) -> tuple[str, list[Outcome]]:
    """Validate the whole table; returns the engine used ("sql" or "pandas") and one outcome per rule."""
    from quality.gx_runner import validate_frame, validate_sql

    use_sql = mode == "sql" or (mode == "auto" and engine.dialect.name == "postgresql")
    if use_sql:
        url = engine.url.render_as_string(hide_password=False)
        return "sql", validate_sql(suite, suite.rules, url, context)
    row_rules = [r for r in suite.rules if not r.table_scope]
    table_rules = [r for r in suite.rules if r.table_scope]
    merged: dict[str, Outcome] = {}
    for frame in chunks(engine, suite, suite.columns, chunk_rows):
        for outcome in validate_frame(suite, row_rules, frame, context):
            if outcome.rule in merged:
                merged[outcome.rule].merge(outcome, SAMPLE_LIMIT)
            else:
                merged[outcome.rule] = outcome
    if table_rules:
        names = list(dict.fromkeys([*suite.key, *(c for r in table_rules for c in r.columns)]))
        import pandas as pd

        whole = pd.concat(list(chunks(engine, suite, names, max(chunk_rows, 1_000_000))), ignore_index=True)
        for outcome in validate_frame(suite, table_rules, whole, context):
            merged[outcome.rule] = outcome
    return "pandas", [merged[r.name] for r in suite.rules if r.name in merged]


def _row_count(engine: Engine, suite: Suite) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(suite.table)) or 0)


def _resource_department(session: Session, resource: str) -> str | None:
    """The department whose catalogue entry publishes this base resource, if the catalogue knows one."""
    from catalogue.models import CatalogueEntry

    keys = (resource, f"basebase:{resource}", f"basebases:{resource}", f"basebase/{resource}")
    found: str | None = session.scalar(select(CatalogueEntry.department_code)
                                       .where(CatalogueEntry.source_key.in_(keys)).limit(1))
    return found


def _raise_issues(session: Session, suite: Suite, run: QualityRun, failed: Sequence[Outcome]) -> None:
    department = _resource_department(session, suite.resource) if failed else None
    now = utcnow()
    for outcome in failed:
        rule: Rule = suite.rule(outcome.rule)
        title = f"{suite.resource}: {outcome.unexpected_count} of {outcome.element_count} fail {rule.name}"
        existing = session.scalar(repository.open_issue(suite.resource, rule.name))
        if existing is not None:
            existing.last_run_id, existing.unexpected_count, existing.updated_at = run.id, outcome.unexpected_count, now
            continue
        shown = masked_samples(suite.resource, outcome.samples[:5])
        description = f"{rule.description}. Examples: {shown}" if shown else rule.description
        session.add(new_issue(suite.resource, title[:300], raised_by=SYSTEM, description=description,
                              rule=rule.name, department=department, run_id=run.id,
                              unexpected_count=outcome.unexpected_count, now=now))


def record_results(session: Session, run: QualityRun, outcomes: Sequence[Outcome]) -> None:
    for o in outcomes:
        session.add(QualityResult(
            run_id=run.id, rule=o.rule, kind=o.kind, expectation_type=o.expectation_type, columns=list(o.columns),
            success=o.success, element_count=o.element_count, unexpected_count=o.unexpected_count,
            unexpected_percent=round(o.unexpected_percent, 4), samples=o.samples[:SAMPLE_LIMIT], error=o.error,
            note=o.note))


def run_resource(engine: Engine, resource: str, *, trigger: RunTrigger = RunTrigger.cli, mode: str = "auto",
                 settings: Settings | None = None, raise_issues: bool = True) -> RunSummary:
    """Validate one base resource's whole table and record everything the run found."""
    settings = settings or get_settings()
    suite = get_suite(resource)
    started = utcnow()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        run = QualityRun(resource=resource, suite=suite.name, suite_version=suite.version, trigger=trigger,
                         engine=mode, status=RunStatus.running, row_count=0, expectations=len(suite.rules),
                         failed_expectations=0, started_at=started)
        session.add(run)
    clock = time.perf_counter()
    try:
        context = suite_context(engine, settings)
        used, outcomes = validate_table(engine, suite, context, mode=mode, chunk_rows=settings.quality_chunk_rows)
        rows = _row_count(engine, suite)
    except Exception as exc:
        with Session(engine) as session, session.begin():
            failed_run = session.get(QualityRun, run.id)
            assert failed_run is not None
            failed_run.status, failed_run.error = RunStatus.failed, f"{type(exc).__name__}: {exc}"[:4000]
            failed_run.finished_at = utcnow()
            failed_run.duration_ms = int((time.perf_counter() - clock) * 1000)
        raise
    seconds = time.perf_counter() - clock
    failed = [o for o in outcomes if o.success is False]
    score = score_of(outcomes)
    status = RunStatus.partial if any(o.error for o in outcomes) else RunStatus.succeeded
    with Session(engine, expire_on_commit=False) as session, session.begin():
        stored = session.get(QualityRun, run.id)
        assert stored is not None
        stored.engine, stored.status, stored.row_count, stored.score = used, status, rows, score
        stored.expectations, stored.failed_expectations = len(outcomes), len(failed)
        finished = utcnow()
        stored.finished_at, stored.duration_ms = finished, int(seconds * 1000)
        record_results(session, stored, outcomes)
        if score is not None:
            session.merge(QualityScore(resource=resource, score=score, run_id=stored.id, row_count=rows,
                                       failed_expectations=len(failed), computed_at=finished))
            if set_quality_score(session, resource, score, finished) is None:
                # e.g. economy_indicators, a code table the catalogue does not list on its own.
                log.info("quality score of %s not published: the catalogue has no entry for it", resource)
        if raise_issues:
            _raise_issues(session, suite, stored, failed)
    log.info("quality run %s of %s: %s rows, %s/%s expectations failed, score %s, %.2fs", run.id, resource,
             rows, len(failed), len(outcomes), score, seconds)
    return RunSummary(run_id=run.id, resource=resource, status=status, engine=used, row_count=rows, score=score,
                      outcomes=list(outcomes), seconds=seconds)
