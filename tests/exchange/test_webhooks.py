"""Webhooks: workflow and data-change events reach a real receiver, signed so that the Standard Webhooks reference
library verifies them; failures retry with exponential backoff, dead-letter after N attempts, and replay."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cpip.jobs import Job, JobStatus, Worker
from cpip.settings import get_settings
from exchange.applications import service as applications
from exchange.applications.schemas import Approval
from exchange.errors import NoGrant
from exchange.feed import service as feed
from exchange.webhooks import jobs as _jobs  # noqa: F401 - registers the delivery job
from exchange.webhooks import service as webhooks
from exchange.webhooks.models import Delivery
from tests.exchange.test_applications import CIVIL, PSB, SAMR, request
from tests.support.exchange_world import DISTRICT_A, DISTRICT_B, World
from tests.support.webhook_receiver import Receiver, receiver, run_deliveries

__all__ = ["receiver"]


def subscribe(db: Callable[[], Any], principal: Any, rx: Receiver, events: list[str],
              resource: str | None = None) -> str:
    with db() as session:
        made = webhooks.create_subscription(session, principal, webhooks.SubscriptionCreate(
            url=rx.url, events=events, resource=resource))
        rx.secrets.append(made.secret)
        return made.subscription.id


def test_workflow_events_are_signed_and_delivered(world: World, db: Callable[[], Any], sync_engine: Engine,
                                                  receiver: Receiver) -> None:
    subscribe(db, PSB, receiver, ["application.submitted"])
    subscribe(db, CIVIL, receiver, ["application.approved", "application.refused", "grant.revoked"])
    with db() as session:
        app_id = applications.apply(session, CIVIL, request(world.population)).application.id
    assert run_deliveries(sync_engine) == 1
    with db() as session:
        approval = Approval.model_validate({"row_scope": {"region_prefix": DISTRICT_A}})
        applications.approve(session, PSB, app_id, approval)
    assert run_deliveries(sync_engine) == 1
    got = receiver.accepted()
    assert [r.body["type"] for r in got] == ["application.submitted", "application.approved"]
    assert all(r.verified for r in receiver.received), [r.error for r in receiver.received]
    assert got[0].body["data"]["application"] == app_id
    assert got[1].body["data"]["grant_id"]
    with db() as session:
        ids = set(session.scalars(select(Delivery.id).where(Delivery.status == "delivered")))
    assert {r.msg_id for r in got} == ids


def test_a_forged_or_tampered_delivery_would_fail_verification(receiver: Receiver) -> None:
    # The receiver's check is not a rubber stamp: the wrong secret fails it.
    import httpx

    from exchange.webhooks.signing import headers, new_secret

    receiver.secrets.append(new_secret())
    body = b'{"type":"application.submitted","timestamp":"2026-01-01T00:00:00+00:00","data":{}}'
    import time

    httpx.post(receiver.url, content=body, headers=headers(new_secret(), "msg_x", int(time.time()), body))
    assert [r.verified for r in receiver.received] == [False]


def test_failing_receiver_backs_off_then_dead_letters_and_replays(
        world: World, db: Callable[[], Any], sync_engine: Engine, receiver: Receiver) -> None:
    attempts = get_settings().exchange_webhook_max_attempts
    subscribe(db, PSB, receiver, ["application.submitted"])
    receiver.fail_next = attempts
    with db() as session:
        applications.apply(session, CIVIL, request(world.population))
    worker = Worker(sync_engine, lease_seconds=30, name="test-backoff")
    delays = []
    for attempt in range(1, attempts + 1):
        assert worker.run_one()
        with db() as session:
            job = session.scalars(select(Job).where(Job.kind == "exchange.webhook.deliver")).one()
            delivery = session.scalars(select(Delivery)).one()
            assert delivery.attempts == attempt
            if attempt < attempts:
                assert (job.status, delivery.status) == (JobStatus.queued, "pending")
                delays.append((job.run_after - job.updated_at) / timedelta(seconds=1))
                job.run_after = job.updated_at  # let the backoff elapse
            else:
                assert (job.status, delivery.status) == (JobStatus.dead, "dead")
                assert delivery.last_error == "receiver answered HTTP 500"
    # Exponential: each wait about twice the one before (±20 % jitter).
    assert all(later > earlier * 1.3 for earlier, later in itertools.pairwise(delays))
    assert len(receiver.received) == attempts
    assert len({r.msg_id for r in receiver.received}) == 1  # the same webhook-id every time: receivers dedupe
    assert all(r.verified for r in receiver.received)

    with db() as session:
        dead = webhooks.list_deliveries(session, PSB, delivery.subscription_id, status="dead")
        assert [d.id for d in dead] == [delivery.id]
        webhooks.replay(session, PSB, delivery.id)
    assert run_deliveries(sync_engine) == 1
    with db() as session:
        assert session.get(Delivery, delivery.id).status == "delivered"
    assert receiver.accepted()[0].msg_id == delivery.id


def test_data_change_events_go_to_grant_holders_only(world: World, db: Callable[[], Any], sync_engine: Engine,
                                                     receiver: Receiver) -> None:
    with db() as session:
        app_id = applications.apply(session, CIVIL, request(world.population)).application.id
        applications.approve(session, PSB, app_id, Approval())
    with pytest.raises(NoGrant), db() as session:
        webhooks.create_subscription(session, SAMR, webhooks.SubscriptionCreate(
            url=receiver.url, events=["data.changed"], resource=world.population))
    subscribe(db, CIVIL, receiver, ["data.changed"], resource=world.population)
    run_deliveries(sync_engine)
    with db() as session:
        feed.record_changes(session, "population", [
            feed.Change("update", n, DISTRICT_B, {"id_number": n}) for n in world.people[DISTRICT_B][:3]], "test")
    assert run_deliveries(sync_engine) == 1
    (event,) = [r for r in receiver.accepted() if r.body["type"] == "data.changed"]
    assert event.verified
    assert event.body["data"] == {"resource": world.population, "first_position": 1, "last_position": 3,
                                  "feed": f"/api/v1/exchange/resources/{world.population}/changes?after=0"}
    assert not any(n in str(event.body) for n in world.people[DISTRICT_B])  # positions, never data
