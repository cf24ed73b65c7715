"""Gated submissions: check a batch, land its good rows in the base database, quarantine the rest.

    outcome = gate_submission(session, "population", rows, submission_ref=batch_id, department="psb")

The exchange's submission job calls this inside its own transaction (sync session, worker process). Two
checkpoints stand between a row and the base database: the GX suite (`quality.gate.check_batch`), then the base
database's own loader rules (`basebases` cleaners: references to existing buildings, layers, indicators …).
A row either lands or is quarantined with every reason either checkpoint gave — nothing is dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from cpip.jobs import JobContext, PermanentJobError, job_handler
from quality.gate import GateResult, RejectedRow, check_batch
from quality.models import QualityRun, QuarantinedRecord, QuarantineStatus, RunStatus, RunTrigger
from quality.runner import record_results, score_of
from quality.service import RESUBMIT_JOB
from quality.suites import get_suite


@dataclass
class Landed:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, list[dict[str, str]]]] = field(default_factory=list)  # (index, reasons)


def _jsonable(record: Mapping[str, Any]) -> dict[str, Any]:
    import json

    loaded: dict[str, Any] = json.loads(json.dumps(dict(record), ensure_ascii=False, default=str))
    return loaded


def land_rows(conn: Connection, resource: str, rows: Sequence[Mapping[str, Any]]) -> Landed:
    """Write rows into the base database by natural key through the base database's own cleaner and upsert.

    basebases has no public "upsert these records" call yet (its loader reads files), so this adapter uses
    the loader's reference lookup and upsert functions directly; it is the one place to change when it does.
    """
    from basebases import ingest, ingest_postgres
    from basebases.specs import SPECS

    spec = SPECS[resource]
    refs = ingest._references(conn, spec, 4490)
    landed = Landed()
    cleaned: list[dict[str, Any]] = []
    for index, raw in enumerate(rows):
        row, issues = spec.cleaner(raw, refs)
        if row is None:
            landed.rejected.append((index, [i.as_dict() for i in issues]))
        else:
            cleaned.append(row)
    if cleaned:
        upsert = ingest_postgres.upsert if conn.dialect.name == "postgresql" else ingest._upsert_sqlite
        landed.inserted, landed.updated, landed.unchanged = upsert(conn, spec, iter(cleaned), utcnow())
    return landed


@dataclass
class SubmissionOutcome:
    run_id: int
    resource: str
    rows: int
    landed: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int
    quarantine_ids: list[int]
    gate: GateResult

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "resource": self.resource, "rows": self.rows, "landed": self.landed,
                "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "quarantined": self.quarantined, "quarantine_ids": self.quarantine_ids,
                "findings": [{"rule": f.rule, "field": f.field, "message": f.message, "count": f.count}
                             for f in self.gate.findings]}


def _reasons(rejections: Sequence[RejectedRow]) -> list[dict[str, str]]:
    return [{"field": r.field, "rule": r.rule, "message": r.message} for r in rejections]


def _gate_run(session: Session, result: GateResult, rows: int, submission_ref: str | None,
              seconds: float) -> QualityRun:
    suite = get_suite(result.resource)
    now = utcnow()
    failed = [o for o in result.outcomes if o.success is False]
    run = QualityRun(resource=result.resource, suite=suite.name, suite_version=result.suite_version,
                     trigger=RunTrigger.gate, engine="pandas", status=RunStatus.succeeded,
                     submission_ref=submission_ref, row_count=rows, expectations=len(result.outcomes),
                     failed_expectations=len(failed), score=score_of(result.outcomes), started_at=now,
                     finished_at=now, duration_ms=int(seconds * 1000))
    session.add(run)
    session.flush()
    record_results(session, run, result.outcomes)
    return run


def gate_submission(session: Session, resource: str, rows: Sequence[Mapping[str, Any]], *,
                    submission_ref: str | None = None, department: str | None = None,
                    submitted_by: str | None = None) -> SubmissionOutcome:
    """Check `rows`, land the good ones and quarantine the bad ones, all in the caller's transaction."""
    clock = time.perf_counter()
    result = check_batch(resource, rows, engine=session.connection())
    run = _gate_run(session, result, len(rows), submission_ref, time.perf_counter() - clock)
    reasons: dict[int, list[dict[str, str]]] = {n: _reasons(r) for n, r in result.reasons_by_row().items()}
    landed = land_rows(session.connection(), resource, result.accepted_rows)
    for index, issues in landed.rejected:
        reasons[result.accepted_row_numbers[index]] = issues
    suite = get_suite(resource)
    now = utcnow()
    records = []
    for number in sorted(reasons):
        original = _jsonable(rows[number - 1])
        key = "/".join(str(original.get(k)) for k in suite.key if original.get(k) not in (None, "")) or None
        records.append(QuarantinedRecord(
            resource=resource, submission_ref=submission_ref, run_id=run.id, department=department,
            submitted_by=submitted_by, row_number=number, natural_key=key[:200] if key else None,
            original=original, record=original, reasons=reasons[number], status=QuarantineStatus.quarantined,
            attempts=0, history=[{"at": now.isoformat(), "by": submitted_by or "gate", "action": "quarantined"}],
            created_at=now, updated_at=now))
    session.add_all(records)
    session.flush()
    good = len(result.accepted_rows) - len(landed.rejected)
    return SubmissionOutcome(run_id=run.id, resource=resource, rows=len(rows), landed=good,
                             inserted=landed.inserted, updated=landed.updated, unchanged=landed.unchanged,
                             quarantined=len(records), quarantine_ids=[r.id for r in records], gate=result)


LandedHook = Callable[[Session, QuarantinedRecord], None]
_landed_hooks: list[LandedHook] = []


def on_landed(hook: LandedHook) -> LandedHook:
    """Register a function called (in the same transaction) when a resubmitted record lands — e.g. the
    exchange, which quality may not import, recording the change in its feed. Registering twice has no effect."""
    if hook not in _landed_hooks:
        _landed_hooks.append(hook)
    return hook


def recheck(session: Session, record: QuarantinedRecord) -> QuarantinedRecord:
    """Put a resubmitted record through the gate again: it lands, or goes back to quarantine with new reasons."""
    now = utcnow()
    result = check_batch(record.resource, [record.record], engine=session.connection())
    reasons = _reasons(result.rejected)
    if not reasons:
        landed = land_rows(session.connection(), record.resource, [record.record])
        reasons = landed.rejected[0][1] if landed.rejected else []
    entry: dict[str, Any] = {"at": now.isoformat(), "by": "gate", "attempt": record.attempts}
    if reasons:
        record.status, record.reasons = QuarantineStatus.quarantined, reasons
        entry["action"] = "rejected again"
    else:
        record.status, record.resolved_at, record.resolved_by = QuarantineStatus.landed, now, "gate"
        record.reasons = []
        entry["action"] = "landed"
    record.history = [*record.history, entry]
    record.updated_at = now
    session.flush()
    if record.status == QuarantineStatus.landed:
        for hook in _landed_hooks:
            hook(session, record)
    return record


@job_handler(RESUBMIT_JOB)
def resubmit_job(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    record = ctx.session.get(QuarantinedRecord, int(payload["record_id"]))
    if record is None:
        raise PermanentJobError(f"quarantined record {payload['record_id']} no longer exists")
    if record.status != QuarantineStatus.resubmitted or record.attempts != int(payload.get("attempt", 0)):
        # A rerun after the work already committed, or an older attempt: nothing left to do.
        return {"record_id": record.id, "status": record.status, "skipped": True}
    recheck(ctx.session, record)
    return {"record_id": record.id, "status": record.status}
