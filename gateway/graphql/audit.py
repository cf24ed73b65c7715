"""GraphQL for the security officer: search the access audit log and read the anomaly report (audit:read).

Same rules as REST (gateway/routers/audit.py): a raw subject identifier is hashed on the way in, each read is
recorded in the log before its result is returned, and a refusal is recorded too. If the log cannot take the
event, the field fails with code `audit-unavailable` and returns no data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NewType

import strawberry
from fastapi import Request
from pydantic import ValidationError
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.scalars import JSON

from cpip.db import async_transaction
from cpip.errors import ProblemError
from gateway.audit import AuditRecorder
from gateway.graphql.context import Context
from gateway.graphql.permissions import PermissionCheck
from gateway.graphql.problems import graphql_error
from security.audit import anomalies, repository
from security.audit.events import Api, Outcome
from security.audit.schemas import AnomalyParams, AuditSearch
from security.permissions import Permission

BigInt = strawberry.scalar(NewType("AuditBigInt", int), serialize=int, parse_value=int,
                           description="An integer that may exceed 32 bits")
RESOURCE = "audit-log"


def _recorder(info: strawberry.Info[Context, None]) -> AuditRecorder:
    request = info.context.request
    if not isinstance(request, Request):  # GraphQL is served over HTTP only (no subscriptions)
        raise StrawberryGraphQLError("audit fields are served over HTTP only", extensions={"code": "bad-request"})
    return AuditRecorder(request, request.app.state.audit_writer, info.context.settings)


class AuditedAuditRead(PermissionCheck):
    """audit:read, and a refusal is itself written to the audit log before the error is returned."""

    permission = Permission.audit_read

    async def has_permission(self, source: Any, info: strawberry.Info[Context, None],  # type: ignore[override]
                             **kwargs: Any) -> bool:
        try:
            return super().has_permission(source, info, **kwargs)
        except StrawberryGraphQLError as refused:
            principal = info.context.principal
            try:
                await _recorder(info).record(principal, action=f"graphql {info.field_name}", resource=RESOURCE,
                                             api=Api.graphql, outcome=Outcome.denied,
                                             status_code=403 if principal.is_authenticated else 401,
                                             filters={"permission": [self.permission.value]},
                                             detail=str(refused))
            except ProblemError as problem:
                raise graphql_error(problem) from problem
            raise


@strawberry.input(description="Filters of an audit search; they combine with AND")
class AuditFilter:
    subject_id: str | None = strawberry.field(default=None, description="raw personal identifier; hashed here")
    subject_hmac: str | None = None
    principal: str | None = None
    department: str | None = None
    resource: str | None = None
    action: str | None = None
    outcome: str | None = None
    api: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type(description="One access audit event")
class AuditEventNode:
    id: BigInt  # type: ignore[valid-type]
    seq: BigInt | None  # type: ignore[valid-type]
    occurred_at: datetime
    request_id: str | None
    principal: str
    principal_kind: str
    client_id: str | None
    department: str | None
    roles: list[str]
    action: str
    resource: str
    api: str
    filters: JSON
    fields: list[str]
    record_count: int | None
    subject_keys: list[str]
    grant_id: str | None
    purpose: str | None
    outcome: str
    status_code: int
    ip: str | None
    latency_ms: float | None
    bytes: BigInt | None  # type: ignore[valid-type]
    detail: str | None
    chain_hash: str | None


@strawberry.type
class AuditEventPage:
    items: list[AuditEventNode]
    next_cursor: str | None


def _search(filter_: AuditFilter | None, first: int, after: str | None) -> AuditSearch:
    values = {k: v for k, v in vars(filter_).items() if v is not None} if filter_ is not None else {}
    try:
        return AuditSearch(**values, limit=first, cursor=after)
    except ValidationError as invalid:
        raise StrawberryGraphQLError("the audit filter is not valid", extensions={
            "code": "validation-failed", "errors": [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in invalid.errors()]},
        ) from invalid


@strawberry.type
class AuditQuery:
    @strawberry.field(permission_classes=[AuditedAuditRead],
                      description="Search the audit log, newest first (cursor pagination); the search is audited")
    async def audit_events(self, info: strawberry.Info[Context, None], filter: AuditFilter | None = None,
                           first: int = 100, after: str | None = None) -> AuditEventPage:
        query = _search(filter, first, after)
        key = info.context.settings.audit_hmac_key.get_secret_value().encode()
        try:
            async with async_transaction(info.context.sessionmaker) as session:
                events, cursor = await repository.search(session, query, key)
            hashed = repository.query_hmac(query, key)
            await _recorder(info).record(info.context.principal, action="audit.search", resource=RESOURCE,
                                         api=Api.graphql, filters=query.described(), record_count=len(events),
                                         subject_hmacs=[hashed] if hashed else ())
        except ProblemError as problem:
            raise graphql_error(problem) from problem
        items = [AuditEventNode(**repository.event_dict(e)) for e in events]
        return AuditEventPage(items=items, next_cursor=cursor)

    @strawberry.field(permission_classes=[AuditedAuditRead],
                      description="Anomaly report for one local day (volume vs baseline, denial bursts, off-hours "
                                  "personal-data reads); the read is audited")
    async def audit_anomalies(self, info: strawberry.Info[Context, None], day: date | None = None,
                              baseline_days: int = 14, sigma: float = 3.0, min_volume: int = 20,
                              denial_threshold: int = 10, denial_window_minutes: int = 5) -> JSON:
        try:
            params = AnomalyParams(day=day, baseline_days=baseline_days, sigma=sigma, min_volume=min_volume,
                                   denial_threshold=denial_threshold, denial_window_minutes=denial_window_minutes)
        except ValidationError as invalid:
            raise StrawberryGraphQLError("the anomaly parameters are not valid", extensions={
                "code": "validation-failed", "errors": [
                    {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in invalid.errors()]}) from invalid
        try:
            async with async_transaction(info.context.sessionmaker) as session:
                report = await anomalies.anomaly_report(session, info.context.settings, params)
            await _recorder(info).record(
                info.context.principal, action="audit.anomalies", resource=RESOURCE, api=Api.graphql,
                filters=params.model_dump(mode="json", exclude_none=True),
                record_count=len(report.volume) + len(report.denial_bursts) + len(report.off_hours_personal_reads))
        except ProblemError as problem:
            raise graphql_error(problem) from problem
        return JSON(report.model_dump(mode="json"))
