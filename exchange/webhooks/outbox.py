"""The outbox: an event becomes one delivery per interested subscription, each with its durable job, inside the
transaction of the change that caused it."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from cpip.jobs import enqueue_sync
from cpip.settings import get_settings
from exchange.webhooks.models import Delivery, Subscription

DELIVER_JOB = "exchange.webhook.deliver"
EVENT_TYPES = (
    "data.changed", "application.submitted", "application.approved", "application.refused",
    "application.withdrawn", "application.overdue", "grant.suspended", "grant.resumed", "grant.revoked",
)


def enqueue_delivery(session: Session, delivery: Delivery, round_: int) -> None:
    settings = get_settings()
    job = enqueue_sync(session, DELIVER_JOB, {"delivery_id": delivery.id},
                       idempotency_key=f"{DELIVER_JOB}:{delivery.id}:{round_}",
                       max_attempts=settings.exchange_webhook_max_attempts)
    session.flush()
    delivery.job_id = job.id


def deliver_to(session: Session, subscriptions: list[Subscription], event_type: str,
                data: dict[str, Any]) -> list[Delivery]:
    now = utcnow()
    made = []
    for sub in subscriptions:
        delivery = Delivery(id="msg_" + secrets.token_hex(12), subscription_id=sub.id, event_type=event_type,
                            payload=data, status="pending", attempts=0, created_at=now, updated_at=now)
        session.add(delivery)
        session.flush()
        enqueue_delivery(session, delivery, 0)
        made.append(delivery)
    return made


def emit(session: Session, department: str, event_type: str, data: dict[str, Any]) -> list[Delivery]:
    """Queue `event_type` for every active subscription of `department` that asked for it."""
    subs = [s for s in session.scalars(select(Subscription).where(Subscription.department == department,
                                                                  Subscription.status == "active"))
            if event_type in s.events]
    return deliver_to(session, subs, event_type, data)
