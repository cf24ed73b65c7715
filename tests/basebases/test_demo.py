"""The synthetic city: deterministic by seed, internally consistent, and every national code valid."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
import shapely
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from stdnum.cn import ric, uscc
from typer.testing import CliRunner

from basebases import codes
from basebases.demo import BaseDatabasesNotEmpty, run_demo
from basebases.demo_city import AS_OF, DISTRICTS, FIRST_YEAR, GAPS, INDICATORS, LAST_YEAR, DemoCity, generate
from basebases.models import Building, EconomyObservation, Person
from basebases.validation import References, clean_legal_entity, clean_person


def test_the_same_seed_gives_the_same_city(small_city: DemoCity) -> None:
    again = generate(small_city.seed, "small")
    assert [b["building_code"] for b in again.buildings] == [b["building_code"] for b in small_city.buildings]
    assert all(a["footprint"].equals_exact(b["footprint"], 0) for a, b in zip(again.buildings, small_city.buildings,
                                                                              strict=True))
    assert list(again.persons()) == list(small_city.persons())
    assert again.entities == small_city.entities
    assert again.observations == small_city.observations
    other = generate(small_city.seed + 1, "small")
    assert [p["id_number"] for p in other.persons()] != [p["id_number"] for p in small_city.persons()]


def test_geography_nests_districts_parcels_buildings(small_city: DemoCity) -> None:
    districts = {f["feature_key"]: f["geom"] for f in small_city.features if f["layer_code"] == "admin_division"}
    assert set(districts) == {"320100"} | {d[0] for d in DISTRICTS}
    assert all(codes.regions()[code].current for code in districts)
    parcels = {f["feature_key"]: f for f in small_city.features if f["layer_code"] == "parcel"}
    for parcel in parcels.values():
        assert districts[parcel["region_code"]].contains(parcel["geom"])
    for building in small_city.buildings:
        parcel = parcels[building["parcel_code"]]
        assert parcel["geom"].contains(building["footprint"])
        assert building["footprint"].is_valid
        assert building["region_code"] == parcel["region_code"]
    # The districts tile the city: no overlaps, no gaps.
    union = shapely.union_all([g for k, g in districts.items() if k != "320100"])
    assert union.symmetric_difference(districts["320100"]).area < 1e-9
    assert {r["geom"].geom_type for r in small_city.features if r["layer_code"] == "road"} <= {"LineString",
                                                                                             "MultiLineString"}


def test_people_have_valid_consistent_ids_and_live_in_buildings(small_city: DemoCity) -> None:
    people = list(small_city.persons())
    assert len(people) == small_city.scale.persons == 2_000
    assert len({p["id_number"] for p in people}) == len(people)
    homes = {b["building_code"]: b for b in small_city.buildings}
    refs = References(building_codes=set(homes), today=AS_OF)
    for person in people:
        number = person["id_number"]
        assert ric.is_valid(number), number  # checksum, date and a region in use in the birth year
        assert ric.get_birth_date(number) == person["birth_date"]
        assert person["sex"] == ("1" if int(number[16]) % 2 else "2")
        assert homes[person["building_code"]]["use"] in ("residential", "mixed")
        assert clean_person({**person, "birth_date": person["birth_date"].isoformat()}, refs)[1] == []
    assert Counter(p["hukou_region_code"][:4] == "3201" for p in people)[False] > 0  # migrants too
    assert min(p["birth_date"] for p in people) < date(1960, 1, 1)


def test_entities_have_valid_usccs_registered_in_buildings(small_city: DemoCity) -> None:
    homes = {b["building_code"]: b for b in small_city.buildings}
    refs = References(building_codes=set(homes))
    for entity in small_city.entities:
        assert uscc.is_valid(entity["uscc"])
        assert entity["uscc"][2:8] == homes[entity["building_code"]]["region_code"] == entity["region_code"]
        row, issues = clean_legal_entity({**entity, "established_on": entity["established_on"].isoformat()}, refs)
        assert issues == []
        assert row is not None
    owners = {b["owner_uscc"] for b in small_city.buildings if b["owner_uscc"]}
    assert owners
    assert owners <= {e["uscc"] for e in small_city.entities}


def test_ten_years_of_series_per_district(small_city: DemoCity) -> None:
    per_year = {"month": 12, "quarter": 4, "year": 1}
    years = LAST_YEAR - FIRST_YEAR + 1
    counts = Counter((o["indicator_code"], o["region_code"]) for o in small_city.observations)
    for indicator in INDICATORS:
        for code, *_ in DISTRICTS:
            gaps = sum(1 for g in GAPS if g[:2] == (indicator.code, code))
            assert counts[(indicator.code, code)] == years * per_year[indicator.frequency] - gaps


def test_run_demo_writes_everything_and_refuses_to_mix(sync_engine: Engine) -> None:
    summary = run_demo(sync_engine, seed=9, scale="small")
    with Session(sync_engine) as session:
        assert session.scalar(select(func.count()).select_from(Person)) == summary.counts["persons"] == 2_000
        assert session.scalar(select(func.count()).select_from(Building)) == summary.counts["buildings"]
        assert (session.scalar(select(func.count()).select_from(EconomyObservation)) or 0) > 5_000
    with pytest.raises(BaseDatabasesNotEmpty):
        run_demo(sync_engine, seed=9, scale="small")
    assert run_demo(sync_engine, seed=9, scale="small", if_empty=True).skipped
    replaced = run_demo(sync_engine, seed=10, scale="small", replace=True)
    assert replaced.counts["persons"] == 2_000


def test_cpip_demo_and_load_are_top_level_commands(sync_engine: Engine, tmp_path: pytest.TempPathFactory) -> None:
    from gateway.cli import app
    from gateway.registry import register_cli

    register_cli(app)
    runner = CliRunner()
    seeded = runner.invoke(app, ["demo", "--scale", "small", "--seed", "4"])
    assert seeded.exit_code == 0, seeded.output
    again = runner.invoke(app, ["demo", "--scale", "small"])
    assert again.exit_code == 1
    assert "--replace" in again.output
    path = tmp_path / "ind.csv"  # type: ignore[operator]
    path.write_text("code,name,unit,frequency\nTOUR,旅游总收入,亿元,quarter\nBAD,,元,weekly\n", encoding="utf-8")
    loaded = runner.invoke(app, ["load", "indicators", str(path), "--json"])
    assert loaded.exit_code == 3, loaded.output  # 3: loaded, with rejected rows
    assert '"inserted": 1' in loaded.output
    assert '"rejected": 1' in loaded.output
