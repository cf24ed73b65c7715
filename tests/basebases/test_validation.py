"""Row rules: national codes (GB 11643, GB 32100, GB/T 2260, GB/T 4754), periods, geometry and CRS."""

from __future__ import annotations

from datetime import date

import pytest
import shapely
from stdnum.cn import uscc

from basebases import codes
from basebases.economy import PeriodError, parse_period
from basebases.geometry import GeometryError, checked, srid_from_crs_name
from basebases.validation import References, check_id_number, check_uscc, clean_building, clean_legal_entity

TODAY = date(2025, 6, 1)


def _id(body: str) -> str:
    from stdnum.cn import ric

    return body + ric.calc_check_digit(body + "0")


def test_id_numbers() -> None:
    number, birth, sex, issues = check_id_number(_id("32010219900307123"), TODAY)
    assert (number, birth, sex, issues) == (_id("32010219900307123"), date(1990, 3, 7), "1", [])  # 3: odd, male
    assert check_id_number(_id("32010219900307123").lower(), TODAY)[0] == _id("32010219900307123")
    cases = {
        _id("32010219900307123")[:-1] + "0" if _id("32010219900307123")[-1] != "0" else "1": "id_number_checksum",
        _id("32010219900230123"): "id_number_birth_date",      # 30 February
        _id("32010230000101123"): "id_number_birth_date",      # born in the future
        _id("32011719900101123"): "id_number_region",          # 溧水区 had no code of its own in 1990
        _id("32012419900101123")[:17] + "A": "id_number_format",
        None: "required",
    }
    for value, rule in cases.items():
        assert [i.rule for i in check_id_number(value, TODAY)[3]] == [rule], value
    assert check_id_number(_id("32012419900101123"), TODAY)[3] == []  # …but 溧水县 had


def test_usccs_and_entity_types() -> None:
    body = "91320102" + "MA1M9B2X" + "5"
    code = body + uscc.calc_check_digit(body)
    assert check_uscc(code) == (code, [])
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert [i.rule for i in check_uscc(wrong)[1]] == ["uscc_checksum"]
    refs = References(today=TODAY)
    row, issues = clean_legal_entity({"uscc": code, "name": "南京测试科技有限公司", "entity_type": "有限责任公司",
                                      "industry_code": "I65"}, refs)
    assert issues == []
    assert row is not None
    assert (row["entity_type"], row["region_code"], row["currency"]) == ("limited_company", "320102", None)
    _, issues = clean_legal_entity({"uscc": code, "name": "x", "entity_type": "基金会", "industry_code": "C65",
                                    "established_on": "2030-01-01"}, refs)
    assert sorted(i.rule for i in issues) == ["date_in_future", "entity_type_mismatch", "industry_code"]


def test_region_and_industry_codes() -> None:
    assert codes.region_exists("320102")
    assert not codes.region_exists("329999")
    assert not codes.regions()["320103"].current  # 白下区, merged into 秦淮区 in 2013
    assert codes.region_prefix("320100") == "3201"
    assert codes.region_prefix("320000") == "32"
    assert codes.industry_problem("I6510") is None
    assert codes.industry_problem("A") is None
    assert "section C" in (codes.industry_problem("C65") or "")
    assert codes.industry_problem("Z01") is not None


def test_buildings_need_valid_geometry_in_an_accepted_crs() -> None:
    refs = References(today=TODAY)
    good = {"building_code": "B1", "region_code": "320102", "floors_above": "6",
            "footprint_wkt": "POLYGON ((118.8 32.05, 118.801 32.05, 118.801 32.051, 118.8 32.051, 118.8 32.05))"}
    row, issues = clean_building(good, refs)
    assert issues == []
    assert row is not None
    assert row["minx"] == 118.8
    assert row["floors_above"] == 6
    bowtie = {**good, "footprint_wkt": "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))"}
    assert [i.rule for i in clean_building(bowtie, refs)[1]] == ["geometry_invalid"]
    point = {**good, "footprint_wkt": "POINT (118.8 32.05)"}
    assert [i.rule for i in clean_building(point, refs)[1]] == ["geometry_type"]
    projected = {**good, "footprint_wkt": "POLYGON ((500000 3500000, 500100 3500000, 500100 3500100, 500000 3500000))"}
    assert [i.rule for i in clean_building(projected, refs)[1]] == ["coordinates_range"]
    retired = {**good, "region_code": "320103", "year_built": "2999", "use": "仓库"}
    assert sorted(i.rule for i in clean_building(retired, refs)[1]) == ["not_in_list", "out_of_range",
                                                                         "region_retired"]
    assert srid_from_crs_name("urn:ogc:def:crs:EPSG::4490") == 4490
    assert srid_from_crs_name("urn:ogc:def:crs:OGC:1.3:CRS84") == 4326
    with pytest.raises(GeometryError):
        srid_from_crs_name("EPSG:3857")
    with pytest.raises(GeometryError):
        checked(shapely.box(118, 32, 119, 33), kinds=("Polygon",), srid=3857)


def test_periods() -> None:
    assert [parse_period(t).label for t in ("2024", "2024年", "2024Q3", "2024-Q3", "2024年第3季度", "2024-07",
                                            "202407", "2024年7月")] == \
        ["2024", "2024", "2024-Q3", "2024-Q3", "2024-Q3", "2024-07", "2024-07", "2024-07"]
    for bad in ("2024-13", "2024Q5", "24", "July 2024"):
        with pytest.raises(PeriodError):
            parse_period(bad)
