"""Evaluation periods (2026, 2026H2, 2026Q3, 2026-09, 2026-09-15) in the platform's local time, with a cut-off."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from cpip.errors import ValidationFailed
from exchange.workdays import LOCAL_TZ

_PATTERN = re.compile(r"^(?P<y>\d{4})(?:(?:Q(?P<q>[1-4]))|(?:H(?P<h>[12]))|(?:-(?P<m>\d{2})(?:-(?P<d>\d{2}))?))?$")


def _bad(field: str, message: str, rule: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field, "message": message, "rule": rule}])


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LOCAL_TZ).astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    code: str
    first_day: date
    end_day: date  # exclusive

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return local_midnight(self.end_day)

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.end_day - self.first_day).days)]

    def trend(self) -> list[Period]:
        """The sub-periods a trend chart shows: months of a year/half/quarter, days of a month."""
        if len(self.code) == 10:
            return [self]
        if len(self.code) == 7:
            return [parse_period(d.isoformat()) for d in self.days()]
        months, day = [], self.first_day
        while day < self.end_day:
            months.append(parse_period(f"{day.year}-{day.month:02d}"))
            day = _add_months(day, 1)
        return months


def parse_period(code: str, field: str = "period") -> Period:
    found = _PATTERN.match(code.strip())
    if not found:
        raise _bad(field, f"{code!r} is not a period: use 2026, 2026H2, 2026Q3, 2026-09 or 2026-09-15", "period")
    year = int(found["y"])
    try:
        if found["q"]:
            first = date(year, 3 * int(found["q"]) - 2, 1)
            return Period(code, first, _add_months(first, 3))
        if found["h"]:
            first = date(year, 6 * int(found["h"]) - 5, 1)
            return Period(code, first, _add_months(first, 6))
        if found["d"]:
            first = date(year, int(found["m"]), int(found["d"]))
            return Period(code, first, first + timedelta(days=1))
        if found["m"]:
            first = date(year, int(found["m"]), 1)
            return Period(code, first, _add_months(first, 1))
    except ValueError as exc:
        raise _bad(field, f"{code!r} is not a calendar date or month: {exc}", "period") from exc
    return Period(code, date(year, 1, 1), date(year + 1, 1, 1))


def parse_cutoff(value: str | None, period: Period, field: str = "cutoff") -> datetime:
    """The data cut-off: records at or after it are not counted. A date means the end of that local day;
    none means the end of the period. Never later than the period's end."""
    if value is None or not value.strip():
        return period.end
    text = value.strip()
    try:
        if len(text) == 10:
            moment = local_midnight(date.fromisoformat(text) + timedelta(days=1))
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=LOCAL_TZ)
            moment = moment.astimezone(UTC)
    except ValueError as exc:
        raise _bad(field, f"{value!r} is not a date (2026-09-30) or an ISO 8601 time", "cutoff") from exc
    if moment <= period.start:
        raise _bad(field, f"the cut-off {value} is not after the start of {period.code}", "cutoff_before_period")
    return min(moment, period.end)
