"""The webhook delivery job: one POST per attempt, retried by the job queue with exponential backoff, marked
dead after the last attempt (a dead letter the subscriber can replay).

The HTTP call happens outside any database transaction: on SQLite a job's transaction holds the one write
lock, which must not wait on a slow receiver. A failed attempt is recorded and committed before the error is
raised, because the job's own transaction is rolled back on error.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from cpip.clock import utcnow
from cpip.jobs import Job, JobContext, PermanentJobError, job_handler
from cpip.settings import get_settings
from exchange.webhooks.models import Delivery, Subscription
from exchange.webhooks.outbox import DELIVER_JOB
from exchange.webhooks.secret_box import SecretUnreadable, secret_box
from exchange.webhooks.signing import headers
from exchange.webhooks.targets import WebhookTargetRefused, check_target


class DeliveryFailed(Exception):
    """The receiver did not accept the event (non-2xx or unreachable); the job queue retries."""


def body_of(delivery: Delivery) -> bytes:
    return json.dumps({"type": delivery.event_type, "timestamp": delivery.created_at.isoformat(),
                       "data": delivery.payload}, ensure_ascii=False, separators=(",", ":")).encode()


@job_handler(DELIVER_JOB)
def deliver(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    session = ctx.session
    delivery = session.get(Delivery, payload["delivery_id"])
    if delivery is None:
        raise PermanentJobError(f"delivery {payload['delivery_id']} does not exist")
    if delivery.status == "delivered":
        return {"skipped": "already delivered"}
    sub = session.get(Subscription, delivery.subscription_id)
    job = session.get(Job, ctx.job_id)
    final = job is None or ctx.attempt >= job.max_attempts
    if sub is None or sub.status != "active":
        delivery.status, delivery.last_error, delivery.updated_at = "dead", "subscription disabled", utcnow()
        return {"skipped": "subscription disabled"}
    settings = get_settings()
    try:
        secret = secret_box(settings).open(sub.secret_ciphertext, sub.secret_key_id)
    except SecretUnreadable as exc:
        # Retrying cannot help: only the key that encrypted it can; the subscriber re-subscribes, or an operator
        # lists that key in CPIP_PREVIOUS_SECRET_KEYS, then the dead letters are replayed.
        delivery.status, delivery.last_error, delivery.updated_at = "dead", str(exc), utcnow()
        session.commit()
        raise PermanentJobError(f"delivery {delivery.id}: {exc}") from exc
    url, msg_id, body = sub.url, delivery.id, body_of(delivery)
    session.rollback()  # end the read transaction before the network call

    status: int | None = None
    try:
        # Checked again now, and the connection goes to the address checked: DNS may have changed since the
        # subscription was made (rebinding), so the earlier check proves nothing about this delivery.
        target = check_target(url, allow_private=settings.webhook_allow_private_targets, field="url")
    except WebhookTargetRefused as exc:
        error: str | None = f"target refused: {exc.detail}"[:2000]
    else:
        try:
            # The timestamp is the sender's wall clock: receivers compare it with theirs to refuse replays.
            args = target.request_args()
            with httpx.Client(timeout=settings.exchange_webhook_timeout_seconds, follow_redirects=False,
                              trust_env=False) as client:
                response = client.post(args["url"], content=body, extensions=args["extensions"],
                                       headers={**args["headers"], **headers(secret, msg_id, int(time.time()), body)})
            status = response.status_code
            error = None if 200 <= status < 300 else f"receiver answered HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]

    delivery = session.get(Delivery, msg_id)
    assert delivery is not None
    delivery.attempts += 1
    delivery.last_status_code = status
    delivery.updated_at = utcnow()
    if error is None:
        delivery.status, delivery.last_error, delivery.delivered_at = "delivered", None, delivery.updated_at
        return {"status_code": status, "attempt": ctx.attempt}
    delivery.last_error = error
    delivery.status = "dead" if final else "pending"
    session.commit()
    raise DeliveryFailed(f"delivery {msg_id} attempt {ctx.attempt}: {error}")
