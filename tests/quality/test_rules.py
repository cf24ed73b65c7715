"""The row rules themselves, and their two implementations agreeing: edge-case values written into the tables
are counted by the whole-table run (pandas on SQLite, SQL inside PostgreSQL) exactly as the reference rules in
quality.checks count them."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from quality import checks
from quality.runner import run_resource
from quality.suites import Kind, suites
from tests.quality.conftest import Person, insert_rows, person, ric, ric_body, uscc, wrong_check

# Known-good numbers from the standards' own examples (GB 11643 appendix; stdnum's GB 32100 example).
GB11643_EXAMPLE = "11010519491231002X"
GB32100_EXAMPLE = "91110000600037341L"


@pytest.mark.parametrize(("value", "valid"), [
    (GB11643_EXAMPLE, True),
    (GB11643_EXAMPLE[:17] + "x", False),          # stored form is upper-case X
    (GB11643_EXAMPLE[:17], False),                # 17 characters
    (wrong_check(GB11643_EXAMPLE), False),
    (ric_body("11010520000229001"), True),        # 2000 is a leap year
    (ric_body("11010519000229001"), False),       # 1900 is not
    (ric_body("11010520010229001"), False),
    (ric_body("11010519901301001"), False),       # month 13
    (ric_body("11010519901200001"), False),       # day 0
    (ric_body("11010500000101001"), False),       # year 0
    ("１１０１０５１９４９１２３１００２Ｘ", False),  # full-width digits are not digits here
    (None, False),
])
def test_gb11643_validity(value: str | None, valid: bool) -> None:
    assert checks.ric_valid(value) is valid


def test_id_number_consistency_rules() -> None:
    assert checks.ric_birth_date_ok(GB11643_EXAMPLE, date(1949, 12, 31))
    assert checks.ric_birth_date_problem(GB11643_EXAMPLE, "1950-01-01") == \
        "birth_date 1950-01-01 contradicts the id_number (19491231)"
    assert checks.ric_sex(GB11643_EXAMPLE) == "2"  # sequence 002: even, 女
    assert not checks.ric_sex_ok(GB11643_EXAMPLE, "1")
    # 320120 市区 was in use until 1983 (GB/T 2260 history as python-stdnum records it)
    assert checks.ric_region_ok(ric(date(1983, 1, 1), region="320120"))
    assert checks.ric_region_problem(ric(date(1984, 1, 1), region="320120")) == \
        "region 320120 was not in use in 1984 (GB/T 2260)"
    assert checks.ric_region_problem(ric(date(1990, 1, 1), region="999999")) == "region 999999 is not a GB/T 2260 code"


def test_uscc_and_other_rules() -> None:
    assert checks.uscc_valid(GB32100_EXAMPLE)
    assert checks.uscc_problem(GB32100_EXAMPLE[:17] + "M") == "check character is M, GB 32100 gives L"
    assert not checks.uscc_valid(GB32100_EXAMPLE.lower())
    assert checks.uscc_region_ok(uscc("MA0000001", region="320102"))
    assert not checks.uscc_region_ok(uscc("MA0000001", region="999999"))
    assert checks.height_floors_ok(12.0, 6, 2.0)
    assert not checks.height_floors_ok(11.9, 6, 2.0)
    assert checks.not_after_problem("2030-01-01", date(2025, 1, 1)) == "2030-01-01 is after 2025-01-01"
    assert checks.not_after_problem("31/12/2020", date(2025, 1, 1)) == "'31/12/2020' is not a date"
    assert checks.geometry_problem("POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))") == \
        "invalid geometry: Self-intersection[0.5 0.5]"
    assert checks.geometry_problem("POINT(1") == "not a readable geometry (WKT, GeoJSON or WKB)"
    assert checks.region_problem("320120", current_only=True) == "320120 is a retired GB/T 2260 code"
    assert checks.region_ok("320120", current_only=False)


def test_series_gaps_follow_each_series_frequency() -> None:
    rows = [("GDP", "320102", "2024-01", date(2024, 1, 1)), ("GDP", "320102", "2024-04", date(2024, 4, 1)),
            ("GDP", "320104", "2024-Q1", date(2024, 1, 1)), ("GDP", "320104", "2024-Q4", date(2024, 10, 1)),
            ("POP", "320102", "2020", date(2020, 1, 1)), ("POP", "320102", "2022", date(2022, 1, 1))]
    assert checks.series_gaps(rows) == [
        (("GDP", "320102"), "2024-02"), (("GDP", "320102"), "2024-03"),
        (("GDP", "320104"), "2024-Q2"), (("GDP", "320104"), "2024-Q3"), (("POP", "320102"), "2021")]


def test_every_suite_rule_has_a_kind_the_builder_knows() -> None:
    from quality.gx_suites import expectation_for
    from quality.suites import SuiteContext

    context = SuiteContext(today=date(2025, 1, 1), boundary_wkt="POLYGON((0 0,1 0,1 1,0 0))")
    for suite in suites().values():
        for rule in suite.rules:
            assert rule.kind in Kind
            made = expectation_for(rule, context)
            assert made is not None, rule.name
            assert made.meta == {"rule": rule.name}


def test_both_implementations_count_edge_cases_alike(sync_engine: Engine) -> None:
    numbers = [
        GB11643_EXAMPLE, GB11643_EXAMPLE[:17] + "x", wrong_check(GB11643_EXAMPLE), GB11643_EXAMPLE[:17],
        ric_body("11010520000229001"), ric_body("11010519000229003"), ric_body("11010520010229005"),
        ric_body("11010519901301007"), ric_body("11010519901200009"), ric_body("11010519901232011"),
        ric_body("11010500000101013"), ric_body("A1010519900101015"), "１１０１０５１９４９１２３１００２Ｘ",
        ric(date(1983, 6, 1), seq=17, region="320120"), ric(date(1984, 6, 1), seq=19, region="320120"),
        ric(date(1983, 1, 1), seq=21, region="320115"), ric(date(2000, 1, 1), seq=23, region="320115"),
        ric(date(1990, 1, 1), seq=25, region="999999"), ric(date(2030, 1, 1), seq=27),
    ]
    rows = [person(n, birth=date(2000, 1, 1), sex="1" if i % 3 else "2") for i, n in enumerate(numbers)]
    insert_rows(sync_engine, Person, rows)

    counted = {o.rule: o.unexpected_count for o in run_resource(sync_engine, "population").outcomes}

    expected = {
        "id_number.valid": sum(not checks.ric_valid(r["id_number"]) for r in rows),
        "id_number.region": sum(not checks.ric_region_ok(r["id_number"]) for r in rows),
        "birth_date.matches_id_number": sum(not checks.ric_birth_date_ok(r["id_number"], r["birth_date"])
                                            for r in rows),
        "sex.matches_id_number": sum(not checks.ric_sex_ok(r["id_number"], r["sex"]) for r in rows),
    }
    assert {rule: counted[rule] for rule in expected} == expected
    assert expected["id_number.valid"] >= 10
    assert expected["id_number.region"] >= 3
