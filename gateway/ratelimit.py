"""Rate limits for open-data reads: per client IP for anonymous callers, per key for API-key holders.

Usage on an open-data route:

    @router.get("/api/v1/open-data/…")
    async def read(principal: OpenDataReader) -> …

`OpenDataReader` demands `open-data:read` (through `requires`, so the route declares its permission) and
then counts the call. Counters live in memory by default (one process) and in Redis when `CPIP_REDIS_URL`
is set, so several gateway pods share one budget per client. Over the limit: 429 problem+json with
`Retry-After`. Signed-in departments and people are not limited here; their grants carry quotas.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Annotated

from fastapi import Depends, Request, Response
from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter

from cpip.counters import counter_storage
from cpip.errors import TooManyRequests
from cpip.settings import ConfigurationError, Settings
from gateway.auth import requires
from security.permissions import Permission
from security.principals import Principal, PrincipalKind

log = logging.getLogger("cpip.gateway.ratelimit")


def _parse(rate: str, setting: str) -> RateLimitItem:
    try:
        return parse(rate)
    except ValueError as exc:
        raise ConfigurationError(f"CPIP_{setting.upper()}={rate!r} is not a rate such as '60/minute'") from exc


class RateLimits:
    """One limiter per gateway process; the counters themselves may be shared (Redis)."""

    def __init__(self, settings: Settings) -> None:
        self.anonymous = _parse(settings.open_data_anonymous_rate, "open_data_anonymous_rate")
        self.api_key = _parse(settings.open_data_api_key_rate, "open_data_api_key_rate")
        self.storage = counter_storage(settings.redis_url)
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> int:
        """Count one call; the calls left in the window, or 429 with Retry-After when none are."""
        try:
            allowed = await self.limiter.hit(item, *identifiers)
            stats = await self.limiter.get_window_stats(item, *identifiers)
        except Exception:  # the counter store is down: open data stays readable, and we say so in the log
            log.warning("rate-limit storage unavailable; request allowed", exc_info=True)
            return item.amount
        if not allowed:
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise TooManyRequests(
                f"at most {item.amount} requests per {item.multiples} {item.GRANULARITY.name}; "
                f"retry in {retry_after} s, or use an API key for a higher limit",
                retry_after=retry_after, headers={"Retry-After": str(retry_after)})
        return stats.remaining


def rate_limits(request: Request) -> RateLimits:
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    if limits is None:
        limits = RateLimits(request.app.state.settings)
        request.app.state.rate_limits = limits
    return limits


async def count_open_data_read(request: Request, principal: Principal) -> tuple[int, int] | None:
    """Count one open-data read by an anonymous or API-key caller: (limit, remaining), or 429.

    None for signed-in people and departments, who are not limited here.
    """
    limits = rate_limits(request)
    if principal.kind is PrincipalKind.anonymous:
        item, identity = limits.anonymous, ("ip", principal.ip or "unknown")
    elif principal.kind is PrincipalKind.api_key:
        item, identity = limits.api_key, ("key", principal.api_key_id or principal.subject)
    else:
        return None
    return item.amount, await limits.hit(item, "open-data", *identity)


async def open_data_reader(
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(requires(Permission.open_data_read))],
) -> Principal:
    counted = await count_open_data_read(request, principal)
    if counted is not None:
        response.headers["X-RateLimit-Limit"] = str(counted[0])
        response.headers["X-RateLimit-Remaining"] = str(counted[1])
    return principal


OpenDataReader = Annotated[Principal, Depends(open_data_reader)]
