"""REST API of submissions: a provider PUTs a batch (NDJSON or CSV) for its own base database under a batch id
of its choosing (idempotent), then follows its status: landed rows, quarantined rows with reasons, feed positions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cpip.errors import UnsupportedMediaType
from exchange.auditing import record_step
from exchange.submissions import service as submissions
from exchange.submissions.models import Submission
from gateway.auth import requires
from gateway.deps import SessionDep
from gateway.problems import PROBLEM_JSON
from gateway.routers.exchange import where
from security.permissions import Permission
from security.principals import Principal

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange submissions"])
Submitter = Annotated[Principal, Depends(requires(Permission.basebase_submit))]
BatchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$", description="Your id for the batch")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"content": {PROBLEM_JSON: {}}} for c in (401, 403, 404, 409, 413, 415, 422)}
MEDIA = {"application/x-ndjson": "ndjson", "application/ndjson": "ndjson", "application/jsonl": "ndjson",
         "text/csv": "csv"}


class SubmissionOut(BaseModel):
    id: str
    batch_id: str
    resource: str
    base: str
    format: str
    content_sha256: str
    status: str = Field(description="received · landed · failed (the check could not run; see error)")
    rows: int
    landed: int | None
    inserted: int | None
    updated: int | None
    unchanged: int | None
    quarantined: int | None
    quality_run_id: int | None
    feed_first: int | None = Field(description="First change-feed position of the landed rows")
    feed_last: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    rejected: list[dict[str, Any]] | None = Field(default=None, description="Quarantined rows with their reasons")


def submission_out(s: Submission, rejected: list[dict[str, Any]] | None = None) -> SubmissionOut:
    return SubmissionOut(id=s.id, batch_id=s.batch_id, resource=s.resource_code, base=s.base, format=s.format,
                         content_sha256=s.content_sha256, status=s.status, rows=s.rows_total, landed=s.landed,
                         inserted=s.inserted, updated=s.updated, unchanged=s.unchanged, quarantined=s.quarantined,
                         quality_run_id=s.quality_run_id, feed_first=s.feed_first, feed_last=s.feed_last,
                         error=s.error, created_at=s.created_at, finished_at=s.finished_at, rejected=rejected)


@router.put("/submissions/{batch_id}", response_model=SubmissionOut, responses=_ERRORS,
            status_code=status.HTTP_202_ACCEPTED,
            summary="Submit a batch for your own base database (NDJSON or CSV body); the same id again is a no-op")
async def submit(
    batch_id: BatchId, principal: Submitter, session: SessionDep, request: Request, response: Response,
    resource: Annotated[str, Query(pattern=r"^[1-3]\d{5}\d{0,6}/\d{6}$", description="信息资源代码")],
) -> SubmissionOut:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = MEDIA.get(media)
    if fmt is None:
        raise UnsupportedMediaType(f"send the batch as application/x-ndjson or text/csv, not {media or 'nothing'}")
    body = await request.body()

    def run(s: Session) -> tuple[SubmissionOut, bool]:
        submission, created = submissions.submit(s, principal, resource, batch_id, fmt, body)
        if created:
            record_step(s, principal, request.app.state.settings, action="exchange.submission.submit",
                        resource=resource, record_count=submission.rows_total,
                        filters={"batch_id": batch_id, "submission": submission.id, "format": fmt},
                        detail=f"sha256={submission.content_sha256}", **where(request))
        return submission_out(submission), created

    out, created = await session.run_sync(run)
    response.status_code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
    response.headers["Location"] = f"/api/v1/exchange/submissions/{batch_id}"
    return out


@router.get("/submissions/{batch_id}", response_model=SubmissionOut, responses=_ERRORS,
            summary="A batch's status, with its quarantined rows and their reasons")
async def get_submission(batch_id: BatchId, principal: Submitter, session: SessionDep) -> SubmissionOut:
    def load(s: Session) -> SubmissionOut:
        submission = submissions.get_submission(s, principal, batch_id)
        return submission_out(submission, submissions.rejected_rows(s, submission))

    return await session.run_sync(load)
