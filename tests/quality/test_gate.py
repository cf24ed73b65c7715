"""The ingest gate: a submitted batch is split into the rows that pass the suite and the rows that do not, each
rejected row named by number, key, field, rule and a reason; a gated submission lands only its good rows."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, select

from basebases.models import Person
from cpip.errors import NotFound
from quality import check_batch, gate_submission
from quality.models import QualityRun, QuarantinedRecord
from quality.suites import SuiteContext
from tests.quality.conftest import BOWTIE, OUTSIDE, ric, ric_body, uscc, wrong_check


def submitted(id_number: str, **extra: Any) -> dict[str, Any]:
    """A person as a department submits it: JSON values, dates as text."""
    digits = id_number[6:14]
    return {"id_number": id_number, "name": "李四", "sex": "1" if int(id_number[16]) % 2 else "2",
            "birth_date": f"{digits[:4]}-{digits[4:6]}-{digits[6:]}", "ethnicity": "01",
            "hukou_region_code": "320102", "status": "normal", **extra}


def test_a_batch_splits_into_good_and_rejected_rows(context: SuiteContext) -> None:
    good = [submitted(ric(date(1988, 8, 8), seq=i)) for i in (1, 2, 3)]
    duplicated = submitted(ric(date(1990, 1, 1), seq=11))
    rows = [
        good[0],
        submitted(wrong_check(ric(date(1990, 1, 1), seq=5))),             # 2: bad check character
        good[1],
        duplicated,                                                        # 4: same ID as row 6
        submitted(ric(date(1990, 1, 1), seq=13), birth_date="1990-02-30"),  # 5: no such day
        dict(duplicated),                                                  # 6
        submitted(ric_body("32010219900231001"), birth_date="1990-02-28"),  # 7: ID holds 31 February
        good[2],
        submitted(ric(date(1993, 3, 3), seq=21), sex="2", phone="12345"),  # 9: sex contradicts ID; bad phone
        submitted(ric(date(1994, 4, 4), seq=23), name="  "),               # 10: blank name
    ]

    result = check_batch("population", rows, context=context)

    assert result.accepted_row_numbers == [1, 3, 8]
    assert result.accepted_rows == good
    assert [(r.row_number, r.field, r.rule) for r in result.rejected] == [
        (2, "id_number", "id_number.valid"),
        (4, "id_number", "id_number.unique"),
        (5, "birth_date", "birth_date.type"),
        (6, "id_number", "id_number.unique"),
        (7, "birth_date", "birth_date.matches_id_number"),
        (7, "id_number", "id_number.valid"),
        (9, "phone", "phone.format"),
        (9, "sex", "sex.matches_id_number"),
        (10, "name", "name.required"),
    ]
    reasons = {(r.row_number, r.rule): r.message for r in result.rejected}
    assert reasons[(2, "id_number.valid")] == (f"id_number: check character is {rows[1]['id_number'][17]}, "
                                               f"GB 11643 gives {ric(date(1990, 1, 1), seq=5)[17]}")
    assert reasons[(5, "birth_date.type")] == "birth_date: '1990-02-30' is not a date (YYYY-MM-DD)"
    assert reasons[(7, "birth_date.matches_id_number")] == \
        "birth_date 1990-02-28 contradicts the id_number (19900231)"
    assert reasons[(7, "id_number.valid")] == "id_number: birth date part 19900231 is not a calendar date"
    assert result.rejected[0].key == rows[1]["id_number"]


def test_an_unreadable_value_is_reported_once_not_again_as_missing(context: SuiteContext) -> None:
    rows = [submitted(ric(date(1990, 1, 1), seq=1), birth_date="yesterday")]
    result = check_batch("population", rows, context=context)
    assert [(r.field, r.rule) for r in result.rejected] == [("birth_date", "birth_date.type")]


def test_lower_case_check_character_is_read_as_the_loader_stores_it(context: SuiteContext) -> None:
    number = next(ric(date(1990, 1, 1), seq=s) for s in range(1, 200) if ric(date(1990, 1, 1), seq=s)[17] == "X")
    result = check_batch("population", [submitted(number.lower())], context=context)
    assert result.rejected == []


def test_legal_entities_and_buildings_batches(context: SuiteContext) -> None:
    entities: list[dict[str, Any]] = [
        {"uscc": uscc("MA0000001"), "name": "甲公司", "entity_type": "limited_company", "region_code": "320102",
         "status": "active", "registered_capital": "100.5", "established_on": "2010-01-01"},
        {"uscc": uscc("MA0000002"), "name": "乙公司", "entity_type": "limited_company", "region_code": "320102",
         "status": "active", "registered_capital": -1, "established_on": "2099-01-01"},
        {"uscc": uscc("MA0000003"), "name": "丙公司", "entity_type": "limited_company", "region_code": "320102",
         "status": "active", "registered_capital": "一百万"},
    ]
    result = check_batch("legal_entities", entities, context=context)
    assert result.accepted_row_numbers == [1]
    assert sorted((r.row_number, r.rule) for r in result.rejected) == [
        (2, "established_on.not_future"), (2, "registered_capital.non_negative"), (3, "registered_capital.type")]

    buildings = [
        {"building_code": "B1", "footprint_wkt": "POLYGON((118.7 32, 118.701 32, 118.701 32.001, 118.7 32))",
         "region_code": "320102", "floors_above": 3, "height_m": 10},
        {"building_code": "B2", "footprint_wkt": BOWTIE.wkt, "region_code": "320102"},
        {"building_code": "B3", "footprint": {"type": "Polygon", "coordinates": [list(OUTSIDE.exterior.coords)]},
         "region_code": "320102"},
        {"building_code": "B4", "footprint_wkt": "POLYGON((118.7 32, 118.701 32, 118.701 32.001, 118.7 32))",
         "region_code": "320102", "floors_above": 30, "height_m": 12},
        {"building_code": "B5", "footprint_wkt": "not a polygon", "region_code": "320102"},
    ]
    result = check_batch("buildings", buildings, context=context)
    assert result.accepted_row_numbers == [1]
    assert [(r.row_number, r.rule) for r in result.rejected] == [
        (2, "footprint.valid"), (3, "footprint.inside_city"), (4, "height_m.fits_floors"), (5, "footprint.valid")]
    assert "Self-intersection" in result.rejected[0].message


def test_a_gap_in_a_series_is_a_finding_not_a_rejection(context: SuiteContext) -> None:
    rows = [{"indicator_code": "GDP_M", "region_code": "320102", "period": f"2024-{m:02d}",
             "period_start": f"2024-{m:02d}-01", "value": 1} for m in (1, 2, 4, 5)]
    result = check_batch("economy_observations", rows, context=context)
    assert result.accepted_row_numbers == [1, 2, 3, 4]
    assert [(f.rule, f.count, f.samples) for f in result.findings] == [
        ("series.complete", 1, [{"series": ["GDP_M", "320102"], "period": "2024-03"}])]


def test_an_unknown_resource_is_refused(context: SuiteContext) -> None:
    with pytest.raises(NotFound):
        check_batch("persons_typo", [], context=context)


def test_a_gated_submission_lands_only_its_good_rows(sync_engine: Engine) -> None:
    good = [submitted(ric(date(1986, 6, 6), seq=i)) for i in (1, 3)]
    bad_checksum = submitted(wrong_check(ric(date(1990, 1, 1), seq=5)))
    unknown_building = submitted(ric(date(1987, 7, 7), seq=9), building_code="NO-SUCH-BUILDING")
    rows = [good[0], bad_checksum, unknown_building, good[1]]
    with sync_engine.connect() as conn:
        from sqlalchemy.orm import Session

        with Session(bind=conn) as session:
            outcome = gate_submission(session, "population", rows, submission_ref="batch-1", department="psb",
                                      submitted_by="dept-psb")
            session.commit()

    assert (outcome.rows, outcome.landed, outcome.inserted, outcome.quarantined) == (4, 2, 2, 2)
    with sync_engine.connect() as conn:
        stored = set(conn.scalars(select(Person.id_number)))
        assert stored == {g["id_number"] for g in good}
        quarantined = conn.execute(select(QuarantinedRecord).order_by(QuarantinedRecord.row_number)).all()
        assert [(q.row_number, q.natural_key, q.status, q.department) for q in quarantined] == [
            (2, bad_checksum["id_number"], "quarantined", "psb"),
            (3, unknown_building["id_number"], "quarantined", "psb")]
        assert [r["rule"] for r in quarantined[0].reasons] == ["id_number.valid"]
        # the base database's own loader rule caught what the suite cannot know: references
        assert [r["rule"] for r in quarantined[1].reasons] == ["building_unknown"]
        assert quarantined[1].record == unknown_building
        run = conn.execute(select(QualityRun)).one()
        assert (run.trigger, run.submission_ref, run.row_count) == ("gate", "batch-1", 4)
