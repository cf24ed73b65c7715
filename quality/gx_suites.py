"""Turn the rules of `quality.suites` into GX expectation suites (imports GX: worker and CLI only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import great_expectations as gx
from great_expectations.expectations.core.expect_column_values_to_be_between import ExpectColumnValuesToBeBetween
from great_expectations.expectations.core.expect_column_values_to_be_in_set import ExpectColumnValuesToBeInSet
from great_expectations.expectations.core.expect_column_values_to_be_unique import ExpectColumnValuesToBeUnique
from great_expectations.expectations.core.expect_column_values_to_match_regex import ExpectColumnValuesToMatchRegex
from great_expectations.expectations.core.expect_column_values_to_not_be_null import ExpectColumnValuesToNotBeNull
from great_expectations.expectations.core.expect_compound_columns_to_be_unique import (
    ExpectCompoundColumnsToBeUnique,
)
from great_expectations.expectations.expectation import Expectation

from quality import gx_expectations as custom
from quality.suites import Kind, Rule, Suite, SuiteContext, resolved_params


def expectation_for(rule: Rule, context: SuiteContext) -> Expectation | None:
    """The GX expectation that checks `rule`; None when the run lacks what it needs (no city boundary)."""
    p = resolved_params(rule, context)
    c = rule.columns
    meta = {"rule": rule.name}
    if rule.kind is Kind.inside_city and not p.get("boundary_wkt"):
        return None
    made: Expectation
    match rule.kind:
        case Kind.not_null:
            made = ExpectColumnValuesToNotBeNull(column=c[0], meta=meta)
        case Kind.unique:
            made = ExpectColumnValuesToBeUnique(column=c[0], meta=meta)
        case Kind.compound_unique:
            made = ExpectCompoundColumnsToBeUnique(column_list=list(c), meta=meta)
        case Kind.in_set:
            made = ExpectColumnValuesToBeInSet(column=c[0], value_set=list(p["values"]), meta=meta)
        case Kind.gbt2260:
            made = custom.ExpectColumnValuesToBeGbt2260Codes(column=c[0], current_only=bool(p["current_only"]),
                                                             meta=meta)
        case Kind.between:
            made = ExpectColumnValuesToBeBetween(column=c[0], min_value=p.get("min"), max_value=p.get("max"),
                                                   meta=meta)
        case Kind.regex:
            made = ExpectColumnValuesToMatchRegex(column=c[0], regex=p["regex"], meta=meta)
        case Kind.ric_valid:
            made = custom.ExpectColumnValuesToBeValidCnRic(column=c[0], meta=meta)
        case Kind.ric_region:
            made = custom.ExpectColumnValuesToHaveCnRicRegionInUse(column=c[0], meta=meta)
        case Kind.ric_birth_date:
            made = custom.ExpectColumnPairCnRicToMatchBirthDate(column_A=c[0], column_B=c[1], meta=meta)
        case Kind.ric_sex:
            made = custom.ExpectColumnPairCnRicToMatchSex(column_A=c[0], column_B=c[1], meta=meta)
        case Kind.uscc_valid:
            made = custom.ExpectColumnValuesToBeValidCnUscc(column=c[0], meta=meta)
        case Kind.uscc_region:
            made = custom.ExpectColumnValuesToHaveCnUsccRegion(column=c[0], meta=meta)
        case Kind.cn_phone:
            made = custom.ExpectColumnValuesToBeCnPhoneNumbers(column=c[0], meta=meta)
        case Kind.not_after:
            made = custom.ExpectColumnValuesToBeDatesNotAfter(column=c[0], latest=p["latest"], meta=meta)
        case Kind.height_floors:
            made = custom.ExpectColumnPairHeightToFitFloors(column_A=c[0], column_B=c[1],
                                                            min_storey_m=float(p["min_storey_m"]), meta=meta)
        case Kind.geometry_valid:
            made = custom.ExpectColumnValuesToBeValidGeometries(column=c[0], meta=meta)
        case Kind.inside_city:
            made = custom.ExpectColumnValuesToBeInsideBoundary(column=c[0], boundary_wkt=p["boundary_wkt"],
                                                               meta=meta)
        case Kind.series_complete:
            made = custom.ExpectSeriesToHaveNoMissingPeriods(series_keys=list(c[:-2]), label_column=c[-2],
                                                             start_column=c[-1], meta=meta)
    return made


def build_suite(suite: Suite, rules: Iterable[Rule], context: SuiteContext,
                name: str | None = None) -> tuple[gx.ExpectationSuite, list[Rule]]:
    """A GX suite of `rules`, and the rules left out because the run cannot evaluate them."""
    built = gx.ExpectationSuite(name=name or f"{suite.name}@{suite.version}",
                                meta={"resource": suite.resource, "version": suite.version})
    skipped: list[Rule] = []
    for rule in rules:
        expectation = expectation_for(rule, context)
        if expectation is None:
            skipped.append(rule)
        else:
            built.add_expectation(expectation)
    return built, skipped


def rule_of(result: Any) -> str:
    meta = result.expectation_config.meta or {}
    return str(meta.get("rule", ""))
