"""REST API of the exchange (共享交换): applications and their review, grants, and granted data — records and the
change feed. Rules live in exchange/; this module maps HTTP onto them and audits every step and every read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from catalogue.service import add_usage
from cpip.db import async_transaction
from cpip.errors import ProblemError, ValidationFailed
from cpip.settings import Settings
from exchange.applications import service as applications
from exchange.applications.schemas import ApplicationCreate, ApplicationOut, Approval, Refusal, Withdrawal
from exchange.auditing import record_step
from exchange.delivery.service import granted_view
from exchange.delivery.view import View
from exchange.feed import service as feed
from exchange.grants import service as grants
from exchange.grants.quota import Quotas
from exchange.grants.schemas import GrantEventOut, GrantOut, StatusChange
from gateway.audit import AuditDep, AuditRecorder
from gateway.auth import requires
from gateway.deps import SessionDep
from gateway.problems import PROBLEM_JSON
from security.permissions import Permission
from security.principals import Principal

log = logging.getLogger("cpip.gateway.exchange")
router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"])

Applicant = Annotated[Principal, Depends(requires(Permission.exchange_apply))]
Reviewer = Annotated[Principal, Depends(requires(Permission.exchange_review))]
# Both parties of an application or grant hold catalogue:read; the service shows each only its own.
Party = Annotated[Principal, Depends(requires(Permission.catalogue_read))]
DataReader = Annotated[Principal, Depends(requires(Permission.basebase_read))]
ClassCode = Annotated[str, Path(pattern=r"^[1-3]\d{5}\d{0,6}$", description="分类码 of the resource, e.g. 101001")]
Sequence6 = Annotated[str, Path(pattern=r"^\d{6}$", description="顺序码 of the resource, e.g. 000001")]
GrantParam = Annotated[str | None, Query(alias="grant", max_length=40,
                                         description="Use this grant (default: your newest effective one)")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"content": {PROBLEM_JSON: {}}} for c in (400, 401, 403, 404, 409, 410, 422, 429, 503)}


def quotas(request: Request) -> Quotas:
    """The app's grant-quota counters (one per process; shared through Redis when configured)."""
    found: Quotas | None = getattr(request.app.state, "exchange_quotas", None)
    if found is None:
        settings: Settings = request.app.state.settings
        found = Quotas(settings.redis_url)
        request.app.state.exchange_quotas = found
    return found


QuotasDep = Annotated[Quotas, Depends(quotas)]


async def record_usage(request: Request, code: str, *, shared: int = 0, open_records: int = 0) -> None:
    """Count delivered records in the catalogue's census, after the audit event and in a transaction of
    its own (on SQLite the request's transaction must not hold the write lock while the audit commits)."""
    if not shared and not open_records:
        return
    try:
        async with async_transaction(request.app.state.sessionmaker) as s:
            await add_usage(s, code, shared_records=shared, open_records=open_records)
    except Exception:  # a counter, not the record of access: the audit log already holds that
        log.warning("census usage not counted", extra={"resource": code}, exc_info=True)


class Created(BaseModel):
    application: ApplicationOut
    grant: GrantOut | None = Field(description="Issued at once for 无条件共享 resources")


class GrantDetail(GrantOut):
    events: list[GrantEventOut]


# ------------------------------------------------------------------------------------------- applications


def where(request: Request) -> dict[str, Any]:
    """Request id and client address for events written in the request's own transaction."""
    return {"request_id": request.scope.get("state", {}).get("request_id"),
            "ip": request.client.host if request.client else None}


def _record_application(s: Session, request: Request, principal: Principal, action: str,
                        decision: applications.Decision) -> None:
    app = decision.application
    record_step(s, principal, request.app.state.settings, action=f"exchange.application.{action}",
                resource=app.resource_code, fields=app.fields, grant_id=app.grant_id, purpose=app.purpose,
                filters={"application": app.id, "status": app.status}, **where(request))


async def _step(session: AsyncSession, request: Request, principal: Principal, action: str,
                decide: Callable[[Session], applications.Decision]) -> applications.Decision:
    """Run one workflow step and write its audit event in the same transaction."""
    def run(s: Session) -> applications.Decision:
        decision = decide(s)
        _record_application(s, request, principal, action, decision)
        return decision

    return await session.run_sync(run)


