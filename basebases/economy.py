"""Statistical periods (year, quarter, month), aggregation to coarser periods, and completeness.

Pure functions, so SQLite and PostgreSQL give identical answers: the database returns observations, the
arithmetic happens here in a fixed order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

ORDER = {"month": 0, "quarter": 1, "year": 2}
PER_YEAR = {"month": 12, "quarter": 4, "year": 1}


class PeriodError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Period:
    year: int
    frequency: str
    index: int  # month 1–12, quarter 1–4, 1 for a year

    @property
    def label(self) -> str:
        if self.frequency == "year":
            return f"{self.year}"
        if self.frequency == "quarter":
            return f"{self.year}-Q{self.index}"
        return f"{self.year}-{self.index:02d}"

    @property
    def start(self) -> date:
        month = {"year": 1, "quarter": 3 * self.index - 2, "month": self.index}[self.frequency]
        return date(self.year, month, 1)

    @property
    def ordinal(self) -> int:
        return self.year * PER_YEAR[self.frequency] + self.index - 1

    @classmethod
    def starting(cls, day: date, frequency: str) -> Period:
        """The period of `frequency` that contains `day`."""
        if frequency == "year":
            return cls(day.year, "year", 1)
        if frequency == "quarter":
            return cls(day.year, "quarter", (day.month - 1) // 3 + 1)
        return cls(day.year, "month", day.month)

    def next(self) -> Period:
        year, index = divmod(self.ordinal + 1, PER_YEAR[self.frequency])
        return Period(year, self.frequency, index + 1)

    def coarsen(self, frequency: str) -> Period:
        if ORDER[frequency] < ORDER[self.frequency]:
            raise PeriodError(f"cannot turn a {self.frequency} into a finer {frequency}")
        if frequency == self.frequency:
            return self
        if frequency == "year":
            return Period(self.year, "year", 1)
        return Period(self.year, "quarter", (self.index - 1) // 3 + 1)  # month → quarter

    def parts(self, frequency: str) -> list[Period]:
        """The finer periods that make up this one."""
        if ORDER[frequency] > ORDER[self.frequency]:
            raise PeriodError(f"a {self.frequency} has no {frequency} parts")
        if frequency == self.frequency:
            return [self]
        if self.frequency == "year":
            return [Period(self.year, frequency, i) for i in range(1, PER_YEAR[frequency] + 1)]
        first = 3 * self.index - 2
        return [Period(self.year, "month", m) for m in range(first, first + 3)]


_YEAR = re.compile(r"^(\d{4})年?$")
_QUARTER = re.compile(r"^(\d{4})\s*(?:-?\s*Q|年第)([1-4])(?:季度?)?$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})(?:-|/|M|年)?(\d{1,2})月?$", re.IGNORECASE)


def parse_period(text: str) -> Period:
    """2024 / 2024年; 2024-Q1 / 2024Q1 / 2024年第1季度; 2024-03 / 202403 / 2024M03 / 2024年3月."""
    value = text.strip()
    if match := _YEAR.match(value):
        return Period(int(match.group(1)), "year", 1)
    if match := _QUARTER.match(value):
        return Period(int(match.group(1)), "quarter", int(match.group(2)))
    if (match := _MONTH.match(value)) and 1 <= int(match.group(2)) <= 12:
        return Period(int(match.group(1)), "month", int(match.group(2)))
    raise PeriodError(f"period {text!r} is not a year (2024), quarter (2024-Q1) or month (2024-03)")


def period_range(first: Period, last: Period) -> list[Period]:
    if first.frequency != last.frequency:
        raise PeriodError("a range needs both ends of the same frequency")
    periods: list[Period] = []
    current = first
    while current <= last:
        periods.append(current)
        current = current.next()
    return periods


@dataclass(frozen=True)
class Point:
    period: Period
    value: float | None
    status: str


@dataclass(frozen=True)
class Aggregated:
    period: Period
    value: float | None
    status: str
    expected: int
    available: int
    missing: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing


def aggregate(points: Sequence[Point], frequency: str, method: str,
              first: Period | None = None, last: Period | None = None) -> list[Aggregated]:
    """Roll points up to `frequency` by `method` (sum, mean, last). An incomplete period has no value:
    a partial sum would read as a fall, not as a gap."""
    if not points and (first is None or last is None):
        return []
    source = points[0].period.frequency if points else (first.frequency if first else "month")
    by_period = {p.period: p for p in points}
    lo = (first or min(by_period)).coarsen(frequency)
    hi = (last or max(by_period)).coarsen(frequency)
    result: list[Aggregated] = []
    for target in period_range(lo, hi):
        parts = [p for p in target.parts(source) if (first is None or p >= first) and (last is None or p <= last)]
        present = [by_period[p] for p in parts if p in by_period and by_period[p].value is not None]
        missing = [p.label for p in parts if p not in by_period or by_period[p].value is None]
        value: float | None = None
        if not missing and present:
            values = [p.value for p in present if p.value is not None]
            if method == "sum":
                value = math.fsum(values)
            elif method == "mean":
                value = math.fsum(values) / len(values)
            else:
                value = values[-1]
        flags = "".join(sorted({flag for p in present for flag in p.status}))
        result.append(Aggregated(target, value, flags, len(parts), len(present), missing))
    return result


def missing_periods(present: Iterable[Period], first: Period, last: Period) -> list[str]:
    have = set(present)
    return [p.label for p in period_range(first, last) if p not in have]
