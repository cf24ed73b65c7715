"""Grant rules: issue from an approval, suspend/resume/revoke, and find the grant that allows a read now.

A grant is read from the database on every data request (never cached), so a suspension or revocation
committed by the provider takes effect on the consumer's very next request.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from exchange.errors import GrantNotEffective, GrantNotFound, GrantStateConflict, NoGrant, NotYourDepartment
from exchange.grants.models import Grant, GrantEvent
from exchange.grants.schemas import GrantEventOut, GrantOut
from exchange.webhooks.outbox import emit
from security.masking import MaskingRule
from security.permissions import Permission, has_permission
from security.principals import Principal


class GrantStatus:
    active = "active"
    suspended = "suspended"
    revoked = "revoked"


def new_grant_id() -> str:
    return "grt_" + secrets.token_hex(10)


def actor_name(principal: Principal) -> str:
    return principal.username or principal.client_id or principal.subject


def is_effective(grant: Grant, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return grant.status == GrantStatus.active and grant.valid_from <= now < grant.valid_until


def grant_out(grant: Grant, now: datetime | None = None) -> GrantOut:
    return GrantOut(
        id=grant.id, application_id=grant.application_id, resource=grant.resource_code,
        provider_department=grant.provider_department, consumer_department=grant.consumer_department,
        fields=list(grant.fields), masking=dict(grant.masking), region_prefix=grant.region_prefix,
        requests_per_day=grant.requests_per_day, records_per_day=grant.records_per_day,
        valid_from=grant.valid_from, valid_until=grant.valid_until, purpose=grant.purpose, status=grant.status,
        status_reason=grant.status_reason, effective=is_effective(grant, now), created_at=grant.created_at,
        updated_at=grant.updated_at)


def _event(session: Session, grant: Grant, action: str, actor: str, reason: str | None,
           detail: dict[str, Any] | None = None) -> None:
    session.add(GrantEvent(grant_id=grant.id, action=action, actor=actor, at=grant.updated_at, reason=reason,
                           detail=detail or {}))


def issue(session: Session, *, application_id: str | None, resource_code: str, provider: str, consumer: str,
          fields: Sequence[str], masking: dict[str, MaskingRule], region_prefix: str | None,
          requests_per_day: int | None, records_per_day: int | None, valid_from: datetime,
          valid_until: datetime, purpose: str, actor: str) -> Grant:
    now = utcnow()
    grant = Grant(
        id=new_grant_id(), application_id=application_id, resource_code=resource_code,
        provider_department=provider, consumer_department=consumer, fields=list(fields),
        masking={k: v.value for k, v in masking.items()}, region_prefix=region_prefix,
        requests_per_day=requests_per_day, records_per_day=records_per_day, valid_from=valid_from,
        valid_until=valid_until, purpose=purpose, status=GrantStatus.active, created_by=actor, created_at=now,
        updated_at=now)
    session.add(grant)
    session.flush()
    _event(session, grant, "issued", actor, None, {
        "fields": list(fields), "masking": grant.masking, "region_prefix": region_prefix,
        "requests_per_day": requests_per_day, "records_per_day": records_per_day,
        "valid_from": valid_from.isoformat(), "valid_until": valid_until.isoformat()})
    session.flush()
    return grant


def get_grant(session: Session, principal: Principal, grant_id: str) -> Grant:
    """The grant, for its provider or consumer department; 404 for anyone else, so ids do not leak."""
    grant = session.get(Grant, grant_id)
    if grant is None or principal.department not in (grant.provider_department, grant.consumer_department):
        raise GrantNotFound(f"no grant {grant_id!r} of your department", grant_id=grant_id)
    return grant


def grant_events(session: Session, grant: Grant) -> list[GrantEventOut]:
    rows = session.scalars(select(GrantEvent).where(GrantEvent.grant_id == grant.id).order_by(GrantEvent.id))
    return [GrantEventOut(action=e.action, actor=e.actor, at=e.at, reason=e.reason, detail=e.detail) for e in rows]


def list_grants(session: Session, principal: Principal, *, role: str, resource: str | None = None,
                status: str | None = None, limit: int = 100, offset: int = 0) -> list[Grant]:
    if principal.department is None:
        return []
    column = Grant.provider_department if role == "provider" else Grant.consumer_department
    query = select(Grant).where(column == principal.department)
    if resource:
        query = query.where(Grant.resource_code == resource)
    if status:
        query = query.where(Grant.status == status)
    return list(session.scalars(query.order_by(Grant.created_at.desc(), Grant.id).limit(limit).offset(offset)))


# action -> (states it may start from, state it leads to)
_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "suspend": (frozenset({GrantStatus.active}), GrantStatus.suspended),
    "resume": (frozenset({GrantStatus.suspended}), GrantStatus.active),
    "revoke": (frozenset({GrantStatus.active, GrantStatus.suspended}), GrantStatus.revoked),
}


def change_status(session: Session, principal: Principal, grant_id: str, action: str, reason: str) -> Grant:
    """Suspend, resume or revoke: the provider department's decision (revocation is final)."""
    grant = get_grant(session, principal, grant_id)
    if principal.department != grant.provider_department or not has_permission(principal,
                                                                                Permission.exchange_review):
        raise NotYourDepartment(f"only the provider department {grant.provider_department!r} can {action} "
                                f"this grant", grant_id=grant.id)
    sources, target = _TRANSITIONS[action]
    if grant.status not in sources:
        raise GrantStateConflict(f"cannot {action} grant {grant.id}: it is {grant.status}", status=grant.status)
    # Lock the row (PostgreSQL) so a concurrent resume cannot undo a revocation it did not see.
    locked = session.scalar(select(Grant).where(Grant.id == grant.id).with_for_update())
    assert locked is not None
    if locked.status not in sources:
        raise GrantStateConflict(f"cannot {action} grant {grant.id}: it is {locked.status}", status=locked.status)
    locked.status = target
    locked.status_reason = reason
    locked.updated_at = utcnow()
    done = action + ("d" if action.endswith("e") else "ed")
    _event(session, locked, done, actor_name(principal), reason)
    emit(session, locked.consumer_department, f"grant.{done}", {
        "grant": locked.id, "resource": locked.resource_code, "status": locked.status, "reason": reason})
    session.flush()
    return locked


