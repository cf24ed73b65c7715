"""The official holiday calendar: the `chinesecalendar` package's years, extended by an operator-maintained
supplement file (`CPIP_HOLIDAY_CALENDAR_FILE`) for years the package does not hold yet.

The State Council (国务院办公厅) publishes each year's 部分节假日安排 notice in November or December; the package
needs a release to carry it. Until then an operator enters the notice in the supplement (JSON or YAML):

    years:
      2099:
        source: {notice: 国办发明电〔2098〕99号, url: https://www.gov.cn/…}
        entered_by: 平台运维员 王某
        holidays:
          - {name: 元旦, from: 2099-01-01, to: 2099-01-03}
        workdays: [2099-01-04]          # adjusted working weekends (调休上班)

A year found in the file extends the calendar; a year the package also holds must give the same working day for
every date, or the calendar refuses to load (`CalendarConflict`, and the platform does not start): the
supplement never silently overrides the package, and a typo in it cannot move a deadline unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import chinese_calendar
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cpip.settings import ConfigurationError


class CalendarConflict(ConfigurationError):
    """The supplement contradicts the package for a year both hold, or the file cannot be used as it is."""


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    notice: str = Field(min_length=3, description="The notice's number, e.g. 国办发明电〔2025〕7号")
    url: str = Field(pattern=r"^https?://\S+$", description="Where the notice is published (www.gov.cn)")


class _Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    name: str = Field(min_length=1)
    start: date = Field(alias="from")
    end: date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> _Holiday:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"'to' ({self.end}) is before 'from' ({self.start})")
        return self

    def days(self) -> Iterator[date]:
        day = self.start
        while day <= (self.end or self.start):
            yield day
            day += timedelta(days=1)


class _Year(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: _Source
    entered_by: str = Field(min_length=1, description="Who entered the notice (and when, if wished)")
    holidays: list[_Holiday] = Field(min_length=1)
    workdays: list[date] = Field(default_factory=list, description="Adjusted working weekends (调休上班)")

    @field_validator("workdays")
    @classmethod
    def _weekends(cls, days: list[date]) -> list[date]:
        weekdays = [d.isoformat() for d in days if d.weekday() < 5]
        if weekdays:
            raise ValueError(f"{', '.join(weekdays)} fall on Monday–Friday; adjusted working days are weekends")
        return days


class _Supplement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    years: dict[int, _Year] = Field(min_length=1)


@dataclass(frozen=True)
class YearSource:
    year: int
    origin: str                   # "chinesecalendar 1.11.0" or the supplement's path
    notice: str | None = None
    url: str | None = None
    entered_by: str | None = None


@dataclass(frozen=True)
class HolidayCalendar:
    """Working days on the official calendar for the years it covers; other years are unknown, not guessed."""

    holidays: frozenset[date]
    workdays: frozenset[date]
    years: dict[int, YearSource]

    def covers(self, day: date) -> bool:
        return day.year in self.years

    def is_working_day(self, day: date) -> bool:
        """Call only for a covered day: Monday–Friday unless a holiday, or an adjusted working weekend."""
        return day in self.workdays or (day.weekday() < 5 and day not in self.holidays)

    def covered_spans(self) -> list[tuple[int, int]]:
        """The covered years as runs of consecutive years, e.g. [(2004, 2027)]."""
        spans: list[tuple[int, int]] = []
        for year in sorted(self.years):
            if spans and spans[-1][1] == year - 1:
                spans[-1] = (spans[-1][0], year)
            else:
                spans.append((year, year))
        return spans

    def describe_coverage(self) -> str:
        return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in self.covered_spans())


def _package_origin() -> str:
    try:
        return f"chinesecalendar {version('chinesecalendar')}"
    except PackageNotFoundError:  # pragma: no cover - installed as a dependency
        return "chinesecalendar"


def package_calendar() -> HolidayCalendar:
    holidays = frozenset(chinese_calendar.holidays)
    workdays = frozenset(chinese_calendar.workdays)
    origin = _package_origin()
    years = {y: YearSource(y, origin) for y in sorted({d.year for d in holidays | workdays})}
    return HolidayCalendar(holidays, workdays, years)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalendarConflict(f"CPIP_HOLIDAY_CALENDAR_FILE {path}: cannot be read ({exc.strerror})") from exc
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CalendarConflict(f"CPIP_HOLIDAY_CALENDAR_FILE {path}: not valid "
                               f"{'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from exc


def _parse(path: Path) -> _Supplement:
    try:
        return _Supplement.model_validate(_read(path))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                             for e in exc.errors())
        raise CalendarConflict(f"CPIP_HOLIDAY_CALENDAR_FILE {path}: {problems}") from exc


def _year_days(year: int) -> Iterator[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


def _check_year(path: Path, year: int, entry: _Year) -> tuple[set[date], set[date]]:
    holidays = {d for h in entry.holidays for d in h.days()}
    workdays = set(entry.workdays)
    # A notice may reach into the last days of the year before (元旦 from 30 December), never further.
    stray = sorted(d for d in holidays | workdays if not (d.year == year or (d.year == year - 1 and d.month == 12)))
    if stray:
        raise CalendarConflict(f"CPIP_HOLIDAY_CALENDAR_FILE {path}: years.{year} lists "
                               f"{', '.join(d.isoformat() for d in stray[:5])}, outside {year}")
    both = sorted(holidays & workdays)
    if both:
        raise CalendarConflict(f"CPIP_HOLIDAY_CALENDAR_FILE {path}: years.{year} lists "
                               f"{', '.join(d.isoformat() for d in both[:5])} as both a holiday and a working day")
    return holidays, workdays


def with_supplement(base: HolidayCalendar, path: Path) -> HolidayCalendar:
    """`base` extended by the supplement at `path`; refuses contradictions instead of overriding."""
    supplement = _parse(path)
    holidays, workdays = set(base.holidays), set(base.workdays)
    years = dict(base.years)
    stated: dict[date, bool] = {}  # every day the supplement says something about → is it a working day
    for year, entry in sorted(supplement.years.items()):
        year_holidays, year_workdays = _check_year(path, year, entry)
        for day in _year_days(year):
            stated[day] = day.weekday() < 5
        stated.update({d: False for d in year_holidays})
        stated.update({d: True for d in year_workdays})
        holidays |= year_holidays
        workdays |= year_workdays
        if year not in base.years:
            years[year] = YearSource(year, str(path), entry.source.notice, entry.source.url, entry.entered_by)
    contradictory = sorted(holidays & workdays - (base.holidays & base.workdays))
    if contradictory:
        raise CalendarConflict(f"CPIP_HOLIDAY_CALENDAR_FILE {path}: "
                               f"{', '.join(d.isoformat() for d in contradictory[:5])} listed as both a holiday "
                               "and a working day (under two different years)")
    disagree = sorted(d for d, working in stated.items()
                      if base.covers(d) and base.is_working_day(d) != working)
    if disagree:
        shown = ", ".join(f"{d} ({'working day' if base.is_working_day(d) else 'holiday'} in "
                          f"{base.years[d.year].origin}, {'working day' if stated[d] else 'holiday'} in the file)"
                          for d in disagree[:5])
        more = f" and {len(disagree) - 5} more" if len(disagree) > 5 else ""
        raise CalendarConflict(
            f"CPIP_HOLIDAY_CALENDAR_FILE {path} contradicts {base.years[disagree[0].year].origin} on {shown}{more}. "
            "The supplement only adds years the package lacks; correct the file (or remove those years from it) "
            "against the 国务院办公厅 notice")
    return HolidayCalendar(frozenset(holidays), frozenset(workdays), years)


def load_calendar(path: Path | None) -> HolidayCalendar:
    """The package's calendar extended by the supplement at `path` (None: the package alone), read now."""
    base = package_calendar()
    return base if path is None else with_supplement(base, path)


@lru_cache(maxsize=4)
def calendar_in_force(path: Path | None) -> HolidayCalendar:
    """`load_calendar(path)`, read once per process: an edited file takes effect on restart, where it is checked
    again before the gateway or worker serves, so a mistake in it never surfaces mid-request."""
    return load_calendar(path)
