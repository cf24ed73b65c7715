"""The security officer's view of the access audit log (permission audit:read). Read-only by construction:
no route here, or anywhere, changes or deletes audit events. Every read is itself recorded in the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from cpip.errors import NotFound
from cpip.settings import Settings
from gateway.audit import AuditDep
from gateway.auth import requires
from gateway.deps import SessionDep, SettingsDep, get_sessionmaker
from gateway.problems import PROBLEM_JSON
from security.audit import anomalies, repository
from security.audit.events import Api, Outcome
from security.audit.schemas import (
    AnchorView,
    AnomalyParams,
    AnomalyReport,
    AuditEventView,
    AuditPage,
    AuditQuery,
    AuditSearch,
)
from security.audit.verify import newest_anchor
from security.permissions import Permission
from security.principals import Principal

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Officer = Annotated[Principal, Depends(requires(Permission.audit_read))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"content": {PROBLEM_JSON: {}}} for code in (400, 401, 403, 422, 503)
}
RESOURCE = "audit-log"


def _key(settings: Settings) -> bytes:
    return settings.audit_hmac_key.get_secret_value().encode()


async def _search(query: AuditSearch, principal: Principal, session: SessionDep, settings: Settings,
                  audit: AuditDep, api: Api = Api.rest) -> AuditPage:
    events, cursor = await repository.search(session, query, _key(settings))
    page = AuditPage(items=[AuditEventView.model_validate(e) for e in events], next_cursor=cursor)
    hashed = repository.query_hmac(query, _key(settings))
    await audit.record(principal, action="audit.search", resource=RESOURCE, api=api,
                       filters=query.described(), record_count=len(page.items),
                       subject_hmacs=[hashed] if hashed else ())
    return page


@router.post("/search", response_model=AuditPage, responses=_ERRORS,
             summary="Search the audit log (use this to search by a raw personal identifier: it stays in the body)")
async def search_events(body: AuditSearch, principal: Officer, session: SessionDep, settings: SettingsDep,
                        audit: AuditDep) -> AuditPage:
    return await _search(body, principal, session, settings, audit)


@router.get("/events", response_model=AuditPage, responses=_ERRORS,
            summary="Search the audit log by query parameters (newest first, cursor pagination)")
async def list_events(
    principal: Officer, session: SessionDep, settings: SettingsDep, audit: AuditDep,
    subject_hmac: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None,
    principal_subject: Annotated[str | None, Query(alias="principal", max_length=255)] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    resource: Annotated[str | None, Query(max_length=255)] = None,
    action: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Outcome | None = None,
    api: Api | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    # A raw identifier is deliberately not accepted here: query strings end up in proxy logs. POST /search.
    query = AuditSearch(subject_hmac=subject_hmac, principal=principal_subject, department=department,
                        resource=resource, action=action, outcome=outcome, api=api, since=since, until=until,
                        limit=limit, cursor=cursor)
    return await _search(query, principal, session, settings, audit)


@router.post("/export", responses={**_ERRORS, 200: {"content": {"application/x-ndjson": {}}}},
             response_class=StreamingResponse,
             summary="Export matching events as NDJSON (oldest first), streamed")
async def export_events(body: AuditQuery, principal: Officer, session: SessionDep, settings: SettingsDep,
                        audit: AuditDep, request: Request) -> StreamingResponse:
    key = _key(settings)
    count, upto = await repository.export_bounds(session, body, key)
    hashed = repository.query_hmac(body, key)
    # Recorded before the first byte: the export's size is fixed by `upto`, so record_count is exact.
    await audit.record(principal, action="audit.export", resource=RESOURCE, api=Api.export,
                       filters=body.described(), record_count=count, subject_hmacs=[hashed] if hashed else ())
    factory = get_sessionmaker(request)

    async def lines() -> AsyncIterator[bytes]:
        async for chunk in repository.export_rows(factory, body, key, upto):
            yield b"".join(orjson.dumps(AuditEventView.model_validate(e).model_dump(mode="json")) + b"\n"
                           for e in chunk)

    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"Content-Disposition": 'attachment; filename="audit-events.ndjson"'})


@router.get("/anomalies", response_model=AnomalyReport, responses=_ERRORS,
            summary="Anomaly report for one local day: volume vs own baseline, denial bursts, off-hours reads")
async def anomaly_report(principal: Officer, session: SessionDep, settings: SettingsDep, audit: AuditDep,
                         params: Annotated[AnomalyParams, Query()]) -> AnomalyReport:
    report = await anomalies.anomaly_report(session, settings, params)
    await audit.record(principal, action="audit.anomalies", resource=RESOURCE,
                       filters=params.model_dump(mode="json", exclude_none=True),
                       record_count=len(report.volume) + len(report.denial_bursts)
                       + len(report.off_hours_personal_reads))
    return report


@router.get("/anchor", response_model=AnchorView, responses=_ERRORS,
            summary="The newest signed checkpoint, to keep outside the database (cpip audit verify --anchor)")
async def audit_anchor(principal: Officer, session: SessionDep, audit: AuditDep) -> AnchorView:
    anchor = await session.run_sync(newest_anchor)
    await audit.record(principal, action="audit.anchor", resource=RESOURCE, record_count=int(anchor is not None))
    if anchor is None:
        raise NotFound("no signed checkpoint yet: events are sealed into checkpoints by the worker")
    return AnchorView.model_validate(anchor.as_json())
