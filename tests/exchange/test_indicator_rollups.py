"""Issue 8 scale: the monthly rollup level is always the exact sum of its days, and re-rolling a day (a late
audit event) refreshes its month, so rollups and a full recount of the log keep agreeing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from cpip.settings import Settings
from exchange.indicators import service
from exchange.indicators.models import CallRollup, CallRollupMonth, RollupMonth
from exchange.indicators.rollups import KEYS, roll_day, roll_missing
from tests.exchange.indicator_history import CIVIL, History, audit, build
from tests.support.exchange_world import local


def _q3(db: Callable[[], Any], settings: Settings, **kw: Any) -> dict[str, Any]:
    with db() as s:
        return service.compute(s, settings, period="2026Q3", **kw)


def _by_key(rows: list[Any]) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for row in rows:
        out[tuple(getattr(row, k) for k in KEYS)] += row.events
    return out


def test_each_month_is_the_exact_sum_of_its_daily_rollups(db: Callable[[], Any], settings: Settings) -> None:
    build(db)
    with db() as s:
        roll_missing(s)
    with db() as s:
        months = list(s.scalars(select(RollupMonth.month).order_by(RollupMonth.month)))
        # June starts rolling on the first event's day (30 Jun), so June is never whole: days only.
        assert [m.isoformat()[:7] for m in months[:3]] == ["2026-07", "2026-08", "2026-09"]
        for month in months[:3]:
            nxt = month.replace(month=month.month + 1)
            days = list(s.scalars(select(CallRollup).where(CallRollup.day >= month, CallRollup.day < nxt)))
            monthly = list(s.scalars(select(CallRollupMonth).where(CallRollupMonth.month == month)))
            assert _by_key(monthly) == _by_key(days)
            assert len(monthly) == len(_by_key(days))  # one row per key
    with db() as s:
        detail = service.explain(s, settings, period="2026Q3", indicator="M1")["measure"]["detail"]
    assert detail["rolled_up_months"] == ["2026-07", "2026-08", "2026-09"]


def test_a_late_event_rolled_again_into_its_day_reaches_the_month(db: Callable[[], Any],
                                                                   settings: Settings) -> None:
    h: History = build(db)
    with db() as s:
        roll_missing(s)
    before = _q3(db, settings)
    with db() as s:  # written after 15 Aug was rolled up, e.g. by a writer that was down that day
        audit(s, CIVIL, local(2026, 8, 15, 9), h.ent, action="exchange.records.read", api="rest", latency_ms=12)
    assert _q3(db, settings)["counts"] == before["counts"]  # the rollups are a snapshot until re-rolled
    assert _q3(db, settings, use_rollups=False)["counts"]["calls_total"] == before["counts"]["calls_total"] + 1
    with db() as s:
        roll_day(s, local(2026, 8, 15).date())
    after = _q3(db, settings)
    assert after["counts"]["calls_total"] == before["counts"]["calls_total"] + 1
    assert after["counts"]["share_calls"] == before["counts"]["share_calls"] + 1
    assert after["counts"] == _q3(db, settings, use_rollups=False)["counts"]
