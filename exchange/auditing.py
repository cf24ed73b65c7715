"""Audit events written in the caller's own transaction, for the exchange's workflow steps (applications,
decisions, grant changes, subscriptions, submissions): a step and its audit event commit together or not at all.

Data reads go through the gateway's AuditDep (group commit on the audit writer's own connection, before the
response leaves). A step that writes the exchange's own tables cannot use it: on SQLite, with one writer at a
time, the audit writer would wait for the request transaction's write lock, which is only released after the
audit confirms. Writing the event here, as the audit writer does (event row, subject index, the time slot's
seal job), keeps both back ends correct and the step atomic with its record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from cpip.jobs import enqueue_sync
from cpip.settings import Settings
from security.audit.events import Api, Outcome, build_event
from security.audit.models import AuditEvent, AuditSubject
from security.audit.sealer import SEAL_JOB, seal_slot
from security.principals import Principal

_EVENTS = cast(Table, AuditEvent.__table__)
_SUBJECTS = cast(Table, AuditSubject.__table__)


def record_step(session: Session, principal: Principal, settings: Settings, *, action: str, resource: str,
                api: Api | str = Api.admin, fields: Iterable[str] = (), record_count: int | None = None,
                subject_ids: Iterable[str] = (), filters: Mapping[str, Any] | None = None,
                grant_id: str | None = None, purpose: str | None = None,
                outcome: Outcome | str = Outcome.allowed, request_id: str | None = None, ip: str | None = None,
                detail: str | None = None, bytes_sent: int | None = None) -> int:
    """Insert one audit event in `session`'s transaction; returns its id."""
    event = build_event(
        principal, hmac_key=settings.audit_hmac_key.get_secret_value().encode(), action=action, resource=resource,
        api=api, fields=fields, record_count=record_count, subject_ids=subject_ids, filters=filters,
        grant_id=grant_id, purpose=purpose, outcome=outcome, status_code=200, request_id=request_id, ip=ip,
        bytes_sent=bytes_sent, detail=detail)
    event_id: int = session.execute(insert(_EVENTS).returning(_EVENTS.c.id), [event]).scalar_one()
    keys = sorted(set(event["subject_keys"]))
    if keys:
        session.execute(insert(_SUBJECTS), [{"event_id": event_id, "subject_hmac": k} for k in keys])
    seal_key, run_after = seal_slot(utcnow(), settings.audit_seal_interval_seconds)
    enqueue_sync(session, SEAL_JOB, {}, idempotency_key=seal_key, run_after=run_after)
    return event_id
