"""The ingest gate: check a submitted batch against its resource's suite, split good rows from bad ones.

    result = check_batch("population", rows)
    land(result.accepted_rows); quarantine(result.rejected)

Importing this module does not import GX — `check_batch` does, on first call — so an API process may import
`quality.gate` for its types; only the worker that runs the check pays for GX.

Rows are the submitted records (dicts keyed by the resource's field names, JSON values). Before GX sees them each
value is read as its column's type (a date field accepts a date or 'YYYY-MM-DD'); a value that cannot be read is
its own rejection (`<field>.type`), and is not reported again as missing. Every row a rule rejects is named with
its row number (1-based, as submitted), natural key, field, rule and a sentence; a row is accepted only when no
rule rejects it. Rules over the whole batch that no single row breaks (a gap in a series) are findings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Date, Engine, Float, Integer, Numeric, String, Text

from basebases.geometry import Geometry
from cpip.errors import ServiceUnavailable
from quality import checks, explain
from quality.outcomes import Outcome
from quality.suites import Kind, Suite, SuiteContext, get_suite


class QualityCheckFailed(ServiceUnavailable):
    """A rule could not be evaluated; the batch is not let through unchecked (the job retries)."""

    slug, title = "quality-check-failed", "The quality check could not run"


@dataclass(frozen=True)
class RejectedRow:
    row_number: int          # 1-based position in the submitted batch
    key: str | None          # the row's natural key ("/"-joined when composite), if it has one
    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row_number": self.row_number, "key": self.key, "field": self.field, "rule": self.rule,
                "message": self.message}


@dataclass(frozen=True)
class BatchFinding:
    """A rule broken by the batch as a whole rather than by one row (e.g. a series with missing months)."""

    rule: str
    field: str
    message: str
    count: int
    samples: list[dict[str, Any]]


@dataclass
class GateResult:
    resource: str
    suite_version: str
    accepted_rows: list[dict[str, Any]]
    rejected: list[RejectedRow]
    findings: list[BatchFinding] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    accepted_row_numbers: list[int] = field(default_factory=list)

    def reasons_by_row(self) -> dict[int, list[RejectedRow]]:
        grouped: dict[int, list[RejectedRow]] = {}
        for rejected in self.rejected:
            grouped.setdefault(rejected.row_number, []).append(rejected)
        return grouped


def _geometry_field(row: Mapping[str, Any], name: str) -> Any:
    # Loaders accept a GeoJSON geometry under the column name or WKT under <name>_wkt; so does the gate.
    value = row.get(name)
    return row.get(f"{name}_wkt") if value is None else value


def _read(value: Any, column_type: Any, upper: bool) -> tuple[Any, str | None]:
    """The value as its column's type, or (None, why not)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(column_type, Geometry):
        return value, None  # the geometry rules read WKT, GeoJSON and WKB themselves
    if isinstance(column_type, Date):
        found = checks.as_date(value)
        return (found, None) if found is not None else (None, f"{value!r} is not a date (YYYY-MM-DD)")
    if isinstance(column_type, Integer | Float | Numeric):
        if isinstance(value, bool):
            return None, f"{value!r} is not a number"
        try:
            number: float = float(str(value).strip())
        except ValueError:
            return None, f"{value!r} is not a number"
        if not math.isfinite(number):
            return None, f"{value!r} is not a finite number"
        if isinstance(column_type, Integer):
            if number != int(number):
                return None, f"{value!r} is not an integer"
            return int(number), None
        return number, None
    if isinstance(column_type, String | Text):
        text = value.strip() if isinstance(value, str) else str(value)
        return (text.upper() if upper else text), None
    return value, None


def typed_frame(suite: Suite, rows: Sequence[Mapping[str, Any]]
                ) -> tuple[Any, list[RejectedRow], list[dict[str, Any]]]:
    """The batch as a DataFrame of typed values (plus `__row`), the type rejections, and the typed rows."""
    import pandas as pd

    from quality.gx_runner import ROW

    problems: list[tuple[int, str, str]] = []
    typed_rows: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        typed: dict[str, Any] = {ROW: number}
        for name in suite.columns:
            column_type = suite.table.c[name].type
            raw = _geometry_field(row, name) if isinstance(column_type, Geometry) else row.get(name)
            typed[name], problem = _read(raw, column_type, name in suite.upper_case)
            if problem is not None:
                problems.append((number, name, problem))
        typed_rows.append(typed)
    rejected = [RejectedRow(number, _key(suite, typed_rows[number - 1]), name, f"{name}.type", f"{name}: {why}")
                for number, name, why in problems]
    frame = pd.DataFrame(typed_rows, columns=[*suite.columns, ROW], dtype=object)
    return frame, rejected, typed_rows


def _key(suite: Suite, row: Mapping[str, Any]) -> str | None:
    parts = [str(row[k]) for k in suite.key if row.get(k) is not None]
    return "/".join(parts) if parts else None


def check_batch(resource: str, rows: Sequence[Mapping[str, Any]], *, context: SuiteContext | None = None,
                engine: Engine | Connection | None = None) -> GateResult:
    """Run `resource`'s suite over a submitted batch (GX, pandas) and split it into accepted and rejected rows.

    `context` defaults to today's local date and the city boundary read through `engine` (default: the
    configured database; pass the caller's Connection when inside a transaction). Raises NotFound for an
    unknown resource and QualityCheckFailed if a rule could not be evaluated — a batch is never let through
    unchecked.
    """
    from quality.gx_runner import validate_frame

    suite = get_suite(resource)
    if context is None:
        from quality.context import suite_context

        context = suite_context(engine or _default_engine())
    frame, rejected, typed_rows = typed_frame(suite, rows)
    outcomes = validate_frame(suite, suite.rules, frame, context, failing_rows=True) if rows else []
    errors = [o for o in outcomes if o.error]
    if errors:
        raise QualityCheckFailed(f"rule {errors[0].rule} could not be evaluated: {errors[0].error}")
    type_failures = {(r.row_number, r.field) for r in rejected}
    findings: list[BatchFinding] = []
    for outcome in outcomes:
        rule = suite.rule(outcome.rule)
        if rule.kind is Kind.series_complete:
            if outcome.unexpected_count:
                findings.append(BatchFinding(rule.name, rule.field, rule.description, outcome.unexpected_count,
                                             outcome.samples))
            continue
        for number in sorted(set(outcome.failing_rows)):
            if rule.kind is Kind.not_null and (number, rule.columns[0]) in type_failures:
                continue  # already rejected as unreadable; "required" would mislead
            typed = typed_rows[number - 1]
            rejected.append(RejectedRow(number, _key(suite, typed), rule.field, rule.name,
                                        explain.problem(rule, typed, context)))
    rejected.sort(key=lambda r: (r.row_number, r.rule))
    bad = {r.row_number for r in rejected}
    accepted_numbers = [n for n in range(1, len(rows) + 1) if n not in bad]
    return GateResult(
        resource=resource, suite_version=suite.version,
        accepted_rows=[dict(rows[n - 1]) for n in accepted_numbers], rejected=rejected, findings=findings,
        outcomes=outcomes, accepted_row_numbers=accepted_numbers,
    )


_engine: Engine | None = None


def _default_engine() -> Engine:
    global _engine
    if _engine is None:
        from cpip.db import make_sync_engine

        _engine = make_sync_engine()
    return _engine