@router.post("/applications", status_code=status.HTTP_201_CREATED, response_model=Created, responses=_ERRORS,
             summary="Apply for access to a resource (无条件共享: approved at once)")
async def apply(body: ApplicationCreate, principal: Applicant, session: SessionDep, request: Request,
                response: Response) -> Created:
    settings = request.app.state.settings
    decision = await _step(session, request, principal, "submit",
                           lambda s: applications.apply(s, principal, body, settings))
    out = applications.application_out(decision.application)
    response.headers["Location"] = f"/api/v1/exchange/applications/{out.id}"
    return Created(application=out, grant=grants.grant_out(decision.grant) if decision.grant else None)


@router.get("/applications", response_model=list[ApplicationOut], responses=_ERRORS,
            summary="Your department's applications (as consumer), newest first")
async def list_applications(
    principal: Applicant, session: SessionDep,
    status_: Annotated[str | None, Query(alias="status", pattern="^(pending|approved|refused|withdrawn)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ApplicationOut]:
    found = await session.run_sync(lambda s: applications.list_applications(
        s, principal, role="consumer", status=status_, limit=limit, offset=offset))
    return [applications.application_out(a) for a in found]


@router.get("/reviews", response_model=list[ApplicationOut], responses=_ERRORS,
            summary="Applications for your department's resources (as provider); overdue=true for late ones")
async def list_reviews(
    principal: Reviewer, session: SessionDep,
    status_: Annotated[str | None, Query(alias="status", pattern="^(pending|approved|refused|withdrawn)$")] = None,
    overdue: Annotated[bool | None, Query(description="Only pending applications past (or within) deadline")]
    = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ApplicationOut]:
    found = await session.run_sync(lambda s: applications.list_applications(
        s, principal, role="provider", status=status_, overdue=overdue, limit=limit, offset=offset))
    return [applications.application_out(a) for a in found]


@router.get("/applications/{application_id}", response_model=ApplicationOut, responses=_ERRORS,
            summary="One application with every step, for its consumer or provider department")
async def get_application(application_id: str, principal: Party, session: SessionDep) -> ApplicationOut:
    def load(s: Any) -> ApplicationOut:
        app = applications.get_application(s, principal, application_id)
        return applications.application_out(app, applications.events_of(s, app))

    return await session.run_sync(load)


@router.post("/applications/{application_id}/approve", response_model=Created, responses=_ERRORS,
             summary="Approve (provider): fields, masking, row scope, quota and validity can only narrow")
async def approve(application_id: str, body: Approval, principal: Reviewer, session: SessionDep,
                  request: Request) -> Created:
    settings = request.app.state.settings
    decision = await _step(session, request, principal, "approve",
                           lambda s: applications.approve(s, principal, application_id, body, settings))
    out = applications.application_out(decision.application)
    return Created(application=out, grant=grants.grant_out(decision.grant) if decision.grant else None)


@router.post("/applications/{application_id}/refuse", response_model=ApplicationOut, responses=_ERRORS,
             summary="Refuse (provider); the reasons are required and shown to the applicant")
async def refuse(application_id: str, body: Refusal, principal: Reviewer, session: SessionDep,
                 request: Request) -> ApplicationOut:
    decision = await _step(session, request, principal, "refuse",
                           lambda s: applications.refuse(s, principal, application_id, body))
    return applications.application_out(decision.application)


@router.post("/applications/{application_id}/withdraw", response_model=ApplicationOut, responses=_ERRORS,
             summary="Withdraw a pending application (applicant)")
async def withdraw(application_id: str, body: Withdrawal, principal: Applicant, session: SessionDep,
                   request: Request) -> ApplicationOut:
    decision = await _step(session, request, principal, "withdraw",
                           lambda s: applications.withdraw(s, principal, application_id, body.reason))
    return applications.application_out(decision.application)


# ------------------------------------------------------------------------------------------------ grants


@router.get("/grants", response_model=list[GrantOut], responses=_ERRORS,
            summary="Grants your department holds (role=consumer) or gave (role=provider)")
async def list_grants(
    principal: Party, session: SessionDep,
    role: Annotated[Literal["consumer", "provider"], Query()] = "consumer",
    status_: Annotated[str | None, Query(alias="status", pattern="^(active|suspended|revoked)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
) -> list[GrantOut]:
    found = await session.run_sync(lambda s: grants.list_grants(s, principal, role=role, status=status_,
                                                                limit=limit, offset=offset))
    return [grants.grant_out(g) for g in found]


@router.get("/grants/{grant_id}", response_model=GrantDetail, responses=_ERRORS,
            summary="One grant with its history")
async def get_grant(grant_id: str, principal: Party, session: SessionDep) -> GrantDetail:
    def load(s: Any) -> GrantDetail:
        grant = grants.get_grant(s, principal, grant_id)
        return GrantDetail(**grants.grant_out(grant).model_dump(), events=grants.grant_events(s, grant))

    return await session.run_sync(load)


async def _change_grant(action: str, grant_id: str, body: StatusChange, principal: Principal,
                        session: AsyncSession, request: Request) -> GrantOut:
    def run(s: Session) -> GrantOut:
        grant = grants.change_status(s, principal, grant_id, action, body.reason)
        record_step(s, principal, request.app.state.settings, action=f"exchange.grant.{action}",
                    resource=grant.resource_code, grant_id=grant.id, detail=body.reason,
                    filters={"status": grant.status}, **where(request))
        return grants.grant_out(grant)

    return await session.run_sync(run)


@router.post("/grants/{grant_id}/suspend", response_model=GrantOut, responses=_ERRORS,
             summary="Suspend a grant (provider): refused from the consumer's next request")
async def suspend(grant_id: str, body: StatusChange, principal: Reviewer, session: SessionDep,
                  request: Request) -> GrantOut:
    return await _change_grant("suspend", grant_id, body, principal, session, request)


@router.post("/grants/{grant_id}/resume", response_model=GrantOut, responses=_ERRORS,
             summary="Resume a suspended grant (provider)")
async def resume(grant_id: str, body: StatusChange, principal: Reviewer, session: SessionDep,
                 request: Request) -> GrantOut:
    return await _change_grant("resume", grant_id, body, principal, session, request)


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut, responses=_ERRORS,
             summary="Revoke a grant for good (provider): refused from the consumer's next request")
async def revoke(grant_id: str, body: StatusChange, principal: Reviewer, session: SessionDep,
                 request: Request) -> GrantOut:
    return await _change_grant("revoke", grant_id, body, principal, session, request)


# ------------------------------------------------------------------------------------------- granted data


class RecordPage(BaseModel):
    resource: str
    grant_id: str | None
    fields: list[str] = Field(description="The fields each record carries, in order")
    masked: list[str] = Field(description="Fields delivered masked (脱敏)")
    records: list[dict[str, Any]]
    next: str | None = Field(description="Cursor for the next page (pass as after=); null at the end")


class ChangePage(BaseModel):
    resource: str
    grant_id: str | None
    fields: list[str]
    masked: list[str]
    changes: list[dict[str, Any]] = Field(description="position, op (insert|update|delete), changed_at, record")
    next_after: int = Field(description="Pass as after= to continue; equal to head when caught up")
    head: int


def parse_filters(raw: list[str]) -> dict[str, str]:
    """`filter=field:value` (repeatable) → {field: value}."""
    found: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise ValidationFailed("filter must be field:value", errors=[
                {"field": "query.filter", "message": f"{item!r} is not field:value", "rule": "format"}])
        found[name] = value
    return found


def split_fields(raw: str | None) -> list[str] | None:
    return [f.strip() for f in raw.split(",") if f.strip()] if raw else None


async def denied(audit: AuditRecorder, principal: Principal, problem: ProblemError, *, action: str,
                 resource: str, api: str, grant_id: str | None) -> None:
    """Record a refusal with the grant it concerned, then let the problem answer the request."""
    outcome = "denied" if problem.status in (401, 403, 404, 410, 429) else "error"
    await audit.record(principal, action=action, resource=resource, api=api, outcome=outcome,
                       status_code=problem.status, grant_id=grant_id or problem.extensions.get("grant_id"),
                       detail=f"{problem.type_uri()}: {problem.detail}")


def carry_headers(response: Response, sent: Response) -> Response:
    """Headers that dependencies set on the injected response (rate and quota counters) onto the one returned."""
    for name, value in response.headers.items():
        if name.lower().startswith("x-") or name.lower() == "retry-after":
            sent.headers[name] = value
    return sent


def _masked(view: View) -> list[str]:
    return [f for f in view.fields if f in view.masking]


@router.get("/resources/{class_code}/{sequence}/records", response_model=RecordPage, responses=_ERRORS,
            summary="Records of a resource through your grant: its fields only, masked as granted, its rows only")
async def read_records(
    class_code: ClassCode, sequence: Sequence6, principal: DataReader, session: SessionDep, audit: AuditDep,
    quota: QuotasDep, request: Request, response: Response, grant: GrantParam = None,
    fields: Annotated[str | None, Query(description="Comma-separated subset of the granted fields")] = None,
    after: Annotated[str | None, Query(max_length=200, description="Cursor from the previous page")] = None,
    limit: Annotated[int, Query(ge=1, description="Records per page (at most CPIP_EXCHANGE_PAGE_MAX)")] = 100,
    filter_: Annotated[list[str], Query(alias="filter", description="field:value, on clear granted fields")] = [],  # noqa: B006
) -> Any:
    code = f"{class_code}/{sequence}"
    settings: Settings = request.app.state.settings
    view: View | None = None
    try:
        wanted = split_fields(fields)
        view = await session.run_sync(lambda s: granted_view(s, principal, code, grant_id=grant, fields=wanted))
        assert view.grant is not None
        state = await quota.charge_request(view.grant)
        size = min(limit, settings.exchange_page_max, *(x for x in (state.records_left,) if x is not None))
        filters = parse_filters(filter_)
        page = await session.run_sync(lambda s: view.page(s, after=after, limit=size, filters=filters))
        await quota.charge_records(view.grant, len(page.records))
    except ProblemError as problem:
        await denied(audit, principal, problem, action="exchange.records.read", resource=code, api="rest",
                     grant_id=view.grant_id if view else grant)
        raise
    if state.requests_left is not None:
        response.headers["X-Quota-Requests-Remaining"] = str(state.requests_left)
    body = RecordPage(resource=code, grant_id=view.grant_id, fields=list(view.fields), masked=_masked(view),
                      records=page.records, next=page.next_cursor).model_dump(mode="json")
    sent = await audit.json(body, principal, action="exchange.records.read", resource=code, api="rest",
                            fields=view.fields, record_count=len(page.records), subject_ids=page.subject_keys,
                            grant_id=view.grant_id, purpose=view.grant.purpose,
                            filters={"after": after, "limit": size, "region_prefix": view.region_prefix,
                                     "filter": filters})
    await record_usage(request, code, shared=len(page.records))
    return carry_headers(response, sent)


@router.get("/resources/{class_code}/{sequence}/changes", response_model=ChangePage, responses=_ERRORS,
            summary="The resource's change feed through your grant, oldest first, from a cursor (after=)")
async def read_changes(
    class_code: ClassCode, sequence: Sequence6, principal: DataReader, session: SessionDep, audit: AuditDep,
    quota: QuotasDep, request: Request, grant: GrantParam = None,
    after: Annotated[int, Query(ge=0, description="Position of the last change you have (0: from the start)")]
    = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Any:
    code = f"{class_code}/{sequence}"
    view: View | None = None
    try:
        view = await session.run_sync(lambda s: granted_view(s, principal, code, grant_id=grant))
        assert view.grant is not None
        state = await quota.charge_request(view.grant)
        size = min(limit, *(x for x in (state.records_left,) if x is not None))
        page = await session.run_sync(lambda s: feed.read_changes(s, view, after=after, limit=size))
        await quota.charge_records(view.grant, len(page.changes))
    except ProblemError as problem:
        await denied(audit, principal, problem, action="exchange.changes.read", resource=code, api="feed",
                     grant_id=view.grant_id if view else grant)
        raise
    # ChangePage's shape built directly: the changes already hold JSON values, and re-validating a page of up to
    # 10,000 of them through pydantic cost as much as reading them.
    body = {"resource": code, "grant_id": view.grant_id, "fields": list(view.fields), "masked": _masked(view),
            "changes": page.changes, "next_after": page.next_after, "head": page.head}
    sent = await audit.json(body, principal, action="exchange.changes.read", resource=code, api="feed",
                            fields=view.fields, record_count=len(page.changes), subject_ids=page.subject_keys,
                            grant_id=view.grant_id, purpose=view.grant.purpose,
                            filters={"after": after, "limit": size, "region_prefix": view.region_prefix})
    await record_usage(request, code, shared=len(page.changes))
    return sent
