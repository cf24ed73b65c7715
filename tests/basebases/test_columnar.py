"""The whole-batch person cleaner never accepts what the row cleaner would not, and agrees on the values."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from basebases.columnar import PERSON_COLUMNS, PersonClassifier
from basebases.demo_city import DemoCity
from basebases.validation import References, clean_person

TODAY = date(2025, 6, 1)
BUILDINGS = {"320102000000000", "320102000000001", "320118015400001"}


def _id(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


GOOD = {
    "id_number": _id("32010219900307123"), "name": "张三", "sex": "1", "birth_date": "1990-03-07",
    "ethnicity": "01", "hukou_region_code": "320102", "residence_address": "南京市玄武区建康路1号",
    "building_code": "320102000000000", "phone": "13812345678", "status": "normal",
}
# Values that are right, wrong, or right but not canonical, per field; mixed freely by the strategy below.
VARIANTS: dict[str, list[str]] = {
    "id_number": [GOOD["id_number"], GOOD["id_number"].lower(), " " + GOOD["id_number"], _id("32010219900230123"),
                  _id("32010230000101123"), _id("32010220250602123"), _id("32010220250601124"),
                  _id("32011719900101123"), _id("32012419900101123"),
                  _id("32010220000229124"), _id("32010219000229124"), _id("32010200000101123"),
                  GOOD["id_number"][:17] + ("0" if GOOD["id_number"][17] != "0" else "1"), "1234", "",
                  _id("32010219900307123").replace("3", "３", 1), _id("99999919900307123")],
    "name": ["张三", "", " 张三", "张三\u3000", "张\x00三", "张" * 50, "张" * 51, "A\tB", "\u00a0", "O'Brien \"Jr\""],
    "sex": ["", "1", "2", "男", "女", "3", " 1"],
    "birth_date": ["", "1990-03-07", "19900307", "1990/03/07", "1990.03.07", "1990/03-07", "1990-03-08", "2000-02-29",
                   "2000-02-30", "x"],
    "ethnicity": ["", "01", "58", "汉族", "99", "1"],
    "hukou_region_code": ["320102", "", "320117", "110101", "999999", "320102 ", "32010"],
    "residence_address": ["", "南京市", "路" * 200, "路" * 201, "南京市 ", "\x1f南京"],
    "building_code": ["", "320102000000000", "320118015400001", "nope", " 320102000000001"],
    "phone": ["", "13812345678", "12812345678", "025-84201234", "02584201234", "0258420123-12",
              "１3812345678", "13812345678\n", "+8613812345678"],
    "status": ["", "normal", "moved_out", "deceased", "死亡", "Normal", "gone"],
}


def _batch(records: list[dict[str, str]]) -> pa.Table:
    return pa.table({c: pa.array([r[c] for r in records], type=pa.string()) for c in PERSON_COLUMNS})


def _authority(record: dict[str, str]) -> dict[str, Any] | None:
    row, _ = clean_person(record, References(building_codes=set(BUILDINGS), today=TODAY))
    if row is None:
        return None
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}


def _check(records: list[dict[str, str]]) -> int:
    result = PersonClassifier(BUILDINGS, TODAY).classify(_batch(records))
    assert sorted([*result.cleaned_rows, *result.other_rows]) == list(range(len(records)))
    for position, cleaned in zip(result.cleaned_rows, result.cleaned.to_pylist(), strict=True):
        assert cleaned == _authority(records[position]), records[position]
    return len(result.cleaned_rows)


# Mostly good fields, so records with one or two problems (the ones a looser check would let through) are common.
records_strategy = st.lists(
    st.fixed_dictionaries({name: st.one_of(st.just(GOOD[name]), st.just(GOOD[name]), st.sampled_from(values))
                           for name, values in VARIANTS.items()}),
    min_size=1, max_size=40)
free_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)


def test_every_variant_of_every_field_on_an_otherwise_good_record() -> None:
    # Also on a record whose sex and birth date are left for the number to supply, so a bad number is not
    # caught only by contradicting them.
    bases = (GOOD, {**GOOD, "sex": "", "birth_date": ""})
    records = [{**base, name: value} for base in bases for name, values in VARIANTS.items() for value in values]
    accepted = _check(records)
    assert 0 < accepted < len(records)


@given(records_strategy)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_fast_rows_are_exactly_what_the_row_cleaner_returns(records: list[dict[str, str]]) -> None:
    _check(records)


@given(st.dictionaries(st.sampled_from(PERSON_COLUMNS), free_text, min_size=1))
@settings(max_examples=300)
def test_arbitrary_text_in_any_field_is_never_accepted_wrongly(changes: dict[str, str]) -> None:
    _check([{**GOOD, **changes}])


def test_canonical_records_take_the_fast_path(small_city: DemoCity) -> None:
    # The point of the module: the demo city's persons, as an export writes them, are all cleaned here.
    persons = list(small_city.persons())
    records = [{c: "" if p[c] is None else str(p[c]) for c in PERSON_COLUMNS} for p in persons]
    buildings = {b["building_code"] for b in small_city.buildings}
    result = PersonClassifier(buildings, date.today()).classify(_batch(records))
    assert len(result.cleaned_rows) == len(records) > 1000
    assert _check([GOOD]) == 1


def test_missing_optional_columns_are_empty() -> None:
    table = pa.table({"id_number": [GOOD["id_number"]], "name": ["张三"], "hukou_region_code": ["320102"]})
    result = PersonClassifier(BUILDINGS, TODAY).classify(table)
    assert result.cleaned.to_pylist() == [_authority({"id_number": GOOD["id_number"], "name": "张三",
                                                      "hukou_region_code": "320102"})]
