"""`cpip load`: encodings, rejects with reasons, idempotent upserts, GeoJSON geometry checks."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from stdnum.cn import ric

from basebases.demo_city import DemoCity
from basebases.ingest import load_file
from basebases.models import Building, EconomyObservation, LoadRun, Person, QuarantinedRow, SpatialFeature
from basebases.readers import LoadFileError

pytestmark = pytest.mark.usefixtures("settings")

HEADER = ["公民身份号码", "姓名", "性别", "出生日期", "民族", "户籍地行政区划代码", "居住地址", "居住建筑物编码",
          "联系电话"]


def _person_rows(city: DemoCity, count: int) -> list[dict[str, Any]]:
    return [p for _, p in zip(range(count), city.persons(), strict=False)]


def _write_persons_csv(path: Path, rows: list[dict[str, Any]], encoding: str, broken: dict[int, str] | None = None,
                       ) -> Path:
    broken = broken or {}
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i, p in enumerate(rows):
            writer.writerow([broken.get(i, p["id_number"]), p["name"], "男" if p["sex"] == "1" else "女",
                             p["birth_date"].isoformat(), p["ethnicity"], p["hukou_region_code"],
                             p["residence_address"], p["building_code"], p["phone"] or ""])
    return path


def _snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(Person).order_by(Person.id_number))]


def _with_check(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


def _bad_checksum(number: str) -> str:
    return number[:-1] + ("1" if number[-1] != "1" else "2")


def test_gb18030_csv_with_three_bad_ids_loads_the_rest_and_reports_exactly_those(
        sync_engine: Engine, with_buildings: DemoCity, tmp_path: Path) -> None:
    rows = _person_rows(with_buildings, 40)
    rows[5]["name"] = "𠀀" + rows[5]["name"][1:]  # a CJK Extension B character: GB18030 encodes it, GBK cannot
    bad = {3: _bad_checksum(rows[3]["id_number"]),
           17: _with_check(rows[17]["id_number"][:6] + "20231341" + rows[17]["id_number"][14:17]),  # 13th month
           30: _with_check("99" + rows[30]["id_number"][2:17])}  # no such region
    path = _write_persons_csv(tmp_path / "persons.csv", rows, "gb18030", bad)

    report = load_file(sync_engine, "population", path)

    assert report.encoding == "gb18030"
    assert (report.rows_read, report.inserted, report.rejected) == (40, 37, 3)
    rules = {r.row: [i.rule for i in r.issues] for r in report.rejections}
    assert rules == {4: ["id_number_checksum"], 18: ["id_number_birth_date"], 31: ["id_number_region"]}
    assert all(i.field == "id_number" for r in report.rejections for i in r.issues)
    with Session(sync_engine) as session:
        stored = session.scalar(select(Person).where(Person.id_number == rows[5]["id_number"]))
        assert stored is not None
        assert stored.name == rows[5]["name"]
        quarantined = session.scalars(select(QuarantinedRow).where(QuarantinedRow.load_id == report.load_id)
                                      .order_by(QuarantinedRow.row_number)).all()
        assert [q.row_number for q in quarantined] == [4, 18, 31]
        assert all(q.field == "id_number" and q.message for q in quarantined)
        assert quarantined[0].record["id_number"] == bad[3]
    with Path(report.reject_file or "").open(encoding="utf-8-sig") as fh:
        rejected = list(csv.DictReader(fh))
    assert [r["_row"] for r in rejected] == ["4", "18", "31"]
    assert [r["id_number"] for r in rejected] == [bad[3], bad[17], bad[30]]


def test_id_rules_name_the_reason(sync_engine: Engine, with_buildings: DemoCity, tmp_path: Path) -> None:
    rows = _person_rows(with_buildings, 6)
    valid = _with_check
    bad = {0: _bad_checksum(rows[0]["id_number"]),
           1: valid("320102" + "20231341" + "123"),          # a 13th month
           2: valid("320115" + "19900101" + "123"),          # 江宁区 got its code in 2000
           3: "32010219900101123"}                           # 17 characters
    path = _write_persons_csv(tmp_path / "p.csv", rows, "utf-8", bad)
    report = load_file(sync_engine, "population", path)
    rules = {r.row: r.issues[0].rule for r in report.rejections}
    assert rules == {1: "id_number_checksum", 2: "id_number_birth_date", 3: "id_number_region",
                     4: "id_number_format"}
    assert "320115" in report.rejections[2].issues[0].message
    assert "1990" in report.rejections[2].issues[0].message


def test_loading_the_same_file_twice_changes_nothing(sync_engine: Engine, with_buildings: DemoCity,
                                                     tmp_path: Path) -> None:
    rows = _person_rows(with_buildings, 30)
    path = _write_persons_csv(tmp_path / "p.csv", rows, "utf-8-sig", {7: _bad_checksum(rows[7]["id_number"])})
    first = load_file(sync_engine, "population", path)
    before = _snapshot(sync_engine)
    second = load_file(sync_engine, "population", path)
    assert (first.inserted, first.updated, first.unchanged, first.rejected) == (29, 0, 0, 1)
    assert (second.inserted, second.updated, second.unchanged, second.rejected) == (0, 0, 29, 1)
    assert _snapshot(sync_engine) == before  # not even updated_at moved
    assert first.encoding == "utf-8-sig"


def test_a_changed_row_is_updated_and_only_it(sync_engine: Engine, with_buildings: DemoCity, tmp_path: Path) -> None:
    rows = _person_rows(with_buildings, 10)
    first = load_file(sync_engine, "population", _write_persons_csv(tmp_path / "a.csv", rows, "gbk"))
    assert (first.encoding, first.inserted) == ("gbk", 10)
    rows[2]["phone"] = "13900001111"
    rows[2]["residence_address"] = "南京市玄武区新地址1号"
    report = load_file(sync_engine, "population", _write_persons_csv(tmp_path / "b.csv", rows, "utf-8"))
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 9)
    with Session(sync_engine) as session:
        person = session.scalar(select(Person).where(Person.id_number == rows[2]["id_number"]))
        assert person is not None
        assert (person.phone, person.residence_address) == ("13900001111", "南京市玄武区新地址1号")
        assert person.updated_at > person.created_at


def test_consistency_with_the_id_number(sync_engine: Engine, with_buildings: DemoCity, tmp_path: Path) -> None:
    rows = _person_rows(with_buildings, 3)
    path = tmp_path / "p.ndjson"
    lines = [
        {**rows[0], "sex": "2" if rows[0]["sex"] == "1" else "1"},
        {**rows[1], "birth_date": "1901-01-01"},
        {**rows[2], "building_code": "NO-SUCH-BUILDING", "hukou_region_code": "999999"},
        "not json",
    ]
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line, default=str) for line in lines),
                    encoding="utf-8")
    report = load_file(sync_engine, "population", path)
    found = {(r.row, i.field, i.rule) for r in report.rejections for i in r.issues}
    assert found == {(1, "sex", "sex_mismatch"), (2, "birth_date", "birth_date_mismatch"),
                     (3, "building_code", "building_unknown"), (3, "hukou_region_code", "region_unknown"),
                     (4, "(record)", "json_syntax")}
    assert report.inserted == 0
    assert report.rejected == 4
    assert Path(report.reject_file or "").read_text(encoding="utf-8").count("\n") == 4


def test_an_undetectable_encoding_is_a_clear_error(sync_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("公民身份号码,姓名\n".encode() + b"\xff\xfe\xff,\x80\x80\n")
    with pytest.raises(LoadFileError) as failed:
        load_file(sync_engine, "population", path)
    assert "not UTF-8, UTF-8 with BOM, GB18030 or GBK" in failed.value.detail
    with Session(sync_engine) as session:
        run = session.scalar(select(LoadRun).order_by(LoadRun.started_at.desc()))
        assert run is not None
        assert run.status == "failed"


def test_a_file_without_the_key_column_is_refused(sync_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("姓名,性别\n张三,男\n", encoding="utf-8")
    with pytest.raises(LoadFileError) as failed:
        load_file(sync_engine, "population", path)
    assert "id_number" in failed.value.detail


def _feature(key: str, coordinates: Any, kind: str = "Polygon", **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "id": key, "properties": {"building_code": key, "region_code": "320102",
                                                         "floors_above": 5, **props},
            "geometry": {"type": kind, "coordinates": coordinates}}


def test_geojson_self_intersecting_polygon_is_rejected_naming_the_feature(sync_engine: Engine,
                                                                          tmp_path: Path) -> None:
    square = [[[118.80, 32.05], [118.801, 32.05], [118.801, 32.051], [118.80, 32.051], [118.80, 32.05]]]
    bowtie = [[[118.81, 32.05], [118.811, 32.051], [118.811, 32.05], [118.81, 32.051], [118.81, 32.05]]]
    path = tmp_path / "b.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        _feature("B-OK", square), _feature("B-BOWTIE", bowtie)]}), encoding="utf-8")
    report = load_file(sync_engine, "buildings", path)
    assert (report.inserted, report.rejected) == (1, 1)
    [issue] = report.rejections[0].issues
    assert issue.rule == "geometry_invalid"
    assert "B-BOWTIE" in issue.message
    assert "Self-intersection" in issue.message
    with Session(sync_engine) as session:
        [quarantined] = session.scalars(select(QuarantinedRow).where(QuarantinedRow.load_id == report.load_id))
        assert "B-BOWTIE" in quarantined.message
        assert quarantined.row_number == 2
        assert session.scalar(select(func.count()).select_from(Building)) == 1


def test_geojson_crs_cgcs2000_is_honoured_and_wgs84_transformed(sync_engine: Engine, tmp_path: Path) -> None:
    square = [[[118.80, 32.05], [118.801, 32.05], [118.801, 32.051], [118.80, 32.051], [118.80, 32.05]]]
    cgcs = tmp_path / "cgcs.geojson"
    cgcs.write_text(json.dumps({"type": "FeatureCollection",
                                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}},
                                "features": [_feature("B-CGCS", square)]}), encoding="utf-8")
    assert load_file(sync_engine, "buildings", cgcs).srid == 4490
    wgs = tmp_path / "wgs.geojson"
    wgs.write_text(json.dumps({"type": "FeatureCollection", "features": [_feature("B-WGS", square)]}),
                   encoding="utf-8")
    assert load_file(sync_engine, "buildings", wgs).srid == 4326
    mercator = tmp_path / "m.geojson"
    mercator.write_text(json.dumps({"type": "FeatureCollection",
                                    "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                                    "features": [_feature("B-M", square)]}), encoding="utf-8")
    with pytest.raises(LoadFileError) as refused:
        load_file(sync_engine, "buildings", mercator)
    assert "EPSG:3857" in refused.value.detail
    with Session(sync_engine) as session:
        stored = {b.building_code: b.footprint for b in session.scalars(select(Building))}
    # CGCS2000 and WGS84 agree to well under a millimetre at city scale (pyproj's datum step is a no-op here).
    assert stored["B-CGCS"].equals_exact(stored["B-WGS"], 1e-8)
    assert stored["B-CGCS"].bounds == (118.80, 32.05, 118.801, 32.051)


def test_spatial_features_csv_with_wkt_and_a_default_layer(sync_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "roads.csv"
    path.write_text("feature_key,name,wkt,grade\n"
                    "R1,中山路,\"LINESTRING (118.78 32.04, 118.79 32.05)\",主干路\n"
                    "R2,坏路,\"POINT (118.78 32.04)\",支路\n", encoding="utf-8")
    report = load_file(sync_engine, "spatial_features", path, defaults={"layer_code": "road"})
    assert (report.inserted, report.rejected) == (1, 1)
    assert report.rejections[0].issues[0].rule == "geometry_type"
    with Session(sync_engine) as session:
        road = session.scalar(select(SpatialFeature).where(SpatialFeature.feature_key == "R1"))
        assert road is not None
        assert road.attributes == {"grade": "主干路"}
        assert road.layer_code == "road"
    again = load_file(sync_engine, "spatial_features", path, defaults={"layer_code": "road"})
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)


def test_economy_observations_revise_on_change(sync_engine: Engine, seeded: DemoCity, tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_text("indicator_code,region_code,period,value,status\n"
                    "GDP,320102,2024Q4,999.5,p\n"
                    "GDP,320102,2025年第1季度,1000,p\n"
                    "GDP,320102,2025-03,1,\n", encoding="utf-8")
    report = load_file(sync_engine, "economy_observations", path)
    assert (report.inserted, report.updated, report.rejected) == (1, 1, 1)
    assert report.rejections[0].issues[0].rule == "period_frequency"
    with Session(sync_engine) as session:
        revised = session.scalar(select(EconomyObservation).where(
            EconomyObservation.indicator_code == "GDP", EconomyObservation.region_code == "320102",
            EconomyObservation.period == "2024-Q4"))
        assert revised is not None
        assert (revised.value, revised.revision) == (999.5, 1)
        new = session.scalar(select(EconomyObservation).where(EconomyObservation.period == "2025-Q1",
                                                              EconomyObservation.region_code == "320102"))
        assert new is not None
        assert new.revision == 0
    again = load_file(sync_engine, "economy_observations", path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_duplicate_keys_in_one_file_are_rejected_not_merged(sync_engine: Engine, with_buildings: DemoCity,
                                                            tmp_path: Path) -> None:
    rows = _person_rows(with_buildings, 3)
    rows.append({**rows[0], "name": "另一个人"})
    report = load_file(sync_engine, "population", _write_persons_csv(tmp_path / "d.csv", rows, "utf-8"))
    assert (report.inserted, report.rejected) == (3, 1)
    assert report.rejections[0].issues[0].rule == "duplicate_key"
    assert "row 1" in report.rejections[0].issues[0].message
    with sync_engine.connect() as conn:
        assert conn.scalar(text("SELECT name FROM persons WHERE id_number = :n"),
                           {"n": rows[0]["id_number"]}) == rows[0]["name"]


def test_upsert_records_applies_the_same_rules_without_a_file(sync_engine: Engine, with_buildings: DemoCity) -> None:
    from basebases.ingest import upsert_records

    rows = [{**p, "birth_date": p["birth_date"].isoformat()} for p in _person_rows(with_buildings, 4)]
    batch = [*rows, {**rows[1], "name": "重复"}, {**rows[2], "id_number": _bad_checksum(rows[2]["id_number"])}]
    with sync_engine.begin() as conn:
        first = upsert_records(conn, "population", batch)
        second = upsert_records(conn, "population", rows)  # twice in one transaction
    assert (first.inserted, first.updated, first.unchanged) == (4, 0, 0)
    assert [(index, issues[0].rule) for index, issues in first.rejected] == [(4, "duplicate_key"),
                                                                              (5, "id_number_checksum")]
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 4)
