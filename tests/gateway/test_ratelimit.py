"""The open-data limiter's counters: per process in memory, shared between gateway pods through Redis."""

from __future__ import annotations

import time

import pytest

from cpip.errors import TooManyRequests
from cpip.settings import ConfigurationError, Settings
from gateway.ratelimit import RateLimits
from tests.support.redis_server import free_port, redis_url

__all__ = ["redis_url"]  # fixture used by this module


def _limits(**settings: str | None) -> RateLimits:
    return RateLimits(Settings(open_data_anonymous_rate="2/minute", **settings))  # type: ignore[arg-type]


async def test_two_pods_share_one_budget_through_redis(redis_url: str) -> None:
    pod_a, pod_b = _limits(redis_url=redis_url), _limits(redis_url=redis_url)
    ip = f"198.51.100.{int(time.time() * 1000) % 250}"
    assert await pod_a.hit(pod_a.anonymous, "open-data", "ip", ip) == 1
    assert await pod_b.hit(pod_b.anonymous, "open-data", "ip", ip) == 0
    with pytest.raises(TooManyRequests) as over:
        await pod_a.hit(pod_a.anonymous, "open-data", "ip", ip)
    assert 1 <= int(over.value.extensions["headers"]["Retry-After"]) <= 60


async def test_memory_counters_are_per_process() -> None:
    pod_a, pod_b = _limits(), _limits()
    for pod in (pod_a, pod_b):
        await pod.hit(pod.anonymous, "open-data", "ip", "192.0.2.1")
        await pod.hit(pod.anonymous, "open-data", "ip", "192.0.2.1")
    with pytest.raises(TooManyRequests):
        await pod_b.hit(pod_b.anonymous, "open-data", "ip", "192.0.2.1")


async def test_unreachable_redis_lets_open_data_through() -> None:
    # An outage of the counter store must not take open data down with it (it is logged instead).
    limits = _limits(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert await limits.hit(limits.anonymous, "open-data", "ip", "192.0.2.2") == 2


def test_a_bad_rate_setting_is_refused_at_startup() -> None:
    with pytest.raises(ConfigurationError, match="CPIP_OPEN_DATA_ANONYMOUS_RATE"):
        RateLimits(Settings(open_data_anonymous_rate="lots"))
