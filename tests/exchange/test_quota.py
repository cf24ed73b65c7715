"""Grant quotas: requests and records per local day, in memory or shared through a real Redis, failing closed."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

import pytest

from cpip.errors import ServiceUnavailable
from exchange.errors import QuotaExceeded
from exchange.grants.models import Grant
from exchange.grants.quota import Quotas
from tests.support.exchange_world import local
from tests.support.redis_server import free_port, redis_url

__all__ = ["redis_url"]  # fixture used by this module


def grant(requests: int | None = 2, records: int | None = 5) -> Grant:
    return Grant(id="grt_" + secrets.token_hex(6), requests_per_day=requests, records_per_day=records)


async def test_requests_and_records_per_local_day(pin_clock: Callable[[datetime], None]) -> None:
    pin_clock(local(2026, 11, 26, 23, 0))
    quotas, g = Quotas(), grant()
    state = await quotas.charge_request(g)
    assert (state.requests_left, state.records_left) == (1, 5)
    await quotas.charge_records(g, 4)
    assert (await quotas.charge_request(g)).records_left == 1
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.charge_request(g)
    assert caught.value.extensions["quota"] == "requests"
    assert caught.value.extensions["headers"] == {"Retry-After": "3600"}  # local midnight is an hour away
    pin_clock(local(2026, 11, 27, 0, 0))  # a new local day, a new budget
    assert (await quotas.charge_request(g)).requests_left == 1
    await quotas.charge_records(g, 5)
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.charge_request(g)
    assert caught.value.extensions["quota"] == "records"


async def test_unlimited_grants_are_not_counted() -> None:
    state = await Quotas().charge_request(grant(None, None))
    assert (state.requests_left, state.records_left) == (None, None)


async def test_two_gateway_pods_share_one_budget_through_redis(redis_url: str) -> None:
    pod_a, pod_b, g = Quotas(redis_url), Quotas(redis_url), grant(requests=3)
    await pod_a.charge_request(g)
    await pod_b.charge_request(g)
    assert (await pod_a.charge_request(g)).requests_left == 0
    with pytest.raises(QuotaExceeded):
        await pod_b.charge_request(g)


async def test_an_unreachable_counter_store_refuses_the_read() -> None:
    with pytest.raises(ServiceUnavailable):
        await Quotas(f"redis://127.0.0.1:{free_port()}/0").charge_request(grant())
