# GX's metric decorators carry no types; every provider below is annotated by hand.
# mypy: disable-error-code="untyped-decorator"
"""CPIP's custom Great Expectations: national codes, consistency, geometry and series completeness.

Each is a GX metric provider with two implementations — pandas (the rules of `quality.checks`, through
python-stdnum and shapely) and SQLAlchemy (the same rules as PostgreSQL expressions from `quality.sql`) — and an
expectation class that GX registers by name when this module is imported. Importing this module imports GX:
only worker and CLI processes may do so (see `quality/__init__.py`).
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

import pandas as pd
import sqlalchemy as sa
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation import (
    BatchExpectation,
    ColumnMapExpectation,
    ColumnPairMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider.column_condition_partial import (
    column_condition_partial,
)
from great_expectations.expectations.metrics.map_metric_provider.column_map_metric_provider import (
    ColumnMapMetricProvider,
)
from great_expectations.expectations.metrics.map_metric_provider.column_pair_condition_partial import (
    column_pair_condition_partial,
)
from great_expectations.expectations.metrics.map_metric_provider.column_pair_map_metric_provider import (
    ColumnPairMapMetricProvider,
)
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider

from basebases.economy import Period
from basebases.geometry import STORAGE_SRID
from basebases.models import Gbt2260Region, table_of
from quality import checks, sql

SAMPLE_LIMIT = 20
_REGIONS = table_of(Gbt2260Region)


def _pandas_map(column: pd.Series, fn: Any, *args: Any) -> pd.Series:
    return column.map(lambda v: fn(v, *args)).astype(bool)


def _pandas_pair(a: pd.Series, b: pd.Series, fn: Any, *args: Any) -> pd.Series:
    return pd.Series([fn(x, y, *args) for x, y in zip(a, b, strict=True)], index=a.index, dtype=bool)


def _none(value: Any) -> Any:
    # pandas hands missing values over as NaN/NaT/NA; the rules expect None.
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):  # lists, dicts, geometries: never "missing"
        return value


# --- 公民身份号码 -----------------------------------------------------------------------------------------


class ColumnValuesCnRicValid(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cpip_cn_ric_valid"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **_kw: Any) -> pd.Series:
        return _pandas_map(column, checks.ric_valid)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: Any, **_kw: Any) -> Any:
        return sql.ric_valid(column)


class ExpectColumnValuesToBeValidCnRic(ColumnMapExpectation):
    """Each value is a valid 公民身份号码 (GB 11643): shape, check character, calendar birth date."""

    map_metric = "column_values.cpip_cn_ric_valid"
    success_keys = ("mostly",)


class ColumnValuesCnRicRegion(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cpip_cn_ric_region"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **_kw: Any) -> pd.Series:
        return _pandas_map(column, checks.ric_region_ok)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: Any, **_kw: Any) -> Any:
        return sql.ric_region_ok(column, _REGIONS)


class ExpectColumnValuesToHaveCnRicRegionInUse(ColumnMapExpectation):
    """An ID number's first six digits are a GB/T 2260 code in use in the birth year it holds."""

    map_metric = "column_values.cpip_cn_ric_region"
    success_keys = ("mostly",)


