"""REST API of data quality: quarantine management, the quality-issue lifecycle, runs, scores, 整改率.

Rules live in quality/ (quality.service); this module maps HTTP onto them. Nothing here imports Great
Expectations: resubmitting a quarantined record enqueues a worker job that runs the gate. Quarantined records
hold the rows a department submitted, personal data included, so only that department sees them (basebase:submit)
and every read or change is written to the access audit log before the response leaves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import JSONResponse

from cpip.errors import ValidationFailed
from gateway.audit import AuditDep
from gateway.auth import requires
from gateway.deps import SessionDep
from gateway.problems import PROBLEM_JSON
from quality import service
from quality.auditing import record_change
from quality.models import QualityIssue, QuarantinedRecord
from quality.schemas import (
    Correction,
    Discard,
    IssueAssign,
    IssueCreate,
    IssueNote,
    IssueOut,
    IssuePage,
    QuarantinedOut,
    QuarantinePage,
    RectificationOut,
    Resubmission,
    ResultOut,
    RunDetail,
    RunOut,
    ScoreOut,
)
from security.permissions import Permission
from security.principals import Principal

router = APIRouter(prefix="/api/v1/quality", tags=["data quality"])

Submitter = Annotated[Principal, Depends(requires(Permission.basebase_submit))]
DataReader = Annotated[Principal, Depends(requires(Permission.basebase_read))]
CatalogueReader = Annotated[Principal, Depends(requires(Permission.catalogue_read))]
Evaluator = Annotated[Principal, Depends(requires(Permission.indicators_read))]
RecordId = Annotated[int, Path(ge=1, description="Quarantined record id")]
IssueId = Annotated[int, Path(ge=1, description="Quality issue id")]
Page = Annotated[int, Query(ge=1, description="Page number, from 1")]
Size = Annotated[int, Query(ge=1, le=service.MAX_PAGE, description="Items per page")]
Resource = Annotated[str | None, Query(max_length=40, description="Base resource, e.g. population")]
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"content": {PROBLEM_JSON: {}}} for c in (401, 403, 404, 409, 422, 503)}
QUARANTINE = "quality:quarantine"
ISSUES = "quality:issues"


def _record(record: QuarantinedRecord) -> dict[str, Any]:
    return QuarantinedOut.model_validate(record).model_dump(mode="json")


def _subjects(records: list[QuarantinedRecord]) -> list[str]:
    # The audit log HMACs subject ids; a person's natural key is their ID number.
    return [r.natural_key for r in records if r.resource == "population" and r.natural_key]


def _issue(issue: QualityIssue) -> dict[str, Any]:
    return IssueOut.model_validate(issue).model_dump(mode="json")


async def _changed(request: Request, session: SessionDep, principal: Principal, body: Any, *,
                   status_code: int = 200, **event: Any) -> JSONResponse:
    """Record a change's audit event in the change's own transaction (see quality.auditing), then answer."""
    settings = request.app.state.settings
    request_id = request.scope.get("state", {}).get("request_id")
    ip = request.client.host if request.client else None
    await session.run_sync(lambda s: record_change(s, principal, settings, status_code=status_code,
                                                   request_id=request_id, ip=ip, **event))
    request.state.audit_recorded = True
    return JSONResponse(body, status_code=status_code)


# ------------------------------------------------------------------------------------------- quarantine


@router.get("/quarantine", response_model=QuarantinePage, responses=_ERRORS,
            summary="Your department's quarantined rows, with the reasons the gate gave")
async def quarantine(principal: Submitter, session: SessionDep, audit: AuditDep, resource: Resource = None,
                     state: Annotated[str | None, Query(alias="status", description="quarantined, resubmitted, "
                                                                                   "landed or discarded")] = None,
                     submission_ref: Annotated[str | None, Query(max_length=100)] = None, page: Page = 1,
                     size: Size = 50) -> Any:
    total, items = await service.list_quarantine(session, principal, resource=resource, status=state,
                                                 submission_ref=submission_ref, page=page, size=size)
    body = {"total": total, "items": [_record(r) for r in items]}
    return await audit.json(body, principal, action="quality.quarantine.list", resource=QUARANTINE,
                            record_count=len(items), subject_ids=_subjects(items),
                            filters={"resource": resource, "status": state, "submission_ref": submission_ref,
                                     "page": page, "size": size})


@router.get("/quarantine/{record_id}", response_model=QuarantinedOut, responses=_ERRORS,
            summary="One quarantined row")
async def quarantined(record_id: RecordId, principal: Submitter, session: SessionDep, audit: AuditDep) -> Any:
    record = await service.get_quarantined(session, principal, record_id)
    return await audit.json(_record(record), principal, action="quality.quarantine.read",
                            resource=f"{QUARANTINE}:{record.id}", record_count=1, subject_ids=_subjects([record]))


@router.patch("/quarantine/{record_id}", response_model=QuarantinedOut, responses=_ERRORS,
              summary="Correct fields of a quarantined row (it stays quarantined until resubmitted)")
async def correct(record_id: RecordId, body: Correction, principal: Submitter, session: SessionDep,
                  request: Request) -> Any:
    record = await service.correct(session, principal, record_id, body.record)
    return await _changed(request, session, principal, _record(record), action="quality.quarantine.correct",
                            resource=f"{QUARANTINE}:{record.id}", record_count=1, subject_ids=_subjects([record]),
                            fields=sorted(body.record))


@router.post("/quarantine/{record_id}/resubmit", response_model=QuarantinedOut, responses=_ERRORS,
             status_code=status.HTTP_202_ACCEPTED,
             summary="Send a (corrected) row back through the gate; a worker lands it or re-quarantines it")
async def resubmit(record_id: RecordId, body: Resubmission, principal: Submitter, session: SessionDep,
                   request: Request) -> Any:
    record = await service.resubmit(session, principal, record_id, body.record)
    return await _changed(request, session, principal, _record(record), status_code=202,
                          action="quality.quarantine.resubmit",
                            resource=f"{QUARANTINE}:{record.id}", record_count=1, subject_ids=_subjects([record]))


@router.post("/quarantine/{record_id}/discard", response_model=QuarantinedOut, responses=_ERRORS,
             summary="Drop a quarantined row on purpose; the reason is kept")
async def discard(record_id: RecordId, body: Discard, principal: Submitter, session: SessionDep,
                  request: Request) -> Any:
    record = await service.discard(session, principal, record_id, body.reason)
    return await _changed(request, session, principal, _record(record), action="quality.quarantine.discard",
                            resource=f"{QUARANTINE}:{record.id}", record_count=1, subject_ids=_subjects([record]))


# ----------------------------------------------------------------------------------------------- issues


@router.get("/issues", response_model=IssuePage, responses=_ERRORS,
            summary="Quality issues of your department and platform-wide ones")
async def issues(principal: Submitter, session: SessionDep, audit: AuditDep, resource: Resource = None,
                 state: Annotated[str | None, Query(alias="status", description="raised, assigned, fixed or "
                                                                               "closed")] = None,
                 page: Page = 1, size: Size = 50) -> Any:
    total, items = await service.list_issues(session, principal, resource=resource, status=state, page=page,
                                             size=size)
    return await audit.json({"total": total, "items": [_issue(i) for i in items]}, principal,
                            action="quality.issues.list", resource=ISSUES, record_count=len(items),
                            filters={"resource": resource, "status": state, "page": page, "size": size})


@router.post("/issues", response_model=IssueOut, responses=_ERRORS, status_code=status.HTTP_201_CREATED,
             summary="Raise a quality issue by hand")
async def raise_issue(body: IssueCreate, principal: Submitter, session: SessionDep, request: Request) -> Any:
    issue = await service.raise_issue(session, principal, resource=body.resource, title=body.title,
                                      description=body.description, rule=body.rule)
    return await _changed(request, session, principal, _issue(issue), status_code=201, action="quality.issue.raise",
                            resource=f"{ISSUES}:{issue.id}", record_count=1)


@router.get("/issues/{issue_id}", response_model=IssueOut, responses=_ERRORS, summary="One quality issue")
async def issue(issue_id: IssueId, principal: Submitter, session: SessionDep, audit: AuditDep) -> Any:
    found = await service.get_issue(session, principal, issue_id)
    return await audit.json(_issue(found), principal, action="quality.issue.read",
                            resource=f"{ISSUES}:{found.id}", record_count=1)


async def _act(issue_id: int, action: str, principal: Principal, session: SessionDep, request: Request,
               assignee: str | None = None, note: str | None = None) -> Any:
    found = await service.act_on_issue(session, principal, issue_id, action, assignee=assignee, note=note)
    return await _changed(request, session, principal, _issue(found), action=f"quality.issue.{action}",
                            resource=f"{ISSUES}:{found.id}", record_count=1)


@router.post("/issues/{issue_id}/assign", response_model=IssueOut, responses=_ERRORS,
             summary="raised/assigned → assigned: who rectifies it")
async def assign(issue_id: IssueId, body: IssueAssign, principal: Submitter, session: SessionDep,
                 request: Request) -> Any:
    return await _act(issue_id, "assign", principal, session, request, assignee=body.assignee)


@router.post("/issues/{issue_id}/fix", response_model=IssueOut, responses=_ERRORS,
             summary="assigned → fixed: the data was corrected")
async def fix(issue_id: IssueId, body: IssueNote, principal: Submitter, session: SessionDep,
              request: Request) -> Any:
    return await _act(issue_id, "fix", principal, session, request, note=body.note)


@router.post("/issues/{issue_id}/close", response_model=IssueOut, responses=_ERRORS,
             summary="fixed → closed: the fix is confirmed (counts as rectified)")
async def close(issue_id: IssueId, body: IssueNote, principal: Submitter, session: SessionDep,
                request: Request) -> Any:
    return await _act(issue_id, "close", principal, session, request, note=body.note)


@router.post("/issues/{issue_id}/reopen", response_model=IssueOut, responses=_ERRORS,
             summary="fixed → assigned: the fix did not hold")
async def reopen(issue_id: IssueId, body: IssueNote, principal: Submitter, session: SessionDep,
                 request: Request) -> Any:
    return await _act(issue_id, "reopen", principal, session, request, note=body.note)


# ---------------------------------------------------------------------------------------- runs, scores


@router.get("/runs", responses=_ERRORS, summary="Recent quality runs, newest first")
async def runs(principal: DataReader, session: SessionDep, audit: AuditDep, resource: Resource = None,
               page: Page = 1, size: Size = 50) -> Any:
    total, items = await service.list_runs(session, resource=resource, page=page, size=size)
    body = {"total": total, "items": [RunOut.model_validate(r).model_dump(mode="json") for r in items]}
    return await audit.json(body, principal, action="quality.runs.list", resource="quality:runs",
                            record_count=len(items), filters={"resource": resource, "page": page, "size": size})


@router.get("/runs/{run_id}", response_model=RunDetail, responses=_ERRORS,
            summary="One run with each expectation's result (failing keys masked)")
async def run(run_id: Annotated[int, Path(ge=1)], principal: DataReader, session: SessionDep,
              audit: AuditDep) -> Any:
    found, results = await service.get_run(session, run_id)
    shown = []
    for result in results:
        out = ResultOut.model_validate(result)
        out.samples = service.masked_samples(found.resource, result.samples)
        shown.append(out)
    body = RunDetail(**RunOut.model_validate(found).model_dump(), results=shown).model_dump(mode="json")
    return await audit.json(body, principal, action="quality.run.read", resource=f"quality:runs:{found.id}",
                            record_count=len(results))


@router.get("/scores", response_model=list[ScoreOut], responses=_ERRORS,
            summary="The latest quality score of every checked base resource (as the catalogue shows it)")
async def scores(principal: CatalogueReader, session: SessionDep, audit: AuditDep) -> Any:
    found = await service.scores(session)
    return await audit.json([ScoreOut.model_validate(s).model_dump(mode="json") for s in found], principal,
                            action="quality.scores", resource="quality:scores", record_count=len(found))


@router.get("/rectification", response_model=RectificationOut, responses=_ERRORS,
            summary="质量问题整改率: issues raised in [start, end) and how many of them were closed by end")
async def rectification(principal: Evaluator, session: SessionDep, audit: AuditDep, start: datetime,
                        end: datetime) -> Any:
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a time zone (e.g. 2025-01-01T00:00:00+08:00)", field=name)
    raised, closed, rate = await service.rectification(session, start, end)
    body = RectificationOut(start=start, end=end, raised=raised, closed=closed, rate=rate).model_dump(mode="json")
    return await audit.json(body, principal, action="quality.rectification", resource="quality:issues",
                            record_count=1, filters={"start": start.isoformat(), "end": end.isoformat()})
