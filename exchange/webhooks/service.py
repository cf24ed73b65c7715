"""Subscriptions and the fan-out of events to them.

Events are written as deliveries, each with a durable job, in the transaction of the change that caused them
(an outbox): an event exists if and only if its change committed, and each is delivered at least once.

Event types:
* `data.changed` — new changes in the feed of a resource the department holds an effective grant for. The
  event carries positions, never data: the receiver reads the feed through its grant, so a webhook can never
  deliver what the grant would not.
* `application.submitted`, `application.withdrawn`, `application.overdue` — to the provider department;
  `application.approved`, `application.refused` — to the applying department.
* `grant.suspended`, `grant.resumed`, `grant.revoked` — to the consumer department.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from cpip.errors import Forbidden, ProblemError
from cpip.jobs import Job, JobStatus
from cpip.settings import Settings, get_settings
from exchange.errors import DeliveryNotFound, SubscriptionNotFound
from exchange.grants.service import actor_name, effective_grant
from exchange.resources import load_resource
from exchange.webhooks.models import Delivery, Subscription
from exchange.webhooks.outbox import DELIVER_JOB, EVENT_TYPES, deliver_to, enqueue_delivery
from exchange.webhooks.secret_box import SecretUnreadable, secret_box
from exchange.webhooks.signing import new_secret
from exchange.webhooks.targets import Target, check_target
from security.permissions import Permission, has_permission
from security.principals import Principal, PrincipalKind, Role


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(pattern=r"^https?://[^\s/?#]+[^\s]*$", max_length=500,
                     description="Where events are POSTed: https, resolving to public addresses only")
    events: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES), description=", ".join(EVENT_TYPES))
    resource: str | None = Field(default=None, pattern=r"^[1-3]\d{5}\d{0,6}/\d{6}$",
                                 description="For data.changed: the resource whose feed to follow")

    @model_validator(mode="after")
    def _check(self) -> SubscriptionCreate:
        unknown = sorted(set(self.events) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
        if "data.changed" in self.events and self.resource is None:
            raise ValueError("data.changed needs the resource whose changes to follow")
        return self


class SubscriptionOut(BaseModel):
    id: str
    url: str
    events: list[str]
    resource: str | None
    status: str
    created_at: Any
    secret: str | None = Field(default=None, description="The signing secret; shown only when created")


class DeliveryOut(BaseModel):
    id: str
    subscription_id: str
    event_type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: Any
    delivered_at: Any


@dataclass(frozen=True)
class NewSubscription:
    """A subscription just made, with its signing secret in clear: the only moment the secret is readable."""

    subscription: Subscription
    secret: str


def subscription_out(sub: Subscription, *, secret: str | None = None) -> SubscriptionOut:
    return SubscriptionOut(id=sub.id, url=sub.url, events=list(sub.events), resource=sub.resource_code,
                           status=sub.status, created_at=sub.created_at, secret=secret)


def check_subscription_url(url: str) -> Target:
    """SSRF check of a subscription URL (resolves its host: call it off the event loop)."""
    return check_target(url, allow_private=get_settings().webhook_allow_private_targets)


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(id=d.id, subscription_id=d.subscription_id, event_type=d.event_type, payload=d.payload,
                       status=d.status, attempts=d.attempts, last_status_code=d.last_status_code,
                       last_error=d.last_error, created_at=d.created_at, delivered_at=d.delivered_at)


# ------------------------------------------------------------------------------------------ subscriptions


def create_subscription(session: Session, principal: Principal, data: SubscriptionCreate,
                        target: Target | None = None) -> NewSubscription:
    """Subscribe; `target` is `check_subscription_url(data.url)` if the caller already ran it."""
    if principal.department is None:
        raise Forbidden("subscriptions belong to departments; this account has none")
    if data.resource is not None:
        effective_grant(session, principal, data.resource)  # 403 unless the department may read its feed
    if any(e.startswith("application.") for e in data.events) and not (
            has_permission(principal, Permission.exchange_apply)
            or has_permission(principal, Permission.exchange_review)):
        raise Forbidden("application events need exchange:apply or exchange:review")
    if target is None or target.given != data.url:
        target = check_subscription_url(data.url)
    now = utcnow()
    secret, box = new_secret(), secret_box(get_settings())
    sub = Subscription(id="whs_" + secrets.token_hex(10), department=principal.department,
                       created_by=actor_name(principal), url=data.url, secret_ciphertext=box.seal(secret),
                       secret_key_id=box.key_id, events=sorted(set(data.events)), resource_code=data.resource,
                       status="active", created_at=now, updated_at=now)
    session.add(sub)
    session.flush()
    return NewSubscription(sub, secret)


def get_subscription(session: Session, principal: Principal, subscription_id: str) -> Subscription:
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.department != principal.department:
        raise SubscriptionNotFound(f"no subscription {subscription_id!r} of your department")
    return sub


def list_subscriptions(session: Session, principal: Principal) -> list[Subscription]:
    return list(session.scalars(select(Subscription).where(Subscription.department == principal.department)
                                .order_by(Subscription.created_at)))


def disable_subscription(session: Session, principal: Principal, subscription_id: str) -> Subscription:
    sub = get_subscription(session, principal, subscription_id)
    sub.status = "disabled"
    sub.updated_at = utcnow()
    session.flush()
    return sub


def list_deliveries(session: Session, principal: Principal, subscription_id: str, status: str | None = None,
                    limit: int = 100) -> list[Delivery]:
    sub = get_subscription(session, principal, subscription_id)
    query = select(Delivery).where(Delivery.subscription_id == sub.id)
    if status:
        query = query.where(Delivery.status == status)
    return list(session.scalars(query.order_by(Delivery.created_at.desc(), Delivery.id).limit(limit)))


# ------------------------------------------------------------------------------- signing secrets at rest


@dataclass(frozen=True)
class ReencryptReport:
    reencrypted: int
    already_current: int
    unreadable: dict[str, str]  # subscription id → why no known key opens its secret

    def as_dict(self) -> dict[str, Any]:
        return {"reencrypted": self.reencrypted, "already_current": self.already_current,
                "unreadable": len(self.unreadable), "unreadable_subscriptions": self.unreadable}


def reencrypt_secrets(session: Session, settings: Settings) -> ReencryptReport:
    """Seal again, under the current secret key, every signing secret sealed under a previous one, so that the
    previous key is no longer needed for webhooks (run after a rotation; running it again changes nothing).

    A secret no known key opens is left as it is and reported: its deliveries keep failing until the key that
    sealed it is listed again or the department subscribes anew."""
    box = secret_box(settings)
    current = session.scalar(select(func.count()).select_from(Subscription)
                             .where(Subscription.secret_key_id == box.key_id)) or 0
    reencrypted, unreadable = 0, {}
    stale = list(session.scalars(select(Subscription).where(Subscription.secret_key_id != box.key_id)
                                 .order_by(Subscription.id)))
    for sub in stale:
        try:
            secret = box.open(sub.secret_ciphertext, sub.secret_key_id)
        except SecretUnreadable as exc:
            unreadable[sub.id] = str(exc)
            continue
        # updated_at stays: nothing the subscriber sees has changed.
        sub.secret_ciphertext, sub.secret_key_id = box.seal(secret), box.key_id
        reencrypted += 1
    session.flush()
    return ReencryptReport(reencrypted=reencrypted, already_current=current, unreadable=unreadable)


# ------------------------------------------------------------------------------------------ fan-out


def _department_principal(department: str) -> Principal:
    # Fan-out checks the subscriber's grant as the department itself would be checked on reading the feed.
    return Principal(PrincipalKind.service_account, f"system:webhooks:{department}", department=department,
                     roles=frozenset({Role.consumer}))


def data_changed(session: Session, stream: str, first: int, last: int) -> list[Delivery]:
    """Tell subscribers of resources backed by `stream` that positions first..last exist now."""
    made: list[Delivery] = []
    subs = list(session.scalars(select(Subscription).where(Subscription.status == "active",
                                                           Subscription.resource_code.is_not(None))))
    for sub in subs:
        if "data.changed" not in sub.events or sub.resource_code is None:
            continue
        try:
            resource = load_resource(session, sub.resource_code)
            if resource.source is None or resource.source.base != stream:
                continue
            effective_grant(session, _department_principal(sub.department), sub.resource_code)
        except ProblemError:  # no longer granted (or the resource is gone): nothing is sent
            continue
        code = sub.resource_code
        made += deliver_to(session, [sub], "data.changed", {
            "resource": code, "first_position": first, "last_position": last,
            "feed": f"/api/v1/exchange/resources/{code}/changes?after={first - 1}"})
    return made


def replay(session: Session, principal: Principal, delivery_id: str) -> Delivery:
    """Send a delivery again (a dead letter, or one the receiver lost): a fresh round of attempts."""
    delivery = session.get(Delivery, delivery_id)
    sub = session.get(Subscription, delivery.subscription_id) if delivery else None
    if delivery is None or sub is None or sub.department != principal.department:
        raise DeliveryNotFound(f"no delivery {delivery_id!r} of your department")
    rounds = session.scalar(select(Job.id).where(Job.idempotency_key.like(f"{DELIVER_JOB}:{delivery.id}:%"),
                                                 Job.status.in_([JobStatus.queued, JobStatus.running])))
    if rounds is not None:
        return delivery  # already on its way
    previous = len(list(session.scalars(select(Job.id).where(
        Job.idempotency_key.like(f"{DELIVER_JOB}:{delivery.id}:%")))))
    delivery.status = "pending"
    delivery.updated_at = utcnow()
    enqueue_delivery(session, delivery, previous)
    session.flush()
    return delivery