class ColumnPairCnRicBirthDate(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.cpip_cn_ric_birth_date"
    condition_domain_keys = ("batch_id", "table", "column_A", "column_B", "row_condition", "condition_parser",
                             "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **_kw: Any) -> pd.Series:
        return _pandas_pair(column_A, column_B, checks.ric_birth_date_ok)

    @column_pair_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column_A: Any, column_B: Any, **_kw: Any) -> Any:
        return sql.ric_birth_date_ok(column_A, column_B)


class ExpectColumnPairCnRicToMatchBirthDate(ColumnPairMapExpectation):
    """The birth date an ID number (column_A) holds equals the birth date column (column_B)."""

    map_metric = "column_pair_values.cpip_cn_ric_birth_date"
    ignore_row_if: str = "either_value_is_missing"
    success_keys = ("ignore_row_if", "mostly")


class ColumnPairCnRicSex(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.cpip_cn_ric_sex"
    condition_domain_keys = ("batch_id", "table", "column_A", "column_B", "row_condition", "condition_parser",
                             "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **_kw: Any) -> pd.Series:
        return _pandas_pair(column_A, column_B, checks.ric_sex_ok)

    @column_pair_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column_A: Any, column_B: Any, **_kw: Any) -> Any:
        return sql.ric_sex_ok(column_A, column_B)


class ExpectColumnPairCnRicToMatchSex(ColumnPairMapExpectation):
    """The sex an ID number's sequence digit implies (odd 1 男, even 2 女) equals the sex column."""

    map_metric = "column_pair_values.cpip_cn_ric_sex"
    ignore_row_if: str = "either_value_is_missing"
    success_keys = ("ignore_row_if", "mostly")


class ColumnValuesGbt2260(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cpip_gbt2260"
    condition_value_keys = ("current_only",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, current_only: bool, **_kw: Any) -> pd.Series:
        return _pandas_map(column, checks.region_ok, current_only)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: Any, current_only: bool, **_kw: Any) -> Any:
        return sql.region_ok(column, _REGIONS, current_only)


class ExpectColumnValuesToBeGbt2260Codes(ColumnMapExpectation):
    """Each value is a GB/T 2260 region code — in use today when `current_only`, else one ever used. The code
    list is the seeded `gbt2260_regions` table (in SQL) and the same CSV (in pandas), not a parameter."""

    current_only: bool = True
    map_metric = "column_values.cpip_gbt2260"
    success_keys = ("current_only", "mostly")


# --- 统一社会信用代码 -------------------------------------------------------------------------------------


class ColumnValuesCnUsccValid(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cpip_cn_uscc_valid"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **_kw: Any) -> pd.Series:
        return _pandas_map(column, checks.uscc_valid)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: Any, **_kw: Any) -> Any:
        return sql.uscc_valid(column)


class ExpectColumnValuesToBeValidCnUscc(ColumnMapExpectation):
    """Each value is a valid 统一社会信用代码 (GB 32100): shape and check character."""

    map_metric = "column_values.cpip_cn_uscc_valid"
    success_keys = ("mostly",)


class ColumnValuesCnUsccRegion(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cpip_cn_uscc_region"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **_kw: Any) -> pd.Series:
        return _pandas_map(column, checks.uscc_region_ok)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: Any, **_kw: Any) -> Any:
        return sql.uscc_region_ok(column, _REGIONS)


class ExpectColumnValuesToHaveCnUsccRegion(ColumnMapExpectation):
    """A USCC's characters 3–8 are a GB/T 2260 region code."""

    map_metric = "column_values.cpip_cn_uscc_region"
    success_keys = ("mostly",)


class ColumnValuesCnPhone(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cpip_cn_phone"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **_kw: Any) -> pd.Series:
        return _pandas_map(column, checks.cn_phone_ok)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: Any, **_kw: Any) -> Any:
        return sql.cn_phone_ok(column)


class ExpectColumnValuesToBeCnPhoneNumbers(ColumnMapExpectation):
    """Each value is a Chinese mobile (1[3-9] and 9 digits) or landline (0, area code, number, extension)."""

    map_metric = "column_values.cpip_cn_phone"
    success_keys = ("mostly",)


# --- dates, numbers ----------------------------------------------------------------------------------------


class ColumnValuesNotAfter(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cpip_not_after"
    condition_value_keys = ("latest",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, latest: str, **_kw: Any) -> pd.Series:
        return _pandas_map(column, checks.not_after_ok, date.fromisoformat(latest))

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: Any, latest: str, **_kw: Any) -> Any:
        return sql.not_after(column, date.fromisoformat(latest))


class ExpectColumnValuesToBeDatesNotAfter(ColumnMapExpectation):
    """Each value is a date no later than `latest` (an ISO date: "today" when the suite was built)."""

    latest: str
    map_metric = "column_values.cpip_not_after"
    success_keys = ("latest", "mostly")


class ColumnPairHeightFloors(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.cpip_height_floors"
    condition_domain_keys = ("batch_id", "table", "column_A", "column_B", "row_condition", "condition_parser",
                             "ignore_row_if")
    condition_value_keys = ("min_storey_m",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, min_storey_m: float, **_kw: Any) -> pd.Series:
        return _pandas_pair(column_A, column_B, checks.height_floors_ok, min_storey_m)

    @column_pair_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column_A: Any, column_B: Any, min_storey_m: float, **_kw: Any) -> Any:
        return sql.height_floors_ok(column_A, column_B, min_storey_m)


class ExpectColumnPairHeightToFitFloors(ColumnPairMapExpectation):
    """A building's height (column_A, m) is at least `min_storey_m` × its floors above ground (column_B)."""

    min_storey_m: float = 2.0
    map_metric = "column_pair_values.cpip_height_floors"
    ignore_row_if: str = "either_value_is_missing"
    success_keys = ("min_storey_m", "ignore_row_if", "mostly")


# --- geometry ------------------------------------------------------------------------------------------------


class ColumnValuesGeometryValid(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cpip_geometry_valid"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **_kw: Any) -> pd.Series:
        return _pandas_map(column, checks.geometry_ok)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: Any, **_kw: Any) -> Any:
        return sql.geometry_ok(column)


class ExpectColumnValuesToBeValidGeometries(ColumnMapExpectation):
    """Each value is a readable, non-empty, OGC-valid geometry."""

    map_metric = "column_values.cpip_geometry_valid"
    success_keys = ("mostly",)


class ColumnValuesInside(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cpip_inside"
    condition_value_keys = ("boundary_wkt",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, boundary_wkt: str, **_kw: Any) -> pd.Series:
        return _pandas_map(column, checks.inside_ok, boundary_wkt)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: Any, boundary_wkt: str, **_kw: Any) -> Any:
        return sql.inside(column, boundary_wkt, STORAGE_SRID)


class ExpectColumnValuesToBeInsideBoundary(ColumnMapExpectation):
    """Each valid geometry lies inside `boundary_wkt` (EPSG:4490), touching allowed."""

    boundary_wkt: str
    map_metric = "column_values.cpip_inside"
    success_keys = ("boundary_wkt", "mostly")


# --- series completeness ------------------------------------------------------------------------------------


def _gaps_result(gaps: list[tuple[tuple[Any, ...], str]], present: int) -> dict[str, Any]:
    return {
        "missing": len(gaps),
        "expected": present + len(gaps),
        "sample": [{"series": list(key), "period": label} for key, label in gaps[:SAMPLE_LIMIT]],
    }


class TableSeriesGaps(TableMetricProvider):
    metric_name = "table.cpip_series_gaps"
    value_keys = ("series_keys", "label_column", "start_column")

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine: PandasExecutionEngine, metric_domain_kwargs: dict[str, Any],
                metric_value_kwargs: dict[str, Any], metrics: dict[str, Any],
                runtime_configuration: dict[str, Any]) -> dict[str, Any]:
        df, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
        keys = list(metric_value_kwargs["series_keys"])
        label, start = metric_value_kwargs["label_column"], metric_value_kwargs["start_column"]
        rows = [tuple(_none(v) for v in row)
                for row in df[[*keys, label, start]].itertuples(index=False, name=None)]
        gaps = checks.series_gaps(rows)
        present = {(tuple(r[:-2]), checks.period_of(r[-2], r[-1])) for r in rows
                   if all(k is not None for k in r[:-2]) and checks.period_of(r[-2], r[-1]) is not None}
        return _gaps_result(gaps, len(present))

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, execution_engine: SqlAlchemyExecutionEngine, metric_domain_kwargs: dict[str, Any],
                    metric_value_kwargs: dict[str, Any], metrics: dict[str, Any],
                    runtime_configuration: dict[str, Any]) -> dict[str, Any]:
        selectable, _, _ = execution_engine.get_compute_domain(
            metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
        keys = tuple(metric_value_kwargs["series_keys"])
        label, start = metric_value_kwargs["label_column"], metric_value_kwargs["start_column"]
        batch = selectable.subquery() if isinstance(selectable, sa.Select) else selectable
        compiled = str(sa.select(sa.text("*")).select_from(batch).compile(
            dialect=execution_engine.engine.dialect, compile_kwargs={"literal_binds": True}))
        batch_sql = f"({compiled})"
        rows = execution_engine.execute_query(sa.text(sql.series_gaps_query(batch_sql, keys, label, start)))
        gaps = [(tuple(row[:-2]), _period_label(row[-2], row[-1])) for row in rows.fetchall()]
        present = execution_engine.execute_query(
            sa.text(sql.series_expected_query(batch_sql, keys, label, start))).scalar()
        return _gaps_result(gaps, int(present or 0))


def _period_label(frequency: str, start: date) -> str:
    index = {"year": 1, "quarter": (start.month - 1) // 3 + 1, "month": start.month}[frequency]
    return Period(start.year, frequency, index).label


class ExpectSeriesToHaveNoMissingPeriods(BatchExpectation):
    """Every series (rows sharing `series_keys`) has an observation for each period between its first and last."""

    series_keys: list[str]
    label_column: str
    start_column: str
    metric_dependencies: ClassVar[tuple[str, ...]] = ("table.cpip_series_gaps",)
    domain_keys: ClassVar[tuple[str, ...]] = ("batch_id", "row_condition", "condition_parser")
    success_keys = ("series_keys", "label_column", "start_column")

    def _validate(self, metrics: dict[str, Any], runtime_configuration: dict[str, Any] | None = None,
                  execution_engine: Any = None) -> dict[str, Any]:
        found: dict[str, Any] = metrics["table.cpip_series_gaps"]
        missing = int(found["missing"])
        return {
            "success": missing == 0,
            "result": {
                "observed_value": missing,
                "element_count": int(found["expected"]),
                "unexpected_count": missing,
                "partial_unexpected_list": found["sample"],
            },
        }
