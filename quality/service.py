"""Quality rules for people: quarantine management and the quality-issue lifecycle (no HTTP, no GX).

The API calls the async functions; the worker and CLI reuse the pure parts (`issue_transition`,
`masked_samples`). Services flush, never commit. Resubmitting a quarantined record only enqueues a job: checking
it needs GX, which API processes never import.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpip.clock import utcnow
from cpip.errors import Conflict, NotFound, ValidationFailed
from cpip.jobs import enqueue
from quality import repository
from quality.models import (
    IssueStatus,
    QualityIssue,
    QualityResult,
    QualityRun,
    QualityScore,
    QuarantinedRecord,
    QuarantineStatus,
)
from security.masking import MaskingRule, mask
from security.principals import Principal

RESUBMIT_JOB = "quality.resubmit"
MAX_PAGE = 500


class QuarantineNotFound(NotFound):
    slug, title = "quarantine-not-found", "No such quarantined record"


class QuarantineConflict(Conflict):
    slug, title = "quarantine-conflict", "The quarantined record is not in a state that allows this"


class IssueNotFound(NotFound):
    slug, title = "quality-issue-not-found", "No such quality issue"


class IssueTransitionConflict(Conflict):
    slug, title = "quality-issue-transition", "The issue cannot make this transition from its current status"


class RunNotFound(NotFound):
    slug, title = "quality-run-not-found", "No such quality run"


def actor_name(principal: Principal) -> str:
    return principal.username or principal.client_id or principal.subject


def _page(page: int, size: int) -> tuple[int, int]:
    if page < 1:
        raise ValidationFailed("page starts at 1", field="page")
    if not 1 <= size <= MAX_PAGE:
        raise ValidationFailed(f"size must be 1–{MAX_PAGE}", field="size")
    return (page - 1) * size, size


def _known_resource(resource: str | None) -> None:
    from quality.suites import suites

    if resource is not None and resource not in suites():
        raise ValidationFailed(f"unknown resource {resource!r}; known: {', '.join(sorted(suites()))}",
                               field="resource")


def _history(record: QuarantinedRecord, by: str, action: str, **details: Any) -> None:
    # A new list, so the JSON column is seen as changed.
    record.history = [*record.history, {"at": utcnow().isoformat(), "by": by, "action": action, **details}]


# --- quarantine ---------------------------------------------------------------------------------------------


async def list_quarantine(session: AsyncSession, principal: Principal, *, resource: str | None = None,
                          status: str | None = None, submission_ref: str | None = None, page: int = 1,
                          size: int = 50) -> tuple[int, list[QuarantinedRecord]]:
    _known_resource(resource)
    if status is not None and status not in QuarantineStatus.__members__:
        raise ValidationFailed(f"status must be one of {', '.join(QuarantineStatus)}", field="status")
    offset, limit = _page(page, size)
    query = repository.quarantine_query(department=principal.department, all_departments=False,
                                        resource=resource, status=status, submission_ref=submission_ref)
    total = int(await session.scalar(repository.count_of(query)) or 0)
    items = list(await session.scalars(query.order_by(QuarantinedRecord.id).offset(offset).limit(limit)))
    return total, items


async def get_quarantined(session: AsyncSession, principal: Principal, record_id: int,
                          *, for_update: bool = False) -> QuarantinedRecord:
    query = repository.quarantine_query(department=principal.department, all_departments=False) \
        .where(QuarantinedRecord.id == record_id)
    if for_update:
        query = query.with_for_update()
    record: QuarantinedRecord | None = await session.scalar(query)
    if record is None:
        # The same answer whether it does not exist or belongs to another department.
        raise QuarantineNotFound(f"quarantined record {record_id} does not exist or is not yours")
    return record


def _apply(record: QuarantinedRecord, changes: dict[str, Any], by: str) -> None:
    bad = [k for k in changes if not isinstance(k, str) or not k or len(k) > 64]
    if bad:
        raise ValidationFailed("field names must be 1–64 characters", field="record")
    before = {k: record.record.get(k) for k in changes}
    record.record = {**record.record, **changes}
    record.updated_at = utcnow()
    _history(record, by, "corrected", before=before, after=changes)


async def correct(session: AsyncSession, principal: Principal, record_id: int,
                  changes: dict[str, Any]) -> QuarantinedRecord:
    record = await get_quarantined(session, principal, record_id, for_update=True)
    if record.status != QuarantineStatus.quarantined:
        raise QuarantineConflict(f"record {record_id} is {record.status}; only a quarantined record is corrected")
    _apply(record, changes, actor_name(principal))
    await session.flush()
    return record


async def resubmit(session: AsyncSession, principal: Principal, record_id: int,
                   changes: dict[str, Any] | None = None) -> QuarantinedRecord:
    """Send a (corrected) record back through the gate; a worker job checks it and lands it if it passes."""
    record = await get_quarantined(session, principal, record_id, for_update=True)
    if record.status != QuarantineStatus.quarantined:
        raise QuarantineConflict(f"record {record_id} is {record.status}; only a quarantined record is resubmitted")
    by = actor_name(principal)
    if changes:
        _apply(record, changes, by)
    record.status = QuarantineStatus.resubmitted
    record.attempts += 1
    record.updated_at = utcnow()
    _history(record, by, "resubmitted", attempt=record.attempts)
    await enqueue(session, RESUBMIT_JOB, {"record_id": record.id, "attempt": record.attempts},
                  idempotency_key=f"{RESUBMIT_JOB}:{record.id}:{record.attempts}")
    await session.flush()
    return record


async def discard(session: AsyncSession, principal: Principal, record_id: int, reason: str) -> QuarantinedRecord:
    record = await get_quarantined(session, principal, record_id, for_update=True)
    if record.status != QuarantineStatus.quarantined:
        raise QuarantineConflict(f"record {record_id} is {record.status}; only a quarantined record is discarded")
    now, by = utcnow(), actor_name(principal)
    record.status = QuarantineStatus.discarded
    record.discard_reason = reason
    record.resolved_by, record.resolved_at, record.updated_at = by, now, now
    _history(record, by, "discarded", reason=reason)
    await session.flush()
    return record


# --- quality issues -----------------------------------------------------------------------------------------

# action → (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[IssueStatus], IssueStatus]] = {
    "assign": (frozenset({IssueStatus.raised, IssueStatus.assigned}), IssueStatus.assigned),
    "fix": (frozenset({IssueStatus.assigned}), IssueStatus.fixed),
    "close": (frozenset({IssueStatus.fixed}), IssueStatus.closed),
    "reopen": (frozenset({IssueStatus.fixed}), IssueStatus.assigned),  # the fix did not hold
}


def issue_transition(issue: QualityIssue, action: str, *, assignee: str | None = None,
                     note: str | None = None, now: datetime | None = None) -> QualityIssue:
    """Move an issue along raised → assigned → fixed → closed, stamping the time of each step."""
    if action not in TRANSITIONS:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    allowed, target = TRANSITIONS[action]
    if issue.status not in allowed:
        raise IssueTransitionConflict(
            f"issue {issue.id} is {issue.status}; {action} needs {' or '.join(sorted(allowed))}")
    now = now or utcnow()
    if action == "assign":
        if not assignee:
            raise ValidationFailed("assign needs an assignee", field="assignee")
        issue.assignee, issue.assigned_at = assignee, now
    elif action == "fix":
        issue.fixed_at = now
    elif action == "close":
        issue.closed_at = now
    elif action == "reopen":
        issue.fixed_at = None
    if note:
        issue.resolution = note
    issue.status = target
    issue.updated_at = now
    return issue


def new_issue(resource: str, title: str, *, raised_by: str, description: str | None = None,
              rule: str | None = None, department: str | None = None, run_id: int | None = None,
              unexpected_count: int | None = None, now: datetime | None = None) -> QualityIssue:
    now = now or utcnow()
    return QualityIssue(resource=resource, rule=rule, title=title, description=description,
                        status=IssueStatus.raised, department=department, run_id=run_id, last_run_id=run_id,
                        unexpected_count=unexpected_count, raised_by=raised_by, raised_at=now, updated_at=now)


async def list_issues(session: AsyncSession, principal: Principal, *, resource: str | None = None,
                      status: str | None = None, page: int = 1, size: int = 50) -> tuple[int, list[QualityIssue]]:
    _known_resource(resource)
    if status is not None and status not in IssueStatus.__members__:
        raise ValidationFailed(f"status must be one of {', '.join(IssueStatus)}", field="status")
    offset, limit = _page(page, size)
    query = repository.issue_query(department=principal.department, all_departments=False, resource=resource,
                                   status=status)
    total = int(await session.scalar(repository.count_of(query)) or 0)
    items = list(await session.scalars(query.order_by(QualityIssue.id.desc()).offset(offset).limit(limit)))
    return total, items


async def get_issue(session: AsyncSession, principal: Principal, issue_id: int,
                    *, for_update: bool = False) -> QualityIssue:
    query = repository.issue_query(department=principal.department, all_departments=False) \
        .where(QualityIssue.id == issue_id)
    if for_update:
        query = query.with_for_update()
    issue: QualityIssue | None = await session.scalar(query)
    if issue is None:
        raise IssueNotFound(f"quality issue {issue_id} does not exist or is not yours")
    return issue


async def raise_issue(session: AsyncSession, principal: Principal, *, resource: str, title: str,
                      description: str | None = None, rule: str | None = None) -> QualityIssue:
    _known_resource(resource)
    issue = new_issue(resource, title, raised_by=actor_name(principal), description=description, rule=rule,
                      department=principal.department)
    session.add(issue)
    await session.flush()
    return issue


async def act_on_issue(session: AsyncSession, principal: Principal, issue_id: int, action: str, *,
                       assignee: str | None = None, note: str | None = None) -> QualityIssue:
    issue = await get_issue(session, principal, issue_id, for_update=True)
    issue_transition(issue, action, assignee=assignee, note=note)
    if issue.department is None:
        # A platform-wide issue becomes the acting department's once someone takes it on.
        issue.department = principal.department
    await session.flush()
    return issue


async def rectification(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int, float | None]:
    """质量问题整改率 over [start, end): (raised, closed by `end`, closed / raised)."""
    if end <= start:
        raise ValidationFailed("end must be after start", field="end")
    raised, closed = (await session.execute(repository.rectification_counts(start, end))).one()
    rate = round(closed / raised, 4) if raised else None
    return int(raised), int(closed), rate


# --- runs and scores ----------------------------------------------------------------------------------------


async def list_runs(session: AsyncSession, *, resource: str | None = None, page: int = 1,
                    size: int = 50) -> tuple[int, list[QualityRun]]:
    _known_resource(resource)
    offset, limit = _page(page, size)
    query = repository.runs_query(resource)
    total = int(await session.scalar(repository.count_of(query)) or 0)
    return total, list(await session.scalars(query.offset(offset).limit(limit)))


async def get_run(session: AsyncSession, run_id: int) -> tuple[QualityRun, list[QualityResult]]:
    run = await session.get(QualityRun, run_id)
    if run is None:
        raise RunNotFound(f"quality run {run_id} does not exist")
    return run, list(await session.scalars(repository.results_of(run_id)))


async def scores(session: AsyncSession) -> list[QualityScore]:
    """The latest score of every resource that has been checked — what the catalogue publishes."""
    return list(await session.scalars(repository.scores_query()))


async def score_of(session: AsyncSession, resource: str) -> QualityScore | None:
    return await session.scalar(select(QualityScore).where(QualityScore.resource == resource))


def masked_samples(resource: str, samples: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failing keys as others may see them: a column the base database masks is masked here too."""
    from quality.suites import suites

    suite = suites().get(resource)
    rules: dict[str, MaskingRule] = {}
    if suite is not None:
        for column in suite.table.columns:
            rule = column.info.get("masking")
            if isinstance(rule, MaskingRule):
                rules[column.name] = rule
    shown: list[dict[str, Any]] = []
    for sample in samples:
        shown.append({k: mask(str(v), rules[k]) if k in rules and v is not None else v for k, v in sample.items()})
    return shown
