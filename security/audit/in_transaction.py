"""Audit events written in the caller's own transaction, for changes: the change and its event commit together
or not at all.

Data reads go through the gateway's AuditDep, which commits on the audit writer's own connection before the
response leaves. A change that writes its package's own tables cannot use it: on SQLite, one writer at a time,
the audit writer's connection would wait for the write lock the request's transaction holds until after the
response. So the event row, its subject index and the time slot's seal job are inserted here, beside the
change, exactly as the audit writer inserts them (writer.py), so the sealer treats both alike.

The catalogue, quality and exchange record their administrative and workflow steps through this one function.
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


def record_in_transaction(
    session: Session, principal: Principal, settings: Settings, *, action: str, resource: str,
    api: Api | str = Api.admin, fields: Iterable[str] = (), record_count: int | None = None,
    subject_ids: Iterable[str] = (), filters: Mapping[str, Any] | None = None, grant_id: str | None = None,
    purpose: str | None = None, outcome: Outcome | str = Outcome.allowed, status_code: int = 200,
    request_id: str | None = None, ip: str | None = None, detail: str | None = None,
    bytes_sent: int | None = None,
) -> int:
    """Insert one audit event (and its subject index rows) in `session`'s transaction, plus the seal job of the
    current time slot; returns the event's id. Nothing is committed here."""
    event = build_event(
        principal, hmac_key=settings.audit_hmac_key.get_secret_value().encode(), action=action, resource=resource,
        api=api, fields=fields, record_count=record_count, subject_ids=subject_ids, filters=filters,
        grant_id=grant_id, purpose=purpose, outcome=outcome, status_code=status_code, request_id=request_id,
        ip=ip, bytes_sent=bytes_sent, detail=detail)
    event_id: int = session.execute(insert(_EVENTS).returning(_EVENTS.c.id), [event]).scalar_one()
    keys = sorted(set(event["subject_keys"]))
    if keys:
        session.execute(insert(_SUBJECTS), [{"event_id": event_id, "subject_hmac": k} for k in keys])
    seal_key, run_after = seal_slot(utcnow(), settings.audit_seal_interval_seconds)
    enqueue_sync(session, SEAL_JOB, {}, idempotency_key=seal_key, run_after=run_after)
    return event_id