def effective_grant(session: Session, principal: Principal, resource_code: str,
                    grant_id: str | None = None, now: datetime | None = None) -> Grant:
    """The grant that lets the caller's department read `resource_code` now, or 403 saying why not.

    With `grant_id`, exactly that grant; otherwise the newest effective one of the department.
    """
    now = now or utcnow()
    if principal.department is None:
        raise NoGrant("only a department's accounts hold grants; this account belongs to no department",
                      resource=resource_code)
    query = select(Grant).where(Grant.consumer_department == principal.department,
                                Grant.resource_code == resource_code)
    if grant_id is not None:
        query = query.where(Grant.id == grant_id)
    grants = list(session.scalars(query.order_by(Grant.created_at.desc(), Grant.id)))
    for grant in grants:
        if is_effective(grant, now):
            return grant
    if not grants:
        what = f"grant {grant_id!r}" if grant_id else "grant"
        raise NoGrant(f"department {principal.department!r} holds no {what} for resource {resource_code}; "
                      f"apply for access first", resource=resource_code)
    newest = grants[0]
    if newest.status != GrantStatus.active:
        why = f"{newest.status}: {newest.status_reason}" if newest.status_reason else newest.status
    elif now < newest.valid_from:
        why = f"valid only from {newest.valid_from.isoformat()}"
    else:
        why = f"expired at {newest.valid_until.isoformat()}"
    raise GrantNotEffective(f"grant {newest.id} for resource {resource_code} does not allow access now ({why})",
                            grant_id=newest.id, grant_status=newest.status, resource=resource_code)
