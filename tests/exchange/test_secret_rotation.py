"""Rotating CPIP_SECRET_KEY in the exchange: webhook secrets sealed under the former key keep signing deliveries
while it is listed in CPIP_PREVIOUS_SECRET_KEYS, and `cpip exchange reencrypt-webhook-secrets` moves them to the
new key so that it can go; manual indicator inputs and export links made under it still verify while it is listed,
and no longer once it is not."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from pydantic import SecretStr
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner, Result

from cpip.settings import Settings, get_settings
from exchange.applications import service as applications
from exchange.delivery import exports
from exchange.delivery.exports import ExportExpired
from exchange.delivery.models import Export
from exchange.indicators.compute import Scope
from exchange.indicators.manual import InputSignatureInvalid, chosen_input, enter_input, verify
from exchange.indicators.models import ManualInput
from exchange.webhooks import jobs as _jobs  # noqa: F401 - registers the delivery job
from exchange.webhooks import service as webhooks
from exchange.webhooks.models import Delivery, Subscription
from exchange.webhooks.secret_box import secret_box
from gateway.registry import register_cli
from tests.exchange.test_applications import CIVIL, PSB, request
from tests.support.exchange_world import World
from tests.support.webhook_receiver import Receiver, receiver, run_deliveries

__all__ = ["receiver"]

KEY_A = "rotation-test-key-A-" + "a" * 32
KEY_B = "rotation-test-key-B-" + "b" * 32
KEY_C = "rotation-test-key-C-" + "c" * 32


def keys(current: str, *previous: str, base: Settings | None = None) -> Settings:
    return (base or Settings()).model_copy(update={"secret_key": SecretStr(current),
                                                   "previous_secret_keys": [SecretStr(k) for k in previous]})


@pytest.fixture
def deploy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """`deploy(current, *previous)`: the keys every process (services, worker, CLI) reads from now on."""
    def use(current: str, *previous: str) -> None:
        monkeypatch.setenv("CPIP_SECRET_KEY", current)
        monkeypatch.setenv("CPIP_PREVIOUS_SECRET_KEYS", json.dumps(list(previous)))
        get_settings.cache_clear()

    yield use
    monkeypatch.delenv("CPIP_SECRET_KEY", raising=False)
    monkeypatch.delenv("CPIP_PREVIOUS_SECRET_KEYS", raising=False)
    get_settings.cache_clear()


def reencrypt() -> Result:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so the command is named as on the real CLI
    register_cli(app, "exchange")
    return CliRunner().invoke(app, ["exchange", "reencrypt-webhook-secrets"])


def subscribe(db: Callable[[], Any], rx: Receiver) -> str:
    with db() as session:
        made = webhooks.create_subscription(session, PSB, webhooks.SubscriptionCreate(
            url=rx.url, events=["application.submitted"]))
        rx.secrets.append(made.secret)  # what the subscriber keeps: it must never have to change
        return made.subscription.id


def key_id_of(db: Callable[[], Any], subscription_id: str) -> str:
    with db() as session:
        key_id: str = session.scalars(select(Subscription.secret_key_id)
                                      .where(Subscription.id == subscription_id)).one()
        return key_id


# --- webhooks -------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("settings")
def test_webhook_secrets_survive_a_rotation_and_move_to_the_new_key(
        world: World, db: Callable[[], Any], sync_engine: Engine, receiver: Receiver,
        deploy: Callable[..., None]) -> None:
    deploy(KEY_A)
    sub_id = subscribe(db, receiver)
    assert key_id_of(db, sub_id) == secret_box(keys(KEY_A)).key_id

    deploy(KEY_B, KEY_A)  # the rotation: B signs from now on, A is still listed
    with db() as session:
        applications.apply(session, CIVIL, request(world.population))
    assert run_deliveries(sync_engine) == 1
    assert [r.verified for r in receiver.received] == [True], [r.error for r in receiver.received]
    assert len(receiver.accepted()) == 1

    done = reencrypt()
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"reencrypted": 1, "already_current": 0, "unreadable": 0,
                                       "unreadable_subscriptions": {}}
    assert key_id_of(db, sub_id) == secret_box(keys(KEY_B)).key_id
    again = reencrypt()
    assert json.loads(again.stdout)["reencrypted"] == 0
    assert json.loads(again.stdout)["already_current"] == 1

    deploy(KEY_B)  # A retired: the subscription no longer depends on it
    with db() as session:
        delivery_id = session.scalars(select(Delivery.id)).one()
        webhooks.replay(session, PSB, delivery_id)
    assert run_deliveries(sync_engine) == 1
    assert [r.verified for r in receiver.received] == [True, True], [r.error for r in receiver.received]
    with db() as session:
        assert session.get(Delivery, delivery_id).status == "delivered"


@pytest.mark.usefixtures("settings")
def test_without_the_old_key_listed_deliveries_fail_and_reencryption_reports_the_row(
        world: World, db: Callable[[], Any], sync_engine: Engine, receiver: Receiver,
        deploy: Callable[..., None]) -> None:
    deploy(KEY_A)
    lost = subscribe(db, receiver)
    deploy(KEY_C)
    kept = subscribe(db, receiver)
    deploy(KEY_B, KEY_C)  # A was never listed: what it sealed is out of reach
    with db() as session:
        applications.apply(session, CIVIL, request(world.population))
    run_deliveries(sync_engine)
    assert len(receiver.accepted()) == 1  # the subscription under C only
    with db() as session:
        dead = session.scalars(select(Delivery).where(Delivery.subscription_id == lost)).one()
        assert dead.status == "dead"
        assert "CPIP_PREVIOUS_SECRET_KEYS" in (dead.last_error or "")

    done = reencrypt()
    assert done.exit_code == 1
    report = json.loads(done.stdout)
    assert (report["reencrypted"], report["already_current"], report["unreadable"]) == (1, 0, 1)
    assert list(report["unreadable_subscriptions"]) == [lost]
    # The readable row was still moved; the unreadable one is left for its key to be found again.
    assert key_id_of(db, kept) == secret_box(keys(KEY_B)).key_id
    assert key_id_of(db, lost) == secret_box(keys(KEY_A)).key_id


@pytest.mark.usefixtures("settings")
def test_an_altered_secret_under_a_previous_key_is_reported_not_reencrypted(
        db: Callable[[], Any], sync_engine: Engine, receiver: Receiver, deploy: Callable[..., None]) -> None:
    deploy(KEY_A)
    sub_id = subscribe(db, receiver)
    with sync_engine.begin() as conn:
        token = conn.execute(select(Subscription.secret_ciphertext)).scalar_one()
        tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
        conn.execute(update(Subscription).where(Subscription.id == sub_id).values(secret_ciphertext=tampered))
    deploy(KEY_B, KEY_A)
    done = reencrypt()
    assert done.exit_code == 1
    assert "does not decrypt" in json.loads(done.stdout)["unreadable_subscriptions"][sub_id]
    assert key_id_of(db, sub_id) == secret_box(keys(KEY_A)).key_id


# --- manual indicator inputs --------------------------------------------------------------------------------


def test_a_manual_input_signed_under_the_old_key_verifies_while_it_is_listed(
        db: Callable[[], Any], settings: Settings) -> None:
    with db() as session:
        row = enter_input(session, keys(KEY_A, base=settings), name="departments_total", value=Decimal(8),
                          entered_by="张评估 (市大数据局)")
        signed_under_a = row.key_id
    scope = Scope(start=datetime(2026, 7, 1, tzinfo=UTC), upto=datetime(2026, 10, 1, tzinfo=UTC),
                  period_code="2026Q3")

    with db() as session:
        chosen = chosen_input(session, keys(KEY_B, KEY_A, base=settings), "departments_total", scope)
        assert chosen is not None
        assert chosen.value == 8
        assert chosen.key_id == signed_under_a  # it still names the key that signed it

    with db() as session:
        with pytest.raises(InputSignatureInvalid, match="CPIP_PREVIOUS_SECRET_KEYS") as refused:
            chosen_input(session, keys(KEY_B, base=settings), "departments_total", scope)
        assert signed_under_a in str(refused.value.detail)
        # Entered again, it is signed under the new key and A can go.
        fresh = enter_input(session, keys(KEY_B, KEY_A, base=settings), name="departments_total",
                            value=Decimal(8), entered_by="张评估 (市大数据局)")
        assert fresh.key_id != signed_under_a
        assert verify(fresh, keys(KEY_B, base=settings))
        assert not verify(fresh, keys(KEY_A, base=settings))
    with db() as session:
        newest = chosen_input(session, keys(KEY_B, base=settings), "departments_total", scope)
        assert newest is not None
        assert newest.id == fresh.id


def test_a_manual_input_altered_after_the_rotation_is_still_refused(
        db: Callable[[], Any], settings: Settings, sync_engine: Engine) -> None:
    with db() as session:
        enter_input(session, keys(KEY_A, base=settings), name="departments_total", value=Decimal(8),
                    entered_by="张评估 (市大数据局)")
    with sync_engine.begin() as conn:
        conn.execute(update(ManualInput).values(value=Decimal(4)))
    scope = Scope(start=datetime(2026, 7, 1, tzinfo=UTC), upto=datetime(2026, 10, 1, tzinfo=UTC))
    with db() as session, pytest.raises(InputSignatureInvalid, match="changed outside the platform"):
        chosen_input(session, keys(KEY_B, KEY_A, base=settings), "departments_total", scope)


# --- export links -------------------------------------------------------------------------------------------


def test_an_export_link_handed_out_before_the_rotation_works_while_the_old_key_is_listed(tmp_path: Path) -> None:
    export = Export(id="exp_rotation", status="ready", file_name="exp_rotation.ndjson",
                    expires_at=datetime.now(UTC) + timedelta(hours=1))
    link = exports.download_link(keys(KEY_A, base=Settings(export_dir=tmp_path)), export)
    assert link is not None
    query = parse_qs(urlsplit(link).query)
    expires, sig = int(query["expires"][0]), query["sig"][0]

    during = keys(KEY_B, KEY_A, base=Settings(export_dir=tmp_path))
    assert exports.check_link(during, export, expires, sig) == tmp_path / "exp_rotation.ndjson"
    # Links made now are signed under the new key only.
    fresh = parse_qs(urlsplit(exports.download_link(during, export) or "").query)["sig"][0]
    assert fresh != sig
    assert exports.check_link(keys(KEY_B, base=Settings(export_dir=tmp_path)), export, expires, fresh)

    with pytest.raises(ExportExpired, match="not valid"):
        exports.check_link(keys(KEY_B, base=Settings(export_dir=tmp_path)), export, expires, sig)
    with pytest.raises(ExportExpired, match="not valid"):  # a garbled link is refused, not a server error
        exports.check_link(during, export, expires, "签" * 64)
    # The old key still does not stretch a link past its expiry.
    with pytest.raises(ExportExpired, match="expired"):
        exports.check_link(during, export, expires, sig, now=datetime.now(UTC) + timedelta(hours=2))


def test_cpip_indicators_inputs_names_what_must_be_re_entered_before_a_key_goes(
        db: Callable[[], Any], settings: Settings, deploy: Callable[..., None]) -> None:
    with db() as session:
        old = enter_input(session, keys(KEY_A, base=settings), name="departments_total", value=Decimal(8),
                          entered_by="张评估")
        new = enter_input(session, keys(KEY_B, base=settings), name="departments_total", value=Decimal(9),
                          period="2026Q3", entered_by="张评估")
        old_id, new_id = old.id, new.id
    app = typer.Typer()
    app.callback()(lambda: None)
    register_cli(app, "indicators")

    def states() -> dict[int, str]:
        result = CliRunner().invoke(app, ["indicators", "inputs"])
        assert result.exit_code == 0, result.output
        return {int(line.split("\t")[0]): line.split("\t")[-1] for line in result.output.splitlines() if "\t" in line}

    deploy(KEY_B, KEY_A)
    assert states() == {old_id: "previous key: re-enter", new_id: "current key"}
    deploy(KEY_B)
    assert states() == {old_id: "UNKNOWN KEY: refused", new_id: "current key"}
