"""The expectation suites of the base databases, kept in code: one module per resource, one `Rule` per check.

A rule names what it checks in the platform's own terms (kind, columns, parameters); `quality.gx_suites` turns
it into a GX expectation and `quality.explain` into the sentence a quarantined row carries. Rules are data:
reviewing a suite means reading its module, and a changed rule changes the suite's version.

Parameters that depend on the moment or the place — today's date, the city boundary — are placeholders
(`TODAY`, `THIS_YEAR`, `CITY_BOUNDARY`) filled from a `SuiteContext` when the suite is built for a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import Table


class Kind(StrEnum):
    not_null = "not_null"
    unique = "unique"                      # one column, all rows
    compound_unique = "compound_unique"    # several columns, all rows
    in_set = "in_set"
    gbt2260 = "gbt2260"                    # a GB/T 2260 region code (current ones only, or any ever used)
    between = "between"
    regex = "regex"
    ric_valid = "ric_valid"                # 公民身份号码 GB 11643
    ric_region = "ric_region"
    ric_birth_date = "ric_birth_date"      # columns: id number, birth date
    ric_sex = "ric_sex"                    # columns: id number, sex
    uscc_valid = "uscc_valid"              # 统一社会信用代码 GB 32100
    uscc_region = "uscc_region"
    cn_phone = "cn_phone"                  # a Chinese mobile or landline number
    not_after = "not_after"
    height_floors = "height_floors"        # columns: height, floors above ground
    geometry_valid = "geometry_valid"
    inside_city = "inside_city"
    series_complete = "series_complete"    # columns: *series keys, period label, period start


# Rules that need every row of the table at once (a chunk of rows cannot decide them).
TABLE_KINDS = frozenset({Kind.unique, Kind.compound_unique, Kind.series_complete})

TODAY = "$today"
THIS_YEAR = "$this_year"
CITY_BOUNDARY = "$city_boundary"


@dataclass(frozen=True)
class Rule:
    name: str                  # stable id, e.g. "id_number.checksum"; quarantine reasons carry it
    kind: Kind
    columns: tuple[str, ...]
    description: str
    params: Mapping[str, Any] = field(default_factory=dict)
    on: str | None = None      # the field a failing row is reported against (default: the columns)

    @property
    def field(self) -> str:
        return self.on or ",".join(self.columns)

    @property
    def table_scope(self) -> bool:
        return self.kind in TABLE_KINDS


@dataclass(frozen=True)
class SuiteContext:
    """What a suite's placeholders stand for in one run."""

    today: date
    boundary_wkt: str | None  # None: no city boundary known, inside-city rules are not evaluated


@dataclass(frozen=True)
class Suite:
    resource: str
    table: Table
    key: tuple[str, ...]       # the natural key a failing row is identified by
    rules: tuple[Rule, ...]
    description: str
    upper_case: tuple[str, ...] = ()  # code columns loaders upper-case on the way in (x → X)

    @property
    def name(self) -> str:
        return f"cpip.{self.resource}"

    @property
    def version(self) -> str:
        """A digest of the rules, so a stored run says exactly which rules it ran."""
        text = json.dumps([(r.name, r.kind, r.columns, dict(r.params)) for r in self.rules], sort_keys=True,
                          default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def columns(self) -> tuple[str, ...]:
        seen: dict[str, None] = dict.fromkeys(self.key)
        for rule in self.rules:
            seen.update(dict.fromkeys(rule.columns))
        return tuple(seen)

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


def resolve(value: Any, context: SuiteContext) -> Any:
    if value == TODAY:
        return context.today.isoformat()
    if value == THIS_YEAR:
        return context.today.year
    if value == CITY_BOUNDARY:
        return context.boundary_wkt
    return value


def resolved_params(rule: Rule, context: SuiteContext) -> dict[str, Any]:
    return {k: resolve(v, context) for k, v in rule.params.items()}


def not_null(*columns: str) -> tuple[Rule, ...]:
    return tuple(Rule(f"{c}.required", Kind.not_null, (c,), f"{c} is present") for c in columns)


def suites() -> dict[str, Suite]:
    """Every base resource's suite, by resource name (the keys of basebases.models.BASE_MODELS)."""
    from quality.suites import buildings, economy, legal_entities, population, spatial

    found = {}
    for module in (population, legal_entities, buildings, spatial, economy):
        for suite in module.SUITES:
            found[suite.resource] = suite
    return found


def get_suite(resource: str) -> Suite:
    from cpip.errors import NotFound

    found = suites().get(resource)
    if found is None:
        raise NotFound(f"no quality suite for resource {resource!r}; known: {', '.join(sorted(suites()))}",
                       field="resource")
    return found
