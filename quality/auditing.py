"""Audit events of quality changes (quarantine corrections, resubmissions, discards, issue steps), written in
the change's own transaction by the shared helper, security.audit.record_in_transaction. Quality's changes
are made through the REST API, so their events say so."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from cpip.settings import Settings
from security.audit import record_in_transaction
from security.audit.events import Api
from security.principals import Principal


def record_change(session: Session, principal: Principal, settings: Settings, *, action: str, resource: str,
                  fields: Iterable[str] = (), record_count: int | None = None, subject_ids: Iterable[str] = (),
                  filters: Mapping[str, Any] | None = None, status_code: int = 200, request_id: str | None = None,
                  ip: str | None = None) -> int:
    """Insert one audit event in `session`'s transaction; returns its id."""
    return record_in_transaction(
        session, principal, settings, action=action, resource=resource, api=Api.rest, fields=fields,
        record_count=record_count, subject_ids=subject_ids, filters=filters, status_code=status_code,
        request_id=request_id, ip=ip)
