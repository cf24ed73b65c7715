"""宏观经济 (indicators and observations): complete series, no duplicate observations."""

from __future__ import annotations

from basebases import codes
from basebases.models import EconomyIndicator, EconomyObservation, table_of
from quality.suites import TODAY, Kind, Rule, Suite, not_null

ECONOMY_INDICATORS = Suite(
    resource="economy_indicators",
    table=table_of(EconomyIndicator),
    key=("code",),
    description="宏观经济指标定义: codes unique, frequency and aggregation known",
    rules=(
        *not_null("code", "name", "unit", "frequency"),
        Rule("code.unique", Kind.unique, ("code",), "one definition per indicator code"),
        Rule("frequency.code", Kind.in_set, ("frequency",), "frequency is month, quarter or year",
             {"values": sorted(codes.FREQUENCY.labels)}),
        Rule("aggregation.code", Kind.in_set, ("aggregation",), "aggregation is sum, mean or last",
             {"values": sorted(codes.AGGREGATION.labels)}),
    ),
)

ECONOMY_OBSERVATIONS = Suite(
    resource="economy_observations",
    table=table_of(EconomyObservation),
    key=("indicator_code", "region_code", "period"),
    description="宏观经济指标数据: one observation per series and period, no missing periods",
    rules=(
        *not_null("indicator_code", "region_code", "period", "period_start"),
        Rule("period.unique_in_series", Kind.compound_unique, ("indicator_code", "region_code", "period_start"),
             "one observation per indicator, region and period", on="period"),
        Rule("series.complete", Kind.series_complete, ("indicator_code", "region_code", "period", "period_start"),
             "no missing period between a series' first and last observation", on="period"),
        Rule("period_start.not_future", Kind.not_after, ("period_start",), "the period has begun",
             {"latest": TODAY}),
        Rule("region_code.gbt2260", Kind.gbt2260, ("region_code",), "region_code is a GB/T 2260 code",
             {"current_only": False}),
    ),
)

SUITES = (ECONOMY_INDICATORS, ECONOMY_OBSERVATIONS)
