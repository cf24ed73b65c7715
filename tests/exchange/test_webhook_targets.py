"""Webhook SSRF defences: https only, public addresses only (every resolved address), checked when subscribing
and again at delivery, with the delivery connecting to the address that was checked (DNS rebinding).

Host names under `.test` (RFC 6761) never resolve in real DNS; where a test needs a name to answer with chosen
addresses, it replaces `exchange.webhooks.targets.getaddrinfo` as a DNS server under the attacker's control would
answer. IP literals are judged without any lookup."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from cpip.settings import get_settings
from exchange.applications import service as applications
from exchange.webhooks import jobs as _jobs  # noqa: F401 - registers the delivery job
from exchange.webhooks import service as webhooks
from exchange.webhooks import targets
from exchange.webhooks.models import Delivery
from exchange.webhooks.targets import WebhookTargetRefused, check_target
from tests.exchange.test_applications import CIVIL, PSB, request
from tests.support.auth_fixtures import bearer
from tests.support.exchange_world import World
from tests.support.webhook_receiver import Receiver, receiver, run_deliveries

__all__ = ["receiver"]

PUBLIC = "93.184.215.14"


@pytest.fixture
def production_targets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CPIP_WEBHOOK_ALLOW_PRIVATE_TARGETS at its production default (off) for this test."""
    monkeypatch.setenv("CPIP_WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    get_settings.cache_clear()
    yield
    monkeypatch.setenv("CPIP_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    get_settings.cache_clear()


class Dns:
    """Answers for chosen names, like a DNS server the subscriber controls; every lookup is counted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        real = socket.getaddrinfo

        def lookup(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
            self.lookups.append(host)
            if host not in self.answers:
                return real(host, port, *args, **kwargs)
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in self.answers[host]]

        monkeypatch.setattr(targets, "getaddrinfo", lookup)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Dns:
    return Dns(monkeypatch)


@pytest.mark.parametrize(("url", "kind"), [
    ("https://127.0.0.1/hook", "loopback"),
    ("https://localhost:8443/hook", "loopback"),                      # resolved for real
    ("https://10.20.30.40/hook", "private"),
    ("https://192.168.1.10/hook", "private"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),       # cloud metadata
    ("https://[fe80::1]/hook", "link-local"),
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),                   # IPv4-mapped IPv6
    ("https://[64:ff9b::a00:1]/hook", "private"),                      # NAT64 of 10.0.0.1
    ("https://224.0.0.251/hook", "multicast"),
    ("https://240.0.0.1/hook", "reserved"),
    ("https://100.64.0.1/hook", "reserved"),                           # carrier-grade NAT, not public
    ("https://0.0.0.0/hook", "unspecified"),
])
def test_non_public_addresses_are_refused(url: str, kind: str) -> None:
    with pytest.raises(WebhookTargetRefused) as caught:
        check_target(url, allow_private=False)
    assert f"a {kind} address" in caught.value.detail
    assert caught.value.status == 422
    assert caught.value.extensions["errors"][0]["field"] == "body.url"


def test_only_https_to_public_addresses_is_accepted() -> None:
    assert check_target(f"https://{PUBLIC}:8443/hook?x=1", allow_private=False).addresses[0].compressed == PUBLIC
    for url, reason in ((f"http://{PUBLIC}/hook", "must be an https:// URL"),
                        (f"ftp://{PUBLIC}/hook", "must be an https:// URL"),
                        (f"https://user:pw@{PUBLIC}/hook", "user name or password"),
                        ("https://no-such-host.invalid/hook", "does not resolve")):
        with pytest.raises(WebhookTargetRefused, match=reason):
            check_target(url, allow_private=False)


def test_every_resolved_address_must_be_public(dns: Dns) -> None:
    dns.answers["mixed.example.test"] = [PUBLIC, "10.0.0.8"]
    with pytest.raises(WebhookTargetRefused, match=r"resolves to 10\.0\.0\.8, a private address"):
        check_target("https://mixed.example.test/hook", allow_private=False)
    dns.answers["v6.example.test"] = ["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::1"]
    with pytest.raises(WebhookTargetRefused, match="loopback"):
        check_target("https://v6.example.test/hook", allow_private=False)


def test_the_development_setting_opens_private_targets_and_http_to_loopback_only() -> None:
    assert check_target("http://127.0.0.1:9/hook", allow_private=True)
    assert check_target("https://10.20.30.40/hook", allow_private=True)
    with pytest.raises(WebhookTargetRefused, match="https"):
        check_target("http://10.20.30.40/hook", allow_private=True)
    with pytest.raises(WebhookTargetRefused, match="multicast"):
        check_target("https://224.0.0.251/hook", allow_private=True)


async def test_refusals_are_422_problems_naming_the_field(client: httpx.AsyncClient,
                                                          token_for: Callable[[str], str]) -> None:
    psb = bearer(token_for("dept-psb"))
    response = await client.post("/api/v1/exchange/subscriptions", headers=psb, json={
        "url": "http://10.1.2.3/hook", "events": ["application.submitted"]})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "/problems/exchange-webhook-target-refused"
    assert problem["errors"][0]["field"] == "body.url"
    assert "https" in problem["errors"][0]["message"]
    listed = await client.get("/api/v1/exchange/subscriptions", headers=psb)
    assert listed.json() == []  # nothing was stored


async def test_production_refuses_the_metadata_address_over_the_api(
        client: httpx.AsyncClient, token_for: Callable[[str], str], production_targets: None) -> None:
    response = await client.post("/api/v1/exchange/subscriptions", headers=bearer(token_for("dept-psb")), json={
        "url": "https://169.254.169.254/latest/meta-data/", "events": ["application.submitted"]})
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "body.url", "rule": "webhook_target",
        "message": "host 169.254.169.254 resolves to 169.254.169.254, a link-local address; webhooks go to public "
                   "addresses only"}


def test_a_name_rebound_to_loopback_after_subscribing_gets_nothing(
        world: World, db: Callable[[], Any], sync_engine: Engine, receiver: Receiver, dns: Dns,
        production_targets: None) -> None:
    port = receiver.server.server_address[1]
    dns.answers["rebind.example.test"] = [PUBLIC]
    with db() as session:
        webhooks.create_subscription(session, PSB, webhooks.SubscriptionCreate(
            url=f"https://rebind.example.test:{port}/hook", events=["application.submitted"]))
    dns.answers["rebind.example.test"] = ["127.0.0.1"]  # the attacker's DNS now points at the platform itself
    with db() as session:
        applications.apply(session, CIVIL, request(world.population))
    run_deliveries(sync_engine, rounds=1)
    assert receiver.received == []
    with db() as session:
        delivery = session.scalars(select(Delivery)).one()
    assert delivery.status == "pending"  # an attempt that failed; retried, dead-lettered at the last attempt
    assert delivery.attempts == 1
    assert delivery.last_error is not None
    assert "target refused" in delivery.last_error
    assert "resolves to 127.0.0.1, a loopback address" in delivery.last_error


def test_the_delivery_connects_to_the_address_it_checked(
        world: World, db: Callable[[], Any], sync_engine: Engine, receiver: Receiver, dns: Dns) -> None:
    # hooks.example.test exists only in the checked answer: were the HTTP client to resolve the name again
    # itself (the window DNS rebinding uses), the delivery could not connect at all.
    port = receiver.server.server_address[1]
    dns.answers["hooks.example.test"] = ["127.0.0.1"]
    with db() as session:
        made = webhooks.create_subscription(session, PSB, webhooks.SubscriptionCreate(
            url=f"http://hooks.example.test:{port}/hook", events=["application.submitted"]))
        receiver.secrets.append(made.secret)
    with db() as session:
        applications.apply(session, CIVIL, request(world.population))
    dns.lookups.clear()
    assert run_deliveries(sync_engine) == 1
    assert [r.verified for r in receiver.accepted()] == [True]
    assert dns.lookups == ["hooks.example.test"]  # one lookup, by the check, at delivery time
