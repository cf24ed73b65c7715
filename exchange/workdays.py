"""Working-day deadlines on the official Chinese holiday calendar (国务院办公厅 notices, adjusted working
weekends included): the `chinesecalendar` package's years plus the operator's supplement
(`CPIP_HOLIDAY_CALENDAR_FILE`, see `cpip.holidays`).

A deadline of N working days counts the N working days *after* the day of submission (the day itself never
counts, whatever time it was submitted), in the platform's local time. The deadline is the end of that day.
The calendar only knows the years whose notice it holds; a deadline that would need another year is refused
with `HolidayCalendarOutdated` rather than guessed from weekends alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cpip.errors import ProblemError
from cpip.holidays import HolidayCalendar, calendar_in_force
from cpip.settings import Settings, get_settings

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


class HolidayCalendarOutdated(ProblemError):
    """The holiday calendar has no official data for a date the deadline depends on: once the State Council has
    published that year's notice, update the `chinesecalendar` package or enter the notice in the supplement
    file (`CPIP_HOLIDAY_CALENDAR_FILE`)."""

    slug, status, title = "holiday-calendar-outdated", 503, "The official holiday calendar does not cover this date"


def current_calendar(settings: Settings | None = None) -> HolidayCalendar:
    """The calendar in force: the package's years plus the configured supplement's (checked when first loaded)."""
    return calendar_in_force((settings or get_settings()).holiday_calendar_file)


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day: Monday–Friday unless a public holiday, or an adjusted working weekend."""
    calendar = current_calendar()
    if not calendar.covers(day):
        first, last = min(calendar.years), max(calendar.years)
        raise HolidayCalendarOutdated(
            f"the official holiday calendar known to this platform covers {calendar.describe_coverage()}; {day} is "
            f"outside it, so no working-day deadline can be computed (update the chinesecalendar package, or enter "
            f"the year's 国务院办公厅 notice in CPIP_HOLIDAY_CALENDAR_FILE)",
            covered_from=f"{first}-01-01", covered_until=f"{last}-12-31",
            covered_years=[list(span) for span in calendar.covered_spans()], date=day.isoformat())
    return calendar.is_working_day(day)


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
