"""Audit events of catalogue changes, written in the change's own transaction.

Registering, changing, reviewing an entry and editing the department register are administrative actions.
Their event is inserted beside the change so both commit together or not at all. (The gateway's AuditDep
commits on the audit writer's own connection; on SQLite, one writer at a time, it would wait for the lock the
change's transaction holds until the response — the reason the exchange does the same, exchange/auditing.py.)
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from cpip.jobs import enqueue_sync
from cpip.settings import Settings
from security.audit.events import Api, build_event
from security.audit.models import AuditEvent
from security.audit.sealer import SEAL_JOB, seal_slot
from security.principals import Principal

_EVENTS = cast(Table, AuditEvent.__table__)


def record_change(session: Session, principal: Principal, settings: Settings, *, action: str, resource: str,
                  api: Api = Api.admin, request_id: str | None = None, ip: str | None = None,
                  filters: dict[str, Any] | None = None) -> int:
    """Insert the change's audit event in `session`'s transaction (and the seal job of its time slot)."""
    event = build_event(principal, hmac_key=settings.audit_hmac_key.get_secret_value().encode(), action=action,
                        resource=resource, api=api, filters=filters, request_id=request_id,
                        ip=ip or principal.ip)
    event_id: int = session.execute(insert(_EVENTS).returning(_EVENTS.c.id), [event]).scalar_one()
    seal_key, run_after = seal_slot(utcnow(), settings.audit_seal_interval_seconds)
    enqueue_sync(session, SEAL_JOB, {}, idempotency_key=seal_key, run_after=run_after)
    return event_id
