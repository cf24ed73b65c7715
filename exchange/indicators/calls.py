"""Audit events as the indicators see them: per-key counts over a window, from monthly rollups where a whole local
month is rolled up, from daily rollups where a whole local day is, and from the raw log everywhere else, so every
path gives exactly the same numbers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Select, and_, case, func, literal_column, select
from sqlalchemy.orm import Session

from exchange.indicators.models import CallRollup, CallRollupMonth, RollupDay, RollupMonth
from exchange.indicators.periods import local_midnight
from exchange.workdays import local_date
from security.audit.models import AuditEvent

AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"

DATA_APIS = ("rest", "graphql", "export", "feed")
SHARE_KINDS = ("person", "service_account")
OPEN_DATA_PREFIX = "open-data."
# Latency histogram bounds (ms): the 95th percentile is reported as the bound of its bucket.
BOUNDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000)
NO_LATENCY = -1


def bucket_of(latency_ms: float | None) -> int:
    if latency_ms is None:
        return NO_LATENCY
    for index, bound in enumerate(BOUNDS):
        if latency_ms <= bound:
            return index
    return len(BOUNDS) - 1  # 60 s or more shares the last bucket


def bucket_sql() -> ColumnElement[int]:
    # Literal columns, not bound parameters: PostgreSQL only matches a GROUP BY expression to the selected one
    # when their text is identical, and each bound parameter gets its own placeholder.
    latency = AuditEvent.latency_ms
    whens: list[tuple[ColumnElement[bool], Any]] = [(latency.is_(None), literal_column(str(NO_LATENCY)))]
    whens += [(latency <= literal_column(str(b)), literal_column(str(i))) for i, b in enumerate(BOUNDS)]
    return case(*whens, else_=literal_column(str(len(BOUNDS) - 1)))


@dataclass(frozen=True)
class CallRow:
    department: str
    client_id: str
    principal_kind: str
    resource: str
    action: str
    api: str
    outcome: str
    bucket: int
    events: int

    @property
    def is_open_data(self) -> bool:
        return self.action.startswith(OPEN_DATA_PREFIX)

    @property
    def is_share(self) -> bool:
        return self.principal_kind in SHARE_KINDS and bool(self.department) and not self.is_open_data


def _key_columns() -> list[Any]:
    empty: ColumnElement[str] = literal_column("''")
    return [func.coalesce(AuditEvent.department, empty), func.coalesce(AuditEvent.client_id, empty),
            AuditEvent.principal_kind, AuditEvent.resource, AuditEvent.action, AuditEvent.api, AuditEvent.outcome]


def raw_grouped(start: datetime, end: datetime) -> AnySelect:
    """Per-key counts of the raw audit events in [start, end)."""
    keys = [*_key_columns(), bucket_sql()]
    return (select(*keys, func.count())
            .where(AuditEvent.occurred_at >= start, AuditEvent.occurred_at < end)
            .group_by(*[literal_column(str(i + 1)) for i in range(len(keys))]))


def _rolled_grouped(days: list[date]) -> AnySelect:
    keys = [CallRollup.department, CallRollup.client_id, CallRollup.principal_kind, CallRollup.resource,
            CallRollup.action, CallRollup.api, CallRollup.outcome, CallRollup.latency_bucket]
    return select(*keys, func.sum(CallRollup.events)).where(CallRollup.day.in_(days)).group_by(*keys)


def _month_grouped(months: list[date]) -> AnySelect:
    m = CallRollupMonth
    keys = [m.department, m.client_id, m.principal_kind, m.resource, m.action, m.api, m.outcome, m.latency_bucket]
    return select(*keys, func.sum(m.events)).where(m.month.in_(months)).group_by(*keys)


@dataclass(frozen=True)
class Coverage:
    months: list[date]        # first days of the whole months read from monthly rollups
    days: list[date]          # the other whole days read from daily rollups
    raw_intervals: list[tuple[datetime, datetime]]

    @property
    def rolled_days(self) -> list[date]:
        """Every day the rollups cover, through a month or on its own."""
        in_months = [d for m in self.months for d in days_of_month(m)]
        return sorted([*in_months, *self.days])


def days_of_month(month: date) -> list[date]:
    following = (month + timedelta(days=32)).replace(day=1)
    return [month + timedelta(days=i) for i in range((following - month).days)]


def coverage(session: Session, start: datetime, end: datetime, use_rollups: bool) -> Coverage:
    """Which whole local days of [start, end) come from rollups, and which intervals from the raw log."""
    if not use_rollups:
        return Coverage([], [], [(start, end)])
    first, last = local_date(start), local_date(end)
    whole = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    whole = [d for d in whole if local_midnight(d) >= start and local_midnight(d + timedelta(days=1)) <= end]
    rolled = set(session.scalars(select(RollupDay.day).where(RollupDay.day.in_(whole)))) if whole else set()
    intervals: list[tuple[datetime, datetime]] = []
    cursor = start
    for day in sorted(rolled):
        day_start = local_midnight(day)
        if cursor < day_start:
            intervals.append((cursor, day_start))
        cursor = local_midnight(day + timedelta(days=1))
    if cursor < end:
        intervals.append((cursor, end))
    # A month counts only when the window holds all of it and all of it is rolled up day by day.
    candidates = {d.replace(day=1) for d in rolled}
    candidates = {m for m in candidates if set(days_of_month(m)) <= rolled}
    months = sorted(session.scalars(select(RollupMonth.month).where(RollupMonth.month.in_(candidates)))) \
        if candidates else []
    in_months = {d for m in months for d in days_of_month(m)}
    return Coverage(months, sorted(rolled - in_months), intervals)


def _rows(result: Iterable[Any]) -> list[CallRow]:
    return [CallRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]), int(r[7]),
                    int(r[8])) for r in result]


def call_rows(session: Session, cover: Coverage) -> list[CallRow]:
    """Per-key counts over the covered window; keys repeat across sources and are summed by the caller."""
    rows: list[CallRow] = []
    if cover.months:
        rows += _rows(session.execute(_month_grouped(cover.months)))
    if cover.days:
        rows += _rows(session.execute(_rolled_grouped(cover.days)))
    for start, end in cover.raw_intervals:
        rows += _rows(session.execute(raw_grouped(start, end)))
    return rows


def in_window(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(AuditEvent.occurred_at >= start, AuditEvent.occurred_at < end)
