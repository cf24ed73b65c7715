"""GraphQL for granted data: records and the change feed through a grant, and open data.

Enforcement is in the data layer (exchange.delivery.view.View), not in this schema: a record object holds only
the fields its grant allows, already masked, and only rows within the grant's region. Aliases and fragments
merely repeat or rename selections of those objects, so they cannot reach anything else; each root field
resolution (each alias included) is a separate read: checked against the grant, counted against its quota and
audited with its grant id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, NewType, TypeVar, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from strawberry.scalars import JSON

from cpip.db import async_transaction
from cpip.errors import ProblemError, ValidationFailed
from exchange.delivery.service import granted_view, open_view
from exchange.delivery.view import View
from exchange.errors import FieldNotGranted
from exchange.feed import service as feed
from gateway.audit import get_audit
from gateway.graphql.context import Context
from gateway.graphql.permissions import needs
from gateway.graphql.problems import graphql_error
from gateway.routers.exchange import denied, quotas, record_usage
from security.permissions import Permission

T = TypeVar("T")
Info = strawberry.Info[Context, None]
Position = strawberry.scalar(NewType("Position", int), serialize=int, parse_value=int,
                             description="A change-feed position (may exceed 32 bits)")


@asynccontextmanager
async def _transaction(info: Info) -> AsyncIterator[AsyncSession]:
    try:
        async with async_transaction(info.context.sessionmaker) as session:
            yield session
    except ProblemError as problem:
        if problem.status == 429:
            # The HTTP status of the whole GraphQL response says it too, with the time to wait.
            response = info.context.response
            if response is not None:
                response.status_code = 429
                for name, value in (problem.extensions.get("headers") or {}).items():
                    response.headers[name] = value
        raise graphql_error(problem) from problem


@strawberry.type(description="One record, as its grant lets you see it: granted fields only, masked as granted")
class GrantedRecord:
    values: JSON = strawberry.field(description="Field → value, for every field of the view")

    @strawberry.field(description="One field's value; an error if the field is not part of the view")
    def value(self, field: str) -> JSON | None:
        data = cast(dict[str, Any], self.values)
        if field not in data:
            problem = FieldNotGranted(f"field {field} is not part of this view", fields=[field])
            raise graphql_error(problem)
        return cast(JSON, data[field])


@strawberry.type
class GrantedRecordPage:
    resource: str
    grant_id: str | None
    fields: list[str]
    masked: list[str]
    records: list[GrantedRecord]
    next_cursor: str | None


@strawberry.type
class FeedChange:
    position: Position  # type: ignore[valid-type]
    op: str
    changed_at: str
    record: GrantedRecord


@strawberry.type
class ChangePage:
    resource: str
    grant_id: str | None
    fields: list[str]
    masked: list[str]
    changes: list[FeedChange]
    next_after: Position  # type: ignore[valid-type]
    head: Position  # type: ignore[valid-type]


def _request(info: Info) -> Request:
    request = info.context.request
    assert isinstance(request, Request), "granted data is served over HTTP only"
    return request


def _record(values: Any) -> GrantedRecord:
    return GrantedRecord(values=values)


def _masked(view: View) -> list[str]:
    return [f for f in view.fields if f in view.masking]


async def _records(info: Info, code: str, first: int, after: str | None, make_view: Callable[[Any], View],
                   action: str, open_data: bool) -> GrantedRecordPage:
    principal = info.context.principal
    request = _request(info)
    audit = get_audit(request)
    page_max: int = info.context.settings.exchange_page_max
    if first < 1:
        raise graphql_error(ValidationFailed("first must be at least 1", errors=[
            {"field": "first", "message": "must be at least 1", "rule": "range"}]))
    view: View | None = None
    async with _transaction(info) as session:
        try:
            view = await session.run_sync(make_view)
            size = min(first, page_max)
            if view.grant is not None:
                state = await quotas(request).charge_request(view.grant)
                size = min(size, *(x for x in (state.records_left,) if x is not None))
            page = await session.run_sync(lambda s: view.page(s, after=after, limit=size))
            if view.grant is not None:
                await quotas(request).charge_records(view.grant, len(page.records))
        except ProblemError as problem:
            await denied(audit, principal, problem, action=action, resource=code, api="graphql",
                         grant_id=view.grant_id if view else None)
            raise
        await audit.record(principal, action=action, resource=code, api="graphql", fields=view.fields,
                           record_count=len(page.records), subject_ids=() if open_data else page.subject_keys,
                           grant_id=view.grant_id, purpose=view.grant.purpose if view.grant else None,
                           filters={"after": after, "first": size, "region_prefix": view.region_prefix})
    count = len(page.records)
    await record_usage(request, code, shared=0 if open_data else count, open_records=count if open_data else 0)
    return GrantedRecordPage(resource=code, grant_id=view.grant_id, fields=list(view.fields), masked=_masked(view),
                             records=[_record(r) for r in page.records], next_cursor=page.next_cursor)


@strawberry.type
class ExchangeQuery:
    @strawberry.field(permission_classes=[needs(Permission.basebase_read)],
                      description="Records of a resource through your department's grant")
    async def exchange_records(self, info: Info, resource: str, first: int = 100, after: str | None = None,
                               grant: str | None = None, fields: list[str] | None = None) -> GrantedRecordPage:
        principal = info.context.principal
        return await _records(info, resource, first, after,
                              lambda s: granted_view(s, principal, resource, grant_id=grant, fields=fields),
                              "exchange.records.read", open_data=False)

    @strawberry.field(permission_classes=[needs(Permission.open_data_read)],
                      description="Records of a 无条件开放 resource (anonymous within a per-IP limit, or an API key)")
    async def open_data_records(self, info: Info, resource: str, first: int = 100, after: str | None = None,
                                fields: list[str] | None = None) -> GrantedRecordPage:
        return await _records(info, resource, first, after,
                              lambda s: open_view(s, resource, fields=fields), "open-data.records.read",
                              open_data=True)

    @strawberry.field(permission_classes=[needs(Permission.basebase_read)],
                      description="The resource's change feed through your grant, from a position (after)")
    async def exchange_changes(self, info: Info, resource: str, after: int = 0, first: int = 1000,
                               grant: str | None = None) -> ChangePage:
        principal = info.context.principal
        request = _request(info)
        audit = get_audit(request)
        view: View | None = None
        async with _transaction(info) as session:
            try:
                view = await session.run_sync(lambda s: granted_view(s, principal, resource, grant_id=grant))
                assert view.grant is not None
                state = await quotas(request).charge_request(view.grant)
                size = min(max(first, 1), 10_000, *(x for x in (state.records_left,) if x is not None))
                page = await session.run_sync(lambda s: feed.read_changes(s, view, after=after, limit=size))
                await quotas(request).charge_records(view.grant, len(page.changes))
            except ProblemError as problem:
                await denied(audit, principal, problem, action="exchange.changes.read", resource=resource,
                             api="graphql", grant_id=view.grant_id if view else grant)
                raise
            await audit.record(principal, action="exchange.changes.read", resource=resource, api="graphql",
                               fields=view.fields, record_count=len(page.changes), subject_ids=page.subject_keys,
                               grant_id=view.grant_id, purpose=view.grant.purpose,
                               filters={"after": after, "first": size, "region_prefix": view.region_prefix})
        await record_usage(request, resource, shared=len(page.changes))
        return ChangePage(
            resource=resource, grant_id=view.grant_id, fields=list(view.fields), masked=_masked(view),
            changes=[FeedChange(position=c["position"], op=c["op"], changed_at=c["changed_at"],
                                record=_record(c["record"])) for c in page.changes],
            next_after=page.next_after, head=page.head)
