"""The operator's holiday-calendar supplement (CPIP_HOLIDAY_CALENDAR_FILE): it extends the chinesecalendar
package with years the package lacks, never overrides a year the package holds, and a contradiction stops the
platform from starting.

The 2027 data below is a made-up test fixture, not the State Council's 2027 notice (unpublished when written).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
import yaml
from typer.testing import CliRunner

from cpip.holidays import CalendarConflict, load_calendar
from cpip.settings import Environment, Settings, get_settings
from exchange.applications import service
from exchange.cli import app as exchange_cli
from exchange.workdays import HolidayCalendarOutdated, current_calendar, deadline, is_working_day
from tests.exchange.test_applications import CIVIL, request
from tests.support.exchange_world import World, local

ROOT = Path(__file__).resolve().parents[2]

# Fictional 2027 (test data only): New Year off Fri 1 – Sun 3 January, Saturday 9 January worked.
FICTIONAL_2027: dict[str, Any] = {
    "source": {"notice": "TEST-ONLY 国办发明电〔2026〕0号", "url": "https://example.invalid/2027"},
    "entered_by": "test operator",
    "holidays": [{"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"}],
    "workdays": ["2027-01-09"],
}


def write(tmp_path: Path, years: dict[Any, Any], suffix: str = ".yaml") -> Path:
    path = tmp_path / f"holidays{suffix}"
    document = {"years": years}
    path.write_text(json.dumps(document, ensure_ascii=False) if suffix == ".json"
                    else yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def use_supplement(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    def use(path: Path) -> None:
        monkeypatch.setenv("CPIP_HOLIDAY_CALENDAR_FILE", str(path))
        get_settings.cache_clear()

    yield use
    monkeypatch.delenv("CPIP_HOLIDAY_CALENDAR_FILE", raising=False)
    get_settings.cache_clear()


def test_a_supplement_year_extends_the_calendar(tmp_path: Path,
                                                use_supplement: Callable[[Path], None]) -> None:
    with pytest.raises(HolidayCalendarOutdated):
        is_working_day(date(2027, 1, 4))
    use_supplement(write(tmp_path, {2027: FICTIONAL_2027}))
    assert not is_working_day(date(2027, 1, 1))    # a Friday, off by the file
    assert is_working_day(date(2027, 1, 4))
    assert is_working_day(date(2027, 1, 9))        # a Saturday, worked by the file
    assert not is_working_day(date(2027, 1, 10))   # an ordinary Sunday
    # Monday 28 December 2026: Tue 29, Wed 30, Thu 31, then (1 January off) Mon 4 and Tue 5.
    assert deadline(local(2026, 12, 28), 5)[0] == date(2027, 1, 5)
    # The adjusted Saturday counts: Wed 6, Thu 7, Fri 8, Sat 9.
    assert deadline(local(2027, 1, 5), 4)[0] == date(2027, 1, 9)
    # Years beyond the file stay unknown, not guessed.
    with pytest.raises(HolidayCalendarOutdated) as caught:
        is_working_day(date(2028, 1, 3))
    assert caught.value.extensions["covered_years"] == [[2004, 2027]]


def test_december_applications_are_filed_once_the_next_year_is_entered(
        tmp_path: Path, use_supplement: Callable[[Path], None], world: World, db: Callable[[], Any],
        pin_clock: Callable[[datetime], None]) -> None:
    pin_clock(local(2026, 12, 28, 9))
    body = request(world.population, period={"start": "2026-12-29", "end": "2027-06-30"})
    with pytest.raises(HolidayCalendarOutdated), db() as session:
        service.apply(session, CIVIL, body)
    use_supplement(write(tmp_path, {2027: FICTIONAL_2027}, ".json"))
    with db() as session:
        application = service.apply(session, CIVIL, body).application
        assert (application.status, application.due_on) == ("pending", date(2027, 1, 5))


def test_a_year_the_package_holds_may_be_repeated_only_if_it_agrees(tmp_path: Path) -> None:
    # The 2026 notice as the package encodes it: accepted, and 2026 is still credited to the package.
    same_2026 = {"source": {"notice": "国办发明电〔2025〕7号", "url": "https://www.gov.cn/"},
                 "entered_by": "test operator",
                 "holidays": [{"name": n, "from": d.isoformat()} for d, n in chinese_calendar.holidays.items()
                              if d.year == 2026],
                 "workdays": [d.isoformat() for d in chinese_calendar.workdays if d.year == 2026]}
    calendar = load_calendar(write(tmp_path, {2026: same_2026, 2027: FICTIONAL_2027}))
    assert calendar.years[2026].origin.startswith("chinesecalendar")
    assert calendar.years[2027].notice == FICTIONAL_2027["source"]["notice"]

    # Forgetting National Day's adjusted Saturday (10 October 2026) would move deadlines: refused.
    wrong = {**same_2026, "workdays": [d for d in same_2026["workdays"] if d != "2026-10-10"]}
    with pytest.raises(CalendarConflict) as caught:
        load_calendar(write(tmp_path, {2026: wrong}))
    assert "2026-10-10 (working day in chinesecalendar" in str(caught.value)
    assert "holiday in the file" in str(caught.value)


def test_a_contradicting_supplement_stops_the_gateway_from_starting(tmp_path: Path, database_url: str) -> None:
    from gateway.app import create_app

    # 1 October 2026 is National Day; a file calling it an ordinary Thursday must not silently win.
    bad = write(tmp_path, {2026: {**FICTIONAL_2027, "holidays": [{"name": "元旦", "from": "2026-01-01"}],
                                  "workdays": []}})
    settings = Settings(env=Environment.test, database_url=database_url, holiday_calendar_file=bad)
    with pytest.raises(CalendarConflict, match=r"contradicts chinesecalendar .* on 2026-01-02"):
        create_app(settings)
    assert current_calendar(Settings(env=Environment.test, database_url=database_url)).covers(date(2026, 1, 2))


@pytest.mark.parametrize(("entry", "named"), [
    ({**FICTIONAL_2027, "workdays": ["2027-01-06"]}, "years.2027.workdays"),            # a Wednesday
    ({k: v for k, v in FICTIONAL_2027.items() if k != "source"}, "years.2027.source"),
    ({**FICTIONAL_2027, "entered_by": ""}, "years.2027.entered_by"),
    ({**FICTIONAL_2027, "holidays": [{"name": "x", "from": "2027-02-03", "to": "2027-02-01"}]},
     "years.2027.holidays.0"),
    ({**FICTIONAL_2027, "holidays": [{"name": "x", "from": "2028-02-03"}]}, "years.2027 lists 2028-02-03"),
    ({**FICTIONAL_2027, "holidays": [{"name": "x", "from": "2027-01-09"}]}, "both a holiday and a working day"),
])
def test_a_malformed_supplement_is_refused_naming_the_entry(tmp_path: Path, entry: dict[str, Any],
                                                            named: str) -> None:
    with pytest.raises(CalendarConflict) as caught:
        load_calendar(write(tmp_path, {2027: entry}))
    assert named in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_cli_shows_each_years_source(tmp_path: Path, use_supplement: Callable[[Path], None]) -> None:
    runner = CliRunner()
    use_supplement(write(tmp_path, {2027: FICTIONAL_2027}))
    shown = runner.invoke(exchange_cli, ["calendar"], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert "2004–2026" in shown.output
    assert "chinesecalendar" in shown.output
    row = next(line for line in shown.output.splitlines() if "2027" in line and "TEST-ONLY" in line)
    assert "test operator" in row
    assert "https://example.invalid/2027" in row
    assert "covered: 2004–2027" in shown.output

    use_supplement(write(tmp_path / "..", {2026: {**FICTIONAL_2027, "holidays": [
        {"name": "x", "from": "2026-03-03"}], "workdays": []}}))
    refused = runner.invoke(exchange_cli, ["calendar"])
    assert refused.exit_code == 1
    assert "contradicts chinesecalendar" in refused.output


def test_the_shipped_example_is_an_obvious_example_and_ships_no_real_year() -> None:
    example = ROOT / "docs" / "holiday-calendar.example.yaml"
    calendar = load_calendar(example)
    assert set(calendar.years) - set(load_calendar(None).years) == {2099}
    assert "EXAMPLE" in example.read_text(encoding="utf-8")
    assert get_settings().holiday_calendar_file is None  # the repository configures no supplement
