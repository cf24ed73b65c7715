"""The sentence a failing row carries: which value broke which rule, and why (no GX; used by the gate)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from quality import checks
from quality.suites import Kind, Rule, SuiteContext, resolved_params


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def problem(rule: Rule, row: Mapping[str, Any], context: SuiteContext) -> str:
    """Why `row` fails `rule` (GX decided that it does; this says why in words)."""
    p = resolved_params(rule, context)
    c = rule.columns
    value = row.get(c[0])
    match rule.kind:
        case Kind.not_null:
            return f"{c[0]} is required"
        case Kind.in_set:
            allowed = list(p["values"])
            shown = ", ".join(allowed) if len(allowed) <= 12 else f"{len(allowed)} codes"
            return f"{c[0]} {_show(value)} is not one of {shown}"
        case Kind.gbt2260:
            return f"{c[0]}: {checks.region_problem(value, bool(p['current_only'])) or 'unknown region'}"
        case Kind.between:
            return f"{c[0]} {_show(value)} is outside {p.get('min', '−∞')}–{p.get('max', '∞')}"
        case Kind.regex:
            return f"{c[0]} {_show(value)} is not valid: {rule.description}"
        case Kind.ric_valid:
            return f"{c[0]}: {checks.ric_problem(value) or 'not a valid 公民身份号码'}"
        case Kind.ric_region:
            return f"{c[0]}: {checks.ric_region_problem(value) or 'region not in use'}"
        case Kind.ric_birth_date:
            return checks.ric_birth_date_problem(value, row.get(c[1])) or f"{c[1]} contradicts {c[0]}"
        case Kind.ric_sex:
            return checks.ric_sex_problem(value, row.get(c[1])) or f"{c[1]} contradicts {c[0]}"
        case Kind.uscc_valid:
            return f"{c[0]}: {checks.uscc_problem(value) or 'not a valid 统一社会信用代码'}"
        case Kind.uscc_region:
            return f"{c[0]}: {checks.uscc_region_problem(value) or 'region part unknown'}"
        case Kind.cn_phone:
            return f"{c[0]} {_show(value)}: {checks.cn_phone_problem(value)}"
        case Kind.not_after:
            latest = date.fromisoformat(p["latest"])
            return f"{c[0]} {checks.not_after_problem(value, latest) or 'is in the future'}"
        case Kind.height_floors:
            return (checks.height_floors_problem(value, row.get(c[1]), float(p["min_storey_m"]))
                    or f"{c[0]} does not fit {c[1]}")
        case Kind.geometry_valid:
            return f"{c[0]}: {checks.geometry_problem(value) or 'invalid geometry'}"
        case Kind.inside_city:
            return f"{c[0]}: {checks.inside_problem(value, p['boundary_wkt']) or 'outside the city'}"
        case Kind.unique | Kind.compound_unique:
            key = ", ".join(f"{col}={_show(row.get(col))}" for col in c)
            return f"{key} occurs more than once in this batch"
        case Kind.series_complete:
            return rule.description
    return rule.description
