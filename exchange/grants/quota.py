"""Daily quotas of a grant: requests per day and records per day, counted with the `limits` library.

Counters live in process memory by default (the embedded single-process deployment) and in Redis when
`CPIP_REDIS_URL` is set, so every gateway pod draws on one budget per grant. A "day" is the local calendar
day (Asia/Shanghai): a quota used up today resets at local midnight, which is what `Retry-After` says.

The records quota is checked before a page is read (the page is cut to what is left) and charged with the
number actually delivered; two concurrent requests may together overshoot it by at most one page.
If the counter store is unreachable the read is refused (503): a grant's quota limits how much restricted
data leaves, so it fails closed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from limits import RateLimitItemPerDay
from limits.aio.strategies import FixedWindowRateLimiter

from cpip.clock import utcnow
from cpip.counters import counter_storage
from cpip.errors import ServiceUnavailable
from exchange.errors import QuotaExceeded
from exchange.grants.models import Grant
from exchange.workdays import end_of_local_day, local_date

log = logging.getLogger("cpip.exchange.quota")


@dataclass(frozen=True)
class QuotaState:
    requests_left: int | None
    records_left: int | None


def _retry_after(now: datetime) -> int:
    return max(1, math.ceil((end_of_local_day(local_date(now)) - now) / timedelta(seconds=1)))


class Quotas:
    def __init__(self, redis_url: str | None = None) -> None:
        self.storage = counter_storage(redis_url)
        self.limiter = FixedWindowRateLimiter(self.storage)

    def _ids(self, grant: Grant, what: str, now: datetime) -> tuple[str, ...]:
        return ("exchange-grant", grant.id, what, local_date(now).isoformat())

    def _exceeded(self, grant: Grant, what: str, amount: int, now: datetime) -> QuotaExceeded:
        retry = _retry_after(now)
        return QuotaExceeded(
            f"grant {grant.id} allows {amount} {what} per day and today's are used up; retry in {retry} s "
            f"(local midnight)", grant_id=grant.id, quota=what, limit=amount, retry_after=retry,
            headers={"Retry-After": str(retry)})

    async def charge_request(self, grant: Grant) -> QuotaState:
        """Count one request; 429 when the day's requests are used up or no records are left."""
        now = utcnow()
        try:
            requests_left = None
            if grant.requests_per_day is not None:
                item = RateLimitItemPerDay(grant.requests_per_day)
                ids = self._ids(grant, "requests", now)
                if not await self.limiter.hit(item, *ids):
                    raise self._exceeded(grant, "requests", grant.requests_per_day, now)
                requests_left = (await self.limiter.get_window_stats(item, *ids)).remaining
            records_left = await self.records_left(grant, now)
        except QuotaExceeded:
            raise
        except Exception as exc:
            log.warning("quota storage unavailable; read refused", exc_info=True)
            raise ServiceUnavailable("the quota counters are unavailable; try again shortly") from exc
        if records_left == 0:
            assert grant.records_per_day is not None
            raise self._exceeded(grant, "records", grant.records_per_day, now)
        return QuotaState(requests_left, records_left)

    async def records_left(self, grant: Grant, now: datetime | None = None) -> int | None:
        if grant.records_per_day is None:
            return None
        item = RateLimitItemPerDay(grant.records_per_day)
        stats = await self.limiter.get_window_stats(item, *self._ids(grant, "records", now or utcnow()))
        return int(stats.remaining)

    async def charge_records(self, grant: Grant, count: int) -> None:
        if grant.records_per_day is None or count <= 0:
            return
        item = RateLimitItemPerDay(grant.records_per_day)
        try:
            await self.limiter.hit(item, *self._ids(grant, "records", utcnow()), cost=count)
        except Exception as exc:
            raise ServiceUnavailable("the quota counters are unavailable; try again shortly") from exc
