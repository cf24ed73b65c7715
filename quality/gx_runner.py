"""Run suites with Great Expectations: on a pandas DataFrame, or inside PostgreSQL (imports GX: worker/CLI only).

Both return `Outcome`s. In-database runs ask GX for counts only — GX then bundles every column-map count into
one table scan and fetches no sample rows — together with each expectation's failing-rows query, of which only
the failing expectations' are run, with a LIMIT, for a few failing keys. A clean table costs one scan (plus one
per column-pair and uniqueness expectation), not one per expectation.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import base as postgresql_base
from sqlalchemy.types import UserDefinedType

from quality.gx_suites import build_suite, rule_of
from quality.outcomes import Outcome, plain
from quality.suites import Rule, Suite, SuiteContext

log = logging.getLogger("cpip.quality")

SAMPLE_LIMIT = 20
ROW = "__row"  # the batch row number column the gate adds


class ReflectedGeometry(UserDefinedType[Any]):
    """A PostGIS column as SQLAlchemy reflects it for GX: GX compiles every column's type while describing a
    table, and an unknown `geometry` reflects as NullType, which does not compile."""

    cache_ok = True

    def __init__(self, *args: Any) -> None:
        self.args = args

    def get_col_spec(self, **_kw: Any) -> str:
        return "geometry" + (f"({','.join(str(a) for a in self.args)})" if self.args else "")


def _know_postgis_types() -> None:
    for name in ("geometry", "geography"):
        postgresql_base.ischema_names.setdefault(name, ReflectedGeometry)


def new_context() -> Any:
    """A fresh in-memory GX context per run: no data docs site, no usage statistics, no progress bars on the
    worker's stderr; nothing is written to disk and nothing outlives the run."""
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                               analytics_enabled=False, progress_bars=ProgressBarsConfig(globally=False))
    return gx.get_context(mode="ephemeral", project_config=config)


def _error_of(result: Any) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "error")[:2000]
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "error")[:2000]
    return None


def _outcome(result: Any, rules: dict[str, Rule], key: Sequence[str]) -> Outcome:
    name = rule_of(result)
    rule = rules[name]
    body = result.result or {}
    error = _error_of(result)
    unexpected = body.get("unexpected_count")
    if unexpected is None:
        unexpected = body.get("observed_value") if isinstance(body.get("observed_value"), int) else 0
    samples: list[dict[str, Any]] = []
    wanted = [*key, ROW]
    for item in (body.get("partial_unexpected_index_list") or [])[:SAMPLE_LIMIT]:
        if isinstance(item, dict):
            samples.append({k: plain(v) for k, v in item.items() if k in wanted})
    if not samples:
        for value in (body.get("partial_unexpected_list") or [])[:SAMPLE_LIMIT]:
            samples.append(plain(value) if isinstance(value, dict) else {"value": plain(value)})
    rows = [int(item[ROW]) for item in body.get("unexpected_index_list") or []
            if isinstance(item, dict) and item.get(ROW) is not None]
    return Outcome(
        rule=name, kind=rule.kind.value, columns=rule.columns,
        expectation_type=str(result.expectation_config.type),
        success=None if error else bool(result.success),
        element_count=int(body.get("element_count") or 0), unexpected_count=int(unexpected or 0),
        samples=samples, failing_rows=rows, error=error,
    )


def _skipped(rules: Iterable[Rule]) -> list[Outcome]:
    return [Outcome(rule=r.name, kind=r.kind.value, columns=r.columns, expectation_type="", success=None,
                    note="not evaluated: no city boundary is known (see CPIP_QUALITY_CITY_CODE)")
            for r in rules]


def validate_frame(suite: Suite, rules: Sequence[Rule], frame: pd.DataFrame, context: SuiteContext, *,
                   failing_rows: bool = False) -> list[Outcome]:
    """Validate a DataFrame (a submission batch, or a chunk of a table). With `failing_rows`, every failing
    row's number (column `__row`) is returned too — the gate needs them all, a table run only samples."""
    if not rules:
        return []
    gx_context = new_context()
    built, skipped = build_suite(suite, rules, context)
    if not built.expectations:
        return _skipped(skipped)
    gx_context.suites.add(built)
    batch = gx_context.data_sources.add_pandas("frame").add_dataframe_asset("rows") \
        .add_batch_definition_whole_dataframe("all")
    validation = gx_context.validation_definitions.add(gx.ValidationDefinition(name="run", data=batch, suite=built))
    index_columns = [c for c in (*suite.key, ROW) if c in frame.columns]
    result_format: dict[str, Any] = {
        "result_format": "COMPLETE" if failing_rows else "SUMMARY",
        "partial_unexpected_count": SAMPLE_LIMIT,
        "unexpected_index_column_names": index_columns,
    }
    result = validation.run(batch_parameters={"dataframe": frame}, result_format=result_format)
    by_name = {r.name: r for r in rules}
    return [_outcome(r, by_name, suite.key) for r in result.results] + _skipped(skipped)


