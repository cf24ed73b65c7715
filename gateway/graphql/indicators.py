"""GraphQL fields of the 数据资源开放共享 indicators (evaluator role: indicators:read). Rules: exchange.indicators."""

from __future__ import annotations

from typing import Any, cast

import strawberry
from sqlalchemy.orm import Session
from strawberry.scalars import JSON

from cpip.db import async_transaction
from cpip.errors import ProblemError
from exchange.auditing import record_step
from exchange.indicators import service
from gateway.graphql.context import Context
from gateway.graphql.permissions import needs
from gateway.graphql.problems import graphql_error
from security.permissions import Permission

Info = strawberry.Info[Context, None]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@strawberry.type(description="One indicator's value in a report")
class IndicatorValue:
    code: str
    name_zh: str
    name_en: str
    parent: str | None
    depth: int
    weight: str
    numerator_count: str | None = strawberry.field(description="Named count of the numerator (leaves only)")
    numerator: str | None
    denominator_count: str | None
    denominator: str | None
    ratio: str | None
    score: str = strawberry.field(description="weight × ratio × 100 (leaf) or the sum/weighted sum, 2 decimals")
    max_score: str
    status: str
    verified: bool = strawberry.field(description="Whether the formula is verified against an official text")
    source: str


@strawberry.type(description="An unscored measure (calls, latency, downloads…)")
class IndicatorMeasure:
    code: str
    name_zh: str
    name_en: str
    count: str
    value: str | None
    unit: str


@strawberry.type(description="Indicator values of one set for one period")
class IndicatorReport:
    set: str
    version: str
    official: bool
    notice: str | None
    period: str
    cutoff: str
    department: str | None
    total: str
    fingerprint: str
    indicators: list[IndicatorValue]
    measures: list[IndicatorMeasure]
    stored: JSON | None = strawberry.field(description="The stored result of a closed period and whether the "
                                                       "recomputation matched it")


def _report(data: dict[str, Any]) -> IndicatorReport:
    values = [IndicatorValue(
        code=i["code"], name_zh=i["name_zh"], name_en=i["name_en"], parent=i["parent"], depth=i["depth"],
        weight=i["weight"], numerator_count=(i["numerator"] or {}).get("count"),
        numerator=_text((i["numerator"] or {}).get("value")), denominator_count=(i["denominator"] or {}).get("count"),
        denominator=_text((i["denominator"] or {}).get("value")), ratio=i["ratio"], score=i["score"],
        max_score=i["max_score"], status=i["status"], verified=i["verified"], source=i["source"])
        for i in data["indicators"]]
    measures = [IndicatorMeasure(code=m["code"], name_zh=m["name_zh"], name_en=m["name_en"], count=m["count"],
                                 value=_text(m["value"]), unit=m["unit"]) for m in data["measures"]]
    return IndicatorReport(set=data["set"], version=data["version"], official=data["official"], notice=data["notice"],
                           period=data["period"], cutoff=data["cutoff"], department=data["department"],
                           total=data["total"], fingerprint=data["fingerprint"], indicators=values, measures=measures,
                           stored=cast(JSON, data.get("stored")))


async def _run(info: Info, action: str, filters: dict[str, Any], work: Any) -> Any:
    context = info.context

    def run(s: Session) -> Any:
        out = work(s)
        record_step(s, context.principal, context.settings, action=action, resource="indicators", api="graphql",
                    filters={k: v for k, v in filters.items() if v is not None})
        return out

    try:
        async with async_transaction(context.sessionmaker) as session:
            return await session.run_sync(run)
    except ProblemError as problem:
        raise graphql_error(problem) from problem


@strawberry.type
class IndicatorsQuery:
    @strawberry.field(description="Indicator values of a period (stored and checked for closed periods)",
                      permission_classes=[needs(Permission.indicators_read)])
    async def indicator_report(self, info: Info, period: str, set: str = service.DEFAULT_SET,
                               department: str | None = None, cutoff: str | None = None) -> IndicatorReport:
        settings, principal = info.context.settings, info.context.principal
        data = await _run(info, "indicators.report", {"period": period, "set": set, "department": department},
                          lambda s: service.report(s, settings, period=period, set_name=set, department=department,
                                                   cutoff=cutoff, actor=principal.username or principal.subject))
        return _report(data)

    @strawberry.field(description="Numerator and denominator of one indicator with their query and records (paged)",
                      permission_classes=[needs(Permission.indicators_read)])
    async def indicator_explain(self, info: Info, period: str, code: str, set: str = service.DEFAULT_SET,
                                department: str | None = None, cutoff: str | None = None, part: str | None = None,
                                after: str | None = None, limit: int = 100) -> JSON:
        settings = info.context.settings
        data = await _run(info, "indicators.explain", {"period": period, "code": code, "set": set},
                          lambda s: service.explain(s, settings, period=period, indicator=code, set_name=set,
                                                    department=department, cutoff=cutoff, after=after, limit=limit,
                                                    part=part))
        return cast(JSON, data)
