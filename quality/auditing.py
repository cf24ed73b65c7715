"""Audit events of quality changes (quarantine corrections, resubmissions, discards, issue steps), written in
the change's own transaction.

Reads go through the gateway's AuditDep. A change cannot: on SQLite, one writer at a time, the audit writer's
own connection would wait for the write lock the request's transaction holds until after the response. So the
event row, its subject index and the time slot's seal job are inserted here, beside the change — the same
approach as catalogue.auditing and exchange.auditing (which quality may not import); a shared helper in
security.audit would let all three drop their copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from cpip.jobs import enqueue_sync
from cpip.settings import Settings
from security.audit.events import Api, build_event
from security.audit.models import AuditEvent, AuditSubject
from security.audit.sealer import SEAL_JOB, seal_slot
from security.principals import Principal

_EVENTS = cast(Table, AuditEvent.__table__)
_SUBJECTS = cast(Table, AuditSubject.__table__)


def record_change(session: Session, principal: Principal, settings: Settings, *, action: str, resource: str,
                  fields: Iterable[str] = (), record_count: int | None = None, subject_ids: Iterable[str] = (),
                  filters: Mapping[str, Any] | None = None, status_code: int = 200, request_id: str | None = None,
                  ip: str | None = None) -> int:
    """Insert one audit event in `session`'s transaction; returns its id."""
    event = build_event(
        principal, hmac_key=settings.audit_hmac_key.get_secret_value().encode(), action=action, resource=resource,
        api=Api.rest, fields=fields, record_count=record_count, subject_ids=subject_ids, filters=filters,
        status_code=status_code, request_id=request_id, ip=ip or principal.ip)
    event_id: int = session.execute(insert(_EVENTS).returning(_EVENTS.c.id), [event]).scalar_one()
    keys = sorted(set(event["subject_keys"]))
    if keys:
        session.execute(insert(_SUBJECTS), [{"event_id": event_id, "subject_hmac": k} for k in keys])
    seal_key, run_after = seal_slot(utcnow(), settings.audit_seal_interval_seconds)
    enqueue_sync(session, SEAL_JOB, {}, idempotency_key=seal_key, run_after=run_after)
    return event_id