def validate_sql(suite: Suite, rules: Sequence[Rule], url: str, context: SuiteContext) -> list[Outcome]:
    """Validate a whole table where it lies (PostgreSQL): expectations become SQL, GX counts in the database.

    GX is asked for counts only (BASIC, no sample rows) and, for each expectation, the query that selects its
    failing rows; only the failing expectations' queries are then run, with a LIMIT, for a few failing keys.
    """
    if not rules:
        return []
    _know_postgis_types()
    gx_context = new_context()
    source = gx_context.data_sources.add_postgres("db", connection_string=url)
    asset = source.add_table_asset(suite.table.name, table_name=suite.table.name)
    batch = asset.add_batch_definition_whole_table("all")
    built, skipped = build_suite(suite, rules, context, name=f"{suite.name}:counts")
    if not built.expectations:
        return _skipped(skipped)
    gx_context.suites.add(built)
    validation = gx_context.validation_definitions.add(
        gx.ValidationDefinition(name="counts", data=batch, suite=built))
    by_name = {r.name: r for r in rules}
    try:
        with warnings.catch_warnings():
            # PostGIS geometry columns reflect as an unknown type; GX never needs their Python type.
            warnings.simplefilter("ignore", category=sa_exc.SAWarning)
            result = validation.run(result_format={
                "result_format": "BASIC", "partial_unexpected_count": 0, "return_unexpected_index_query": True,
                "unexpected_index_column_names": list(suite.key)})
            outcomes: list[Outcome] = []
            unsampled: list[Outcome] = []
            for found in result.results:
                outcome = _outcome(found, by_name, suite.key)
                outcomes.append(outcome)
                if outcome.success is not False or outcome.samples:
                    continue
                query = (found.result or {}).get("unexpected_index_query")
                try:
                    if not isinstance(query, str):
                        raise ValueError("GX gave no failing-rows query")
                    outcome.samples = _failing_keys(source.get_engine(), query, suite.key)
                except (ValueError, sa_exc.DBAPIError) as exc:
                    # GX 1.24 composes a broken query for compound uniqueness; ask GX for the keys instead.
                    log.debug("failing-rows query of %s unusable: %s", outcome.rule, exc)
                    unsampled.append(outcome)
            if unsampled:
                _sample_with_gx(gx_context, suite, [by_name[o.rule] for o in unsampled], context, batch, unsampled)
    finally:
        source.get_engine().dispose()
    return outcomes + _skipped(skipped)


def _sample_with_gx(gx_context: Any, suite: Suite, rules: Sequence[Rule], context: SuiteContext, batch: Any,
                    outcomes: Sequence[Outcome]) -> None:
    """A second GX pass over just these expectations, asking for a few failing keys (SUMMARY)."""
    built, _ = build_suite(suite, rules, context, name=f"{suite.name}:samples")
    gx_context.suites.add(built)
    validation = gx_context.validation_definitions.add(
        gx.ValidationDefinition(name="samples", data=batch, suite=built))
    result = validation.run(result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_LIMIT,
                                           "unexpected_index_column_names": list(suite.key)})
    by_name = {r.name: r for r in rules}
    found = {o.rule: o.samples for o in (_outcome(r, by_name, suite.key) for r in result.results)}
    for outcome in outcomes:
        outcome.samples = found.get(outcome.rule, [])


def _failing_keys(engine: Engine, query: str, key: Sequence[str]) -> list[dict[str, Any]]:
    """The first few rows of GX's own failing-rows query; it selects the key columns first."""
    limited = f"{query.strip().rstrip(';')} LIMIT {SAMPLE_LIMIT}"
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(limited).fetchall()
    return [{name: plain(value) for name, value in zip(key, row[: len(key)], strict=True)} for row in rows]
