"""Indicator reports: compute a set for a period (and department) with a cut-off, store closed periods with
their inputs' fingerprint, and explain any value down to the records behind it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalogue.models import Department
from cpip.clock import utcnow
from cpip.errors import NotFound, ValidationFailed
from cpip.settings import Settings
from exchange.indicators.calls import AnySelect
from exchange.indicators.compute import Evaluator, Found, Scope
from exchange.indicators.counts import COUNTS
from exchange.indicators.definitions import Loaded, get_set
from exchange.indicators.engine import json_value, score_tree
from exchange.indicators.models import StoredResult
from exchange.indicators.periods import Period, parse_cutoff, parse_period
from security.audit.models import AuditEvent

DEFAULT_SET = "cpip-platform"
MAX_PAGE = 1000


class IndicatorNotFound(NotFound):
    slug, title = "indicator-not-found", "No such indicator in this set"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _check_department(session: Session, department: str | None) -> None:
    if department is not None and session.get(Department, department) is None:
        raise ValidationFailed(f"no registered department {department!r}",
                               errors=[{"field": "query.department", "rule": "unknown_department",
                                        "message": f"{department!r} is not in the department register"}])


def _evaluator(session: Session, settings: Settings, period: Period, cutoff: datetime, department: str | None,
               use_rollups: bool) -> Evaluator:
    scope = Scope(period.start, cutoff, department, use_rollups, period.code)
    return Evaluator(session, scope, settings)


def compute(session: Session, settings: Settings, *, period: str, set_name: str = DEFAULT_SET,
            department: str | None = None, cutoff: str | None = None, use_rollups: bool = True) -> dict[str, Any]:
    """The report of one set for one period, freshly computed (nothing stored)."""
    loaded = get_set(set_name)
    parsed = parse_period(period)
    upto = parse_cutoff(cutoff, parsed)
    _check_department(session, department)
    evaluator = _evaluator(session, settings, parsed, upto, department, use_rollups)
    scored = score_tree(loaded.definitions, evaluator)
    names = sorted({n for i in loaded.definitions.indicators for n in (i.numerator, i.denominator) if n}
                   | {m.count for m in loaded.definitions.measures})
    counts = {n: json_value(evaluator.get(n).value) for n in names}
    manual = {n: evaluator.get(n).detail for n in names if COUNTS[n].source == "manual"}
    d = loaded.definitions
    report: dict[str, Any] = {
        "set": d.set, "version": d.version, "title_zh": d.title.zh, "title_en": d.title.en,
        "official": d.official, "notice": d.notice, "method": d.method, "definitions_digest": loaded.digest,
        "period": parsed.code, "start": parsed.start.isoformat(), "end": parsed.end.isoformat(),
        "cutoff": upto.isoformat(), "department": department, "closed": upto <= utcnow(),
        "total": scored[0].score.__str__(),
        "indicators": [s.as_json() for s in scored],
        "measures": [{"code": m.code, "name_zh": m.name.zh, "name_en": m.name.en, "count": m.count,
                      "value": counts[m.count], "unit": m.unit, "verified": m.verified, "source": m.source,
                      "frameworks": m.frameworks} for m in d.measures],
        "counts": counts, "manual_inputs": manual,
    }
    report["fingerprint"] = hashlib.sha256(_canonical(
        {"digest": loaded.digest, "period": parsed.code, "department": department, "cutoff": report["cutoff"],
         "counts": counts, "manual": manual})).hexdigest()
    return report


def report(session: Session, settings: Settings, *, period: str, set_name: str = DEFAULT_SET,
           department: str | None = None, cutoff: str | None = None, actor: str = "system",
           use_rollups: bool = True) -> dict[str, Any]:
    """Compute; for a closed period, the first result is stored and later ones are checked against it: the
    stored numbers are returned, with whether the recomputation matched them."""
    fresh = compute(session, settings, period=period, set_name=set_name, department=department, cutoff=cutoff,
                    use_rollups=use_rollups)
    if not fresh["closed"]:
        return {**fresh, "stored": None}
    key = (fresh["set"], fresh["version"], fresh["period"], department or "", datetime.fromisoformat(fresh["cutoff"]))
    stored = _stored(session, key)
    if stored is None:
        row = StoredResult(definition_set=key[0], definition_version=key[1], period=key[2], department=key[3],
                           cutoff=key[4], definitions_digest=fresh["definitions_digest"],
                           fingerprint=fresh["fingerprint"], computed_at=utcnow(), computed_by=actor, report=fresh)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # stored concurrently by another request: compare with theirs
            stored = _stored(session, key)
        else:
            return {**fresh, "stored": {"id": row.id, "computed_at": row.computed_at.isoformat(),
                                        "computed_by": actor, "consistent": True}}
    assert stored is not None
    return {**stored.report, "stored": {
        "id": stored.id, "computed_at": stored.computed_at.isoformat(), "computed_by": stored.computed_by,
        "consistent": stored.fingerprint == fresh["fingerprint"], "recomputed_fingerprint": fresh["fingerprint"],
        "recomputed_total": fresh["total"]}}


def _stored(session: Session, key: tuple[str, str, str, str, datetime]) -> StoredResult | None:
    return session.scalars(select(StoredResult).where(
        StoredResult.definition_set == key[0], StoredResult.definition_version == key[1],
        StoredResult.period == key[2], StoredResult.department == key[3], StoredResult.cutoff == key[4])).first()


# ------------------------------------------------------------------------------------------------ explain


def sql_text(session: Session, query: AnySelect) -> dict[str, Any]:
    dialect = session.get_bind().dialect
    try:
        return {"sql": str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})), "params": {}}
    except Exception:
        compiled = query.compile(dialect=dialect)
        return {"sql": str(compiled), "params": {k: str(v) for k, v in compiled.params.items()}}


def _page(session: Session, found: Found, after: str | None, limit: int) -> dict[str, Any]:
    if found.records is not None:
        start = int(after) if after and after.isdigit() else 0
        items: list[Any] = found.records[start:start + limit]
        more = start + limit < len(found.records)
        return {"items": items, "next": str(start + limit) if more else None, "total": len(found.records)}
    assert found.query is not None
    query = found.query
    if found.record_kind == "audit_event":
        # Keyset paging: the log may hold millions of rows behind one value.
        if after:
            query = query.where(AuditEvent.id > int(after))
        rows = [r[0] for r in session.execute(query.limit(limit + 1))]
        more = len(rows) > limit
        rows = rows[:limit]
        return {"items": rows, "next": str(rows[-1]) if more else None, "total": json_value(found.value)}
    start = int(after) if after and after.isdigit() else 0
    rows = [r[0] if len(r) == 1 else list(r) for r in session.execute(query.offset(start).limit(limit + 1))]
    more = len(rows) > limit
    return {"items": rows[:limit], "next": str(start + limit) if more else None, "total": json_value(found.value)}


def explain_count(evaluator: Evaluator, session: Session, name: str, after: str | None, limit: int) -> dict[str, Any]:
    spec = COUNTS[name]
    found = evaluator.get(name)
    out: dict[str, Any] = {"count": name, "value": json_value(found.value), "source": spec.source,
                           "description": spec.description, "department_scope": spec.department_scope,
                           "record_kind": found.record_kind, "detail": found.detail}
    if found.query is not None:
        out["query"] = sql_text(session, found.query)
        if found.records is not None:
            out["query_note"] = "the query selects the candidate records; the rule above picks `records` from them"
    out["records"] = _page(session, found, after, limit)
    return out


def explain(session: Session, settings: Settings, *, period: str, indicator: str, set_name: str = DEFAULT_SET,
            department: str | None = None, cutoff: str | None = None, after: str | None = None,
            limit: int = 100, part: str | None = None) -> dict[str, Any]:
    """One indicator (or measure) of a set: its value, numerator and denominator with their query and records."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be 1..{MAX_PAGE}",
                               errors=[{"field": "query.limit", "rule": "range", "message": f"1..{MAX_PAGE}"}])
    loaded: Loaded = get_set(set_name)
    parsed = parse_period(period)
    upto = parse_cutoff(cutoff, parsed)
    _check_department(session, department)
    evaluator = _evaluator(session, settings, parsed, upto, department, True)
    d = loaded.definitions
    base = {"set": d.set, "version": d.version, "official": d.official, "period": parsed.code,
            "cutoff": upto.isoformat(), "department": department}
    measure = next((m for m in d.measures if m.code == indicator), None)
    if measure is not None:
        return {**base, "indicator": indicator, "name_zh": measure.name.zh, "name_en": measure.name.en,
                "measure": explain_count(evaluator, session, measure.count, after, limit)}
    ind = next((i for i in d.indicators if i.code == indicator), None)
    if ind is None:
        raise IndicatorNotFound(f"set {d.set} has no indicator {indicator!r}",
                                errors=[{"field": "path.code", "rule": "unknown_indicator",
                                         "message": f"codes: {', '.join(i.code for i in d.indicators)}"}])
    scored = {s.indicator.code: s for s in score_tree(d, evaluator)}[indicator]
    out = {**base, **scored.as_json()}
    if ind.is_leaf:
        assert ind.numerator is not None
        assert ind.denominator is not None
        parts = {"numerator": ind.numerator, "denominator": ind.denominator}
        if part is not None and part not in parts:
            raise ValidationFailed("part is numerator or denominator",
                                   errors=[{"field": "query.part", "rule": "enum", "message": "numerator|denominator"}])
        for key, name in parts.items():
            if part is None or part == key:
                out[key] = explain_count(evaluator, session, name, after, limit)
    else:
        out["children"] = [c.code for c in d.children(ind.code)]
    return out
