"""Acceptance: bad rows injected straight into the base tables are caught by the whole-table runs with exact
counts — on SQLite (pandas batches) and on PostgreSQL (the same suites as SQL inside the database).

Every expected count is the length of the list of rows the test injected for that defect; every clean row is
built to pass every rule, so any other count is a bug in a rule or in one of its two implementations.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, func, select

from quality.models import IssueStatus, QualityIssue, QualityResult, QualityRun, QualityScore
from quality.runner import RunSummary, run_resource
from tests.quality.conftest import (
    BOWTIE,
    OUTSIDE,
    Building,
    EconomyIndicator,
    EconomyObservation,
    LegalEntity,
    Person,
    SpatialFeature,
    building,
    entity,
    geometry_row,
    indicator,
    insert_boundary,
    insert_rows,
    observation,
    person,
    ric,
    ric_body,
    uscc,
    wrong_check,
)


def failing(summary: RunSummary) -> dict[str, int]:
    """rule → failing rows, for the rules that failed (every other rule passed)."""
    assert all(o.error is None for o in summary.outcomes), [o.error for o in summary.outcomes if o.error]
    return {o.rule: o.unexpected_count for o in summary.outcomes if o.success is False}


def test_population_defects_are_counted_exactly(sync_engine: Engine) -> None:
    clean = [person(ric(date(1985 + i % 30, 1 + i % 12, 1 + i % 28), seq=i)) for i in range(40)]
    bad_checksum = [person(wrong_check(ric(date(1990, 3, 7), seq=100 + i))) for i in range(3)]
    impossible_dates = [person(ric_body(f"32010219900230{i:03d}"), birth=date(1990, 2, 28)) for i in range(2)]
    impossible_dates.append(person(ric_body("320102198913310050"[:17]), birth=date(1989, 12, 31)))
    future_births = [person(ric(date(2099, 1, 1), seq=7))]
    sex_mismatch = [person(ric(date(1991, 5, 5), seq=201), sex="2")]  # seq 201 is odd: 男
    retired_region = [person(ric(date(1990, 1, 1), seq=3, region="320120"))]  # 市区, retired in 1983
    bad_hukou = [person(ric(date(1992, 2, 2), seq=5), hukou_region_code="999999")]
    insert_rows(sync_engine, Person, clean + bad_checksum + impossible_dates + future_births + sex_mismatch
                + retired_region + bad_hukou)

    injected = bad_checksum + impossible_dates + future_births + sex_mismatch + retired_region + bad_hukou
    summary = run_resource(sync_engine, "population")

    assert summary.engine == ("sql" if sync_engine.dialect.name == "postgresql" else "pandas")
    assert summary.row_count == len(clean) + len(injected)
    assert failing(summary) == {
        "id_number.valid": len(bad_checksum) + len(impossible_dates),
        # the ID spells an impossible day, so the birth_date column (a real day) cannot match it
        "birth_date.matches_id_number": len(impossible_dates),
        "birth_date.not_future": len(future_births),
        "sex.matches_id_number": len(sex_mismatch),
        "id_number.region": len(retired_region),
        "hukou_region_code.gbt2260": len(bad_hukou),
    }
    checksum = next(o for o in summary.outcomes if o.rule == "id_number.valid")
    assert {s["id_number"] for s in checksum.samples} == {p["id_number"] for p in bad_checksum + impossible_dates}
    assert summary.score is not None
    assert 90 < summary.score < 100


def test_legal_entity_defects_are_counted_exactly(sync_engine: Engine) -> None:
    clean = [entity(uscc(f"MA{i:07d}")) for i in range(20)]
    bad_checksum = [entity(wrong_check_uscc(uscc(f"MB{i:07d}"))) for i in range(2)]
    negative_capital = [entity(uscc("MC0000001"), registered_capital=-5.0)]
    future_founding = [entity(uscc("MC0000002"), established_on=date(2099, 1, 1))]
    unknown_region = [entity(uscc("MC0000003", region="999999"))]
    insert_rows(sync_engine, LegalEntity, clean + bad_checksum + negative_capital + future_founding
                + unknown_region)

    assert failing(run_resource(sync_engine, "legal_entities")) == {
        "uscc.valid": len(bad_checksum),
        "registered_capital.non_negative": len(negative_capital),
        "established_on.not_future": len(future_founding),
        "uscc.region": len(unknown_region),
    }


def wrong_check_uscc(code: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return code[:17] + alphabet[(alphabet.index(code[17]) + 1) % len(alphabet)]


def test_building_and_spatial_defects_are_counted_exactly(sync_engine: Engine) -> None:
    insert_boundary(sync_engine)
    clean = [building(f"B{i:04d}") for i in range(15)]
    invalid_geometry = [building("X0001", BOWTIE), building("X0002", BOWTIE)]
    outside_city = [building("X0003", OUTSIDE)]
    too_low = [building("X0004", height_m=5.0, floors_above=10), building("X0005", height_m=8.0, floors_above=5)]
    too_many_floors = [building("X0006", floors_above=250, height_m=800.0)]
    future_year = [building("X0007", year_built=2099)]
    insert_rows(sync_engine, Building, clean + invalid_geometry + outside_city + too_low + too_many_floors
                + future_year)
    features = [{"layer_code": "poi", "feature_key": f"P{i}", "name": "点", "region_code": "320102",
                 "attributes": {}, "geom": geom, **geometry_row(geom)}
                for i, geom in enumerate([BOWTIE, OUTSIDE, OUTSIDE])]
    insert_rows(sync_engine, SpatialFeature, features)

    assert failing(run_resource(sync_engine, "buildings")) == {
        "footprint.valid": len(invalid_geometry),
        "footprint.inside_city": len(outside_city),
        "height_m.fits_floors": len(too_low),
        "floors_above.range": len(too_many_floors),
        "year_built.range": len(future_year),
    }
    # the city boundary itself is one of the features, and lies inside the city
    assert failing(run_resource(sync_engine, "spatial_features")) == {"geom.valid": 1, "geom.inside_city": 2}


def test_missing_periods_and_duplicate_observations_are_counted_exactly(sync_engine: Engine) -> None:
    insert_rows(sync_engine, EconomyIndicator, [indicator("GDP_M", "month"), indicator("GDP_Q", "quarter"),
                                                indicator("POP_Y", "year")])
    missing_months = {3, 7, 8}
    monthly = [observation("GDP_M", f"2023-{m:02d}", date(2023, m, 1)) for m in range(1, 13)
               if m not in missing_months]
    duplicate = [observation("GDP_M", "2023-5", date(2023, 5, 1))]  # the same month spelt differently
    missing_quarters = {(2022, 3)}
    quarterly = [observation("GDP_Q", f"{y}-Q{q}", date(y, 3 * q - 2, 1)) for y in (2022, 2023) for q in (1, 2, 3, 4)
                 if (y, q) not in missing_quarters]
    yearly = [observation("POP_Y", str(y), date(y, 1, 1)) for y in range(2015, 2024)]
    other_region = [observation("GDP_M", f"2023-{m:02d}", date(2023, m, 1), region="320104") for m in range(1, 13)]
    insert_rows(sync_engine, EconomyObservation, monthly + duplicate + quarterly + yearly + other_region)

    summary = run_resource(sync_engine, "economy_observations")

    assert failing(summary) == {
        "series.complete": len(missing_months) + len(missing_quarters),
        "period.unique_in_series": 2,  # both rows of the duplicated month
    }
    gaps = next(o for o in summary.outcomes if o.rule == "series.complete")
    assert sorted(s["period"] for s in gaps.samples) == ["2022-Q3", "2023-03", "2023-07", "2023-08"]


def test_a_run_is_recorded_with_results_score_and_issues(sync_engine: Engine) -> None:
    insert_rows(sync_engine, Person, [person(ric(date(1990, 1, 1), seq=1)),
                                      person(wrong_check(ric(date(1990, 1, 1), seq=3)))])
    first = run_resource(sync_engine, "population")
    second = run_resource(sync_engine, "population")
    with sync_engine.connect() as conn:
        run = conn.execute(select(QualityRun).where(QualityRun.id == first.run_id)).one()
        assert (run.status, run.row_count, run.failed_expectations) == ("succeeded", 2, 1)
        stored = conn.execute(select(QualityResult.rule, QualityResult.unexpected_count, QualityResult.samples)
                              .where(QualityResult.run_id == first.run_id, QualityResult.success.is_(False))).all()
        assert [(r.rule, r.unexpected_count) for r in stored] == [("id_number.valid", 1)]
        assert stored[0].samples[0]["id_number"] == wrong_check(ric(date(1990, 1, 1), seq=3))
        score = conn.execute(select(QualityScore)).one()
        assert (score.resource, score.run_id) == ("population", second.run_id)
        # one issue per failing rule, kept up to date by later runs rather than raised again
        issues = conn.execute(select(QualityIssue.rule, QualityIssue.status, QualityIssue.run_id,
                                     QualityIssue.last_run_id)).all()
        assert [tuple(i) for i in issues] == [("id_number.valid", IssueStatus.raised, first.run_id,
                                               second.run_id)]
        assert conn.scalar(select(func.count()).select_from(QualityResult)
                           .where(QualityResult.run_id == second.run_id)) == len(first.outcomes)
