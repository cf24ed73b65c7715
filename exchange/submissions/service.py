"""Submissions: a provider department sends a batch (NDJSON or CSV) for its own base database.

* Idempotent by batch id (per department): the same id with the same bytes answers with the existing batch;
  the same id with different bytes is a conflict, never a silent overwrite.
* A job (`exchange.submission.check`) quality-gates the batch through quality.submissions.gate_submission —
  the resource's GX suite, then the base database's own loader rules — so only accepted rows land; rejected
  rows are quarantined with their reasons (quality's quarantine, `submission_ref` = the submission id).
* The rows that landed (inserted or changed; unchanged rows are not written) enter the resource's change feed
  in the same transaction, so the feed and the data can never disagree.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from basebases.specs import SPECS
from cpip.clock import utcnow
from cpip.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cpip.jobs import Job, JobContext, PermanentJobError, enqueue_sync, job_handler
from exchange.delivery.exports import principal_doc
from exchange.feed import service as feed
from exchange.resources import load_resource
from exchange.submissions.models import Submission, SubmissionRow
from security.permissions import Permission, has_permission
from security.principals import Principal

CHECK_JOB = "exchange.submission.check"
MAX_ROWS = 50_000


class SubmissionNotFound(NotFound):
    slug, title = "exchange-submission-not-found", "No such submission"


class BatchIdReused(Conflict):
    """The batch id was already used for different content; a batch id names exactly one batch."""

    slug, title = "exchange-batch-id-reused", "Batch id already used for other content"


def _invalid(field: str, rule: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field, "message": message, "rule": rule}])


def parse_batch(body: bytes, fmt: str) -> list[dict[str, Any]]:
    """Records of an NDJSON or CSV (UTF-8, BOM allowed) body; a malformed one is named by its line."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid("body", "encoding", f"the batch is not UTF-8 (byte {exc.start})") from exc
    rows: list[dict[str, Any]] = []
    if fmt == "ndjson":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _invalid("body", "json", f"line {number} is not JSON: {exc.msg}") from exc
            if not isinstance(record, dict):
                raise _invalid("body", "json_object", f"line {number} is not a JSON object")
            rows.append(record)
    else:
        reader = csv.DictReader(io.StringIO(text))
        for record in reader:
            if None in record:
                raise _invalid("body", "csv_columns", f"CSV line {reader.line_num} has more values than the header")
            rows.append({k: (v if v != "" else None) for k, v in record.items()})
    if not rows:
        raise _invalid("body", "empty", "the batch holds no records")
    if len(rows) > MAX_ROWS:
        raise _invalid("body", "too_many", f"a batch holds at most {MAX_ROWS} records; split it")
    return rows


def submit(session: Session, principal: Principal, code: str, batch_id: str, fmt: str,
           body: bytes) -> tuple[Submission, bool]:
    """Accept a batch for checking; (submission, created). Only the resource's own department may submit."""
    if not has_permission(principal, Permission.basebase_submit) or principal.department is None:
        raise Forbidden("submitting needs a provider department account (basebase:submit)")
    resource = load_resource(session, code)
    source = resource.require_source()
    if resource.department != principal.department:
        raise Forbidden(f"resource {code} belongs to department {resource.department!r}; a department submits "
                        f"only to its own base database")
    if source.base not in SPECS:
        raise _invalid("query.resource", "not_submittable", f"resource {code} does not take submissions")
    digest = hashlib.sha256(body).hexdigest()
    existing = session.scalar(select(Submission).where(Submission.department == principal.department,
                                                       Submission.batch_id == batch_id))
    if existing is not None:
        if existing.content_sha256 != digest or existing.resource_code != code:
            raise BatchIdReused(f"batch {batch_id!r} was already submitted with other content",
                                batch_id=batch_id, submission_id=existing.id)
        return existing, False
    rows = parse_batch(body, fmt)
    submission = Submission(
        id="smb_" + secrets.token_hex(10), batch_id=batch_id, department=principal.department, resource_code=code,
        base=source.base, format=fmt, content_sha256=digest, submitted_by=principal_doc(principal),
        status="received", rows_total=len(rows), created_at=utcnow())
    session.add(submission)
    session.flush()
    session.add_all([SubmissionRow(submission_id=submission.id, row_number=n, data=row)
                     for n, row in enumerate(rows, start=1)])
    enqueue_sync(session, CHECK_JOB, {"submission_id": submission.id},
                 idempotency_key=f"{CHECK_JOB}:{submission.id}", max_attempts=5)
    session.flush()
    return submission, True


def get_submission(session: Session, principal: Principal, batch_id: str) -> Submission:
    found = session.scalar(select(Submission).where(Submission.department == principal.department,
                                                    Submission.batch_id == batch_id))
    if found is None:
        raise SubmissionNotFound(f"no batch {batch_id!r} of your department", batch_id=batch_id)
    return found


def rejected_rows(session: Session, submission: Submission, limit: int = 1000) -> list[dict[str, Any]]:
    """The quarantined rows of a batch with their reasons (from quality's quarantine)."""
    from quality.models import QuarantinedRecord

    rows = session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.submission_ref == submission.id)
                           .order_by(QuarantinedRecord.row_number).limit(limit))
    return [{"row_number": r.row_number, "key": r.natural_key, "status": r.status, "reasons": r.reasons,
             "quarantine_id": r.id} for r in rows]


# ------------------------------------------------------------------------------------------------ the job


@job_handler(CHECK_JOB)
def check_submission(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    from quality.submissions import gate_submission

    session = ctx.session
    submission = session.get(Submission, payload["submission_id"])
    if submission is None:
        raise PermanentJobError(f"submission {payload['submission_id']} does not exist")
    if submission.status in ("landed", "failed"):
        return {"skipped": submission.status}
    rows = [r.data for r in session.scalars(select(SubmissionRow).where(
        SubmissionRow.submission_id == submission.id).order_by(SubmissionRow.row_number))]
    source = load_resource(session, submission.resource_code).require_source()
    started = utcnow()
    try:
        outcome = gate_submission(session, submission.base, rows, submission_ref=submission.id,
                                  department=submission.department,
                                  submitted_by=str(submission.submitted_by.get("subject")))
    except Exception as exc:
        job = session.get(Job, ctx.job_id)
        if job is not None and ctx.attempt >= job.max_attempts:
            # The last attempt: say so on the batch (its own commit, as the job's transaction rolls back).
            session.rollback()
            failed = session.get(Submission, payload["submission_id"])
            assert failed is not None
            failed.status, failed.error, failed.finished_at = "failed", f"{type(exc).__name__}: {exc}"[:2000], utcnow()
            session.commit()
        raise
    changed = [feed.change_of(source, row, started) for row in feed.rows_written_since(session, source, started, rows)]
    # Last in the transaction: the feed counter stays locked only from here to the commit.
    positions = feed.record_changes(session, source.base, changed, f"submission:{submission.id}")
    submission.status = "landed"
    submission.landed, submission.inserted = outcome.landed, outcome.inserted
    submission.updated, submission.unchanged = outcome.updated, outcome.unchanged
    submission.quarantined, submission.quality_run_id = outcome.quarantined, outcome.run_id
    submission.feed_first, submission.feed_last = positions if positions else (None, None)
    submission.finished_at = utcnow()
    return {"landed": outcome.landed, "quarantined": outcome.quarantined, "changes": len(changed)}
