"""Grant quotas: requests and records per local day, in memory or shared through a real Redis, failing closed."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from cpip.errors import ServiceUnavailable
from exchange.errors import QuotaExceeded
from exchange.grants.models import Grant
from exchange.grants.quota import Quotas
from tests.support.exchange_world import local


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed; the Redis back end is not exercised here")
    port = _free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


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
        await Quotas(f"redis://127.0.0.1:{_free_port()}/0").charge_request(grant())
