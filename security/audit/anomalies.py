"""The anomaly report: unusual volume per principal, bursts of denials, personal-data reads out of hours.

Days are local days in the audit time zone (CPIP_AUDIT_TIMEZONE, Asia/Shanghai by default), turned into UTC
ranges here so the queries are the same on both back ends and use the occurred_at index. Working hours are
CPIP_AUDIT_WORKING_HOURS on working days of the official calendar (`cpip.holidays`): a read of personal records
on 春节 or 国庆 is out of hours, one on an adjusted working Saturday (调休上班) is not. A day the calendar does not
cover yet falls back to Monday–Friday, and the report says so.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpip.clock import utcnow
from cpip.errors import BadRequest
from cpip.holidays import calendar_in_force
from cpip.settings import Settings
from security.audit.events import Outcome
from security.audit.models import AuditEvent, AuditSubject
from security.audit.schemas import AnomalyParams, AnomalyReport, DenialBurst, OffHoursRead, VolumeAnomaly


def working_hours(spec: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(part.strip()) for part in spec.split("-", 1))
    except ValueError as exc:
        raise BadRequest(f"CPIP_AUDIT_WORKING_HOURS must look like 08:30-18:00, not {spec!r}") from exc
    if start >= end:
        raise BadRequest("CPIP_AUDIT_WORKING_HOURS must start before it ends")
    return start, end


def _day_range(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


async def _volumes(session: AsyncSession, start: datetime, end: datetime) -> dict[str, int]:
    rows = await session.execute(
        select(AuditEvent.principal, func.count()).where(AuditEvent.occurred_at >= start,
                                                         AuditEvent.occurred_at < end)
        .group_by(AuditEvent.principal))
    return {principal: int(count) for principal, count in rows.all()}


async def _volume_anomalies(session: AsyncSession, params: AnomalyParams, day: date,
                            zone: ZoneInfo) -> list[VolumeAnomaly]:
    today = await _volumes(session, *_day_range(day, zone))
    history: dict[str, list[int]] = defaultdict(lambda: [0] * params.baseline_days)
    for i in range(params.baseline_days):
        for principal, count in (await _volumes(session, *_day_range(day - timedelta(days=i + 1), zone))).items():
            history[principal][i] = count
    departments = dict((await session.execute(
        select(AuditEvent.principal, func.max(AuditEvent.department))
        .where(AuditEvent.principal.in_(list(today))).group_by(AuditEvent.principal))).all()) if today else {}
    found: list[VolumeAnomaly] = []
    for principal, count in sorted(today.items()):
        # A principal new to the platform has a baseline of zeros: min_volume keeps its first day quiet.
        past = history[principal]
        mean = statistics.fmean(past)
        spread = statistics.pstdev(past)
        threshold = mean + params.sigma * spread
        if count >= params.min_volume and count > threshold:
            found.append(VolumeAnomaly(principal=principal, department=departments.get(principal), count=count,
                                       baseline_mean=round(mean, 2), baseline_stddev=round(spread, 2),
                                       threshold=round(threshold, 2)))
    return found


async def _denial_bursts(session: AsyncSession, params: AnomalyParams, start: datetime,
                         end: datetime) -> list[DenialBurst]:
    rows = (await session.execute(
        select(AuditEvent.principal, AuditEvent.ip, AuditEvent.occurred_at)
        .where(AuditEvent.outcome == Outcome.denied.value, AuditEvent.occurred_at >= start,
               AuditEvent.occurred_at < end)
        .order_by(AuditEvent.occurred_at))).all()
    # Anonymous callers are told apart by address; everyone else by who they are.
    by_actor: dict[tuple[str, str | None], list[datetime]] = defaultdict(list)
    for principal, ip, at in rows:
        by_actor[(principal, ip if principal == "anonymous" else None)].append(at)
    window = timedelta(minutes=params.denial_window_minutes)
    bursts: list[DenialBurst] = []
    for (principal, ip), times in sorted(by_actor.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        best: tuple[int, int] | None = None
        lo = 0
        for hi, at in enumerate(times):
            while at - times[lo] > window:
                lo += 1
            if hi - lo + 1 >= params.denial_threshold and (best is None or hi - lo > best[1] - best[0]):
                best = (lo, hi)
        if best is not None:
            bursts.append(DenialBurst(principal=principal, ip=ip, denials=best[1] - best[0] + 1,
                                      first_at=times[best[0]], last_at=times[best[1]]))
    return bursts


def working_day(settings: Settings, day: date) -> tuple[bool, str]:
    """Whether `day` is a working day, and by which calendar that was decided."""
    calendar = calendar_in_force(settings.holiday_calendar_file)
    if calendar.covers(day):
        return calendar.is_working_day(day), f"official holiday calendar ({calendar.describe_coverage()})"
    return day.weekday() < 5, (f"Monday–Friday: the official holiday calendar covers "
                               f"{calendar.describe_coverage()}, not {day.year} (CPIP_HOLIDAY_CALENDAR_FILE)")


async def _off_hours(session: AsyncSession, settings: Settings, start: datetime, end: datetime,
                     zone: ZoneInfo, is_working_day: bool) -> list[OffHoursRead]:
    opens, closes = working_hours(settings.audit_working_hours)
    rows = (await session.scalars(
        select(AuditEvent).where(AuditEvent.outcome == Outcome.allowed.value, AuditEvent.occurred_at >= start,
                                 AuditEvent.occurred_at < end,
                                 exists().where(AuditSubject.event_id == AuditEvent.id))
        .order_by(AuditEvent.occurred_at))).all()
    found: list[OffHoursRead] = []
    for event in rows:
        if not event.subject_keys:
            continue  # no personal record was read
        local = event.occurred_at.astimezone(zone)
        if is_working_day and opens <= local.time() < closes:
            continue
        found.append(OffHoursRead(event_id=event.id, principal=event.principal, department=event.department,
                                  resource=event.resource, occurred_at=event.occurred_at,
                                  local_time=local.isoformat(timespec="seconds"), record_count=event.record_count,
                                  subjects=len(event.subject_keys)))
    return found


async def anomaly_report(session: AsyncSession, settings: Settings, params: AnomalyParams) -> AnomalyReport:
    zone = ZoneInfo(settings.audit_timezone)
    day = params.day or utcnow().astimezone(zone).date()
    start, end = _day_range(day, zone)
    is_working_day, calendar = working_day(settings, day)
    return AnomalyReport(
        day=day, timezone=settings.audit_timezone, working_hours=settings.audit_working_hours,
        working_day=is_working_day, calendar=calendar,
        volume=await _volume_anomalies(session, params, day, zone),
        denial_bursts=await _denial_bursts(session, params, start, end),
        off_hours_personal_reads=await _off_hours(session, settings, start, end, zone, is_working_day),
    )
