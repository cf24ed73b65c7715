"""Webhook signing secrets at rest: encrypted under a key derived from CPIP_SECRET_KEY (HKDF), shown once, never
in any column in clear; a changed key or altered ciphertext stops deliveries loudly instead of signing with
garbage."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select, text, update

from cpip.jobs import Job, JobStatus
from cpip.settings import Settings, get_settings
from exchange.applications import service as applications
from exchange.webhooks import jobs as _jobs  # noqa: F401 - registers the delivery job
from exchange.webhooks import service as webhooks
from exchange.webhooks.models import Delivery, Subscription
from exchange.webhooks.secret_box import SecretUnreadable, secret_box
from tests.exchange.test_applications import CIVIL, PSB, request
from tests.support.auth_fixtures import bearer
from tests.support.exchange_world import World
from tests.support.webhook_receiver import Receiver, receiver, run_deliveries

__all__ = ["receiver"]


def make(db: Callable[[], Any], rx: Receiver) -> webhooks.NewSubscription:
    with db() as session:
        made = webhooks.create_subscription(session, PSB, webhooks.SubscriptionCreate(
            url=rx.url, events=["application.submitted"]))
        rx.secrets.append(made.secret)
        return made


def test_no_column_holds_the_secret_in_clear(db: Callable[[], Any], sync_engine: Engine,
                                             receiver: Receiver) -> None:
    made = make(db, receiver)
    key_part = made.secret.removeprefix("whsec_")
    raw_key = base64.b64decode(key_part)
    with sync_engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM exchange_subscriptions")).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    assert key_part not in stored
    assert raw_key.hex() not in stored
    box = secret_box(get_settings())
    assert row["secret_key_id"] == box.key_id
    assert box.open(row["secret_ciphertext"], row["secret_key_id"]) == made.secret


def test_the_key_is_derived_from_the_secret_key_and_stable(database_url: str) -> None:
    one = Settings(database_url=database_url, secret_key=SecretStr("a" * 40))
    again = Settings(database_url=database_url, secret_key=SecretStr("a" * 40))
    other = Settings(database_url=database_url, secret_key=SecretStr("b" * 40))
    sealed = secret_box(one).seal("whsec_dGVzdA==")
    assert secret_box(again).open(sealed, secret_box(one).key_id) == "whsec_dGVzdA=="  # survives a restart
    assert secret_box(other).key_id != secret_box(one).key_id
    with pytest.raises(SecretUnreadable, match="encrypted under key"):
        secret_box(other).open(sealed, secret_box(one).key_id)
    forged_id = secret_box(other).key_id  # the right id is not enough without the right key
    with pytest.raises(SecretUnreadable, match="does not decrypt"):
        secret_box(other).open(sealed, forged_id)


async def test_the_secret_is_shown_once(client: httpx.AsyncClient, token_for: Callable[[str], str],
                                        receiver: Receiver) -> None:
    psb = bearer(token_for("dept-psb"))
    created = await client.post("/api/v1/exchange/subscriptions", headers=psb, json={
        "url": receiver.url, "events": ["application.submitted"]})
    assert created.status_code == 201, created.text
    assert created.json()["secret"].startswith("whsec_")
    assert created.headers["cache-control"] == "no-store"
    listed = await client.get("/api/v1/exchange/subscriptions", headers=psb)
    assert [s["secret"] for s in listed.json()] == [None]
    assert created.json()["secret"] not in listed.text


@pytest.fixture
def rotated_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    def rotate() -> None:
        monkeypatch.setenv("CPIP_SECRET_KEY", "rotated-" + "x" * 40)
        get_settings.cache_clear()

    yield rotate
    monkeypatch.delenv("CPIP_SECRET_KEY", raising=False)
    get_settings.cache_clear()


def test_deliveries_under_another_key_go_dead_unsent(world: World, db: Callable[[], Any], sync_engine: Engine,
                                                     receiver: Receiver,
                                                     rotated_key: Callable[[], None]) -> None:
    make(db, receiver)
    with db() as session:
        applications.apply(session, CIVIL, request(world.population))
    rotated_key()
    run_deliveries(sync_engine)
    assert receiver.received == []
    with db() as session:
        delivery = session.scalars(select(Delivery)).one()
        job = session.scalars(select(Job).where(Job.kind == "exchange.webhook.deliver")).one()
        assert (delivery.status, job.status) == ("dead", JobStatus.dead)  # no pointless retries
        assert delivery.last_error is not None
        assert "encrypted under key k1-" in delivery.last_error


def test_altered_ciphertext_is_not_used_to_sign(world: World, db: Callable[[], Any], sync_engine: Engine,
                                                receiver: Receiver) -> None:
    made = make(db, receiver)
    with sync_engine.begin() as conn:
        token = conn.execute(select(Subscription.secret_ciphertext)).scalar_one()
        tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
        conn.execute(update(Subscription).where(Subscription.id == made.subscription.id)
                     .values(secret_ciphertext=tampered))
    with db() as session:
        applications.apply(session, CIVIL, request(world.population))
    run_deliveries(sync_engine)
    assert receiver.received == []
    with db() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "dead"
        assert "does not decrypt" in (delivery.last_error or "")
