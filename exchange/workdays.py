"""Working-day deadlines on the official Chinese holiday calendar (国务院办公厅 notices, adjusted working
weekends included), as the `chinesecalendar` package encodes them.

A deadline of N working days counts the N working days *after* the day of submission (the day itself never
counts, whatever time it was submitted), in the platform's local time. The deadline is the end of that day.
The package only knows the years whose notice has been published; a deadline that would need a later year is
refused with `HolidayCalendarOutdated` rather than guessed from weekends alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from cpip.errors import ProblemError

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


class HolidayCalendarOutdated(ProblemError):
    """The installed holiday calendar has no official data for a date the deadline depends on: update the
    `chinesecalendar` package once the State Council has published that year's notice."""

    slug, status, title = "holiday-calendar-outdated", 503, "The official holiday calendar does not cover this date"


def _known_years() -> tuple[int, int]:
    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return min(years), max(years)


FIRST_YEAR, LAST_YEAR = _known_years()


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day: Monday–Friday unless a public holiday, or an adjusted working weekend."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise HolidayCalendarOutdated(
            f"the official holiday calendar known to this platform covers {FIRST_YEAR}–{LAST_YEAR}; {day} is "
            f"outside it, so no working-day deadline can be computed (update the chinesecalendar package)",
            covered_from=f"{FIRST_YEAR}-01-01", covered_until=f"{LAST_YEAR}-12-31", date=day.isoformat())
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:  # the package's own range check, should its data be partial
        raise HolidayCalendarOutdated(f"the official holiday calendar has no data for {day}",
                                      date=day.isoformat()) from exc


def add_working_days(start: date, days: int) -> date:
    """The `days`-th working day after `start` (`start` itself not counted)."""
    if days < 1:
        raise ValueError("a working-day deadline needs at least one day")
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def end_of_local_day(day: date) -> datetime:
    """The first instant after `day` in local time, as UTC: a deadline on `day` is missed from this instant."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=LOCAL_TZ).astimezone(UTC)


def deadline(submitted_at: datetime, working_days: int) -> tuple[date, datetime]:
    """The due date (local) and the instant from which a reply is late, for a submission at `submitted_at`."""
    due = add_working_days(local_date(submitted_at), working_days)
    return due, end_of_local_day(due)
