"""Read services against the seeded demo city. Every expected answer is computed from the generator's own
data (with shapely, in Python), never typed in, so the same assertions hold on SQLite and on PostGIS: run on
both back ends, they show the two give identical answers for the same seed."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from basebases import service
from basebases.demo_city import GAPS, DemoCity
from basebases.geometry import local_distance_degrees
from cpip.errors import NotFound, ValidationFailed

pytestmark = pytest.mark.usefixtures("settings")


async def _run(sessionmaker: async_sessionmaker[AsyncSession], fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    async with sessionmaker() as session:
        return await fn(session)


def _windows(city: DemoCity, count: int, seed: int = 11) -> list[BaseGeometry]:
    """Query windows around buildings and across district borders, of mixed sizes."""
    rng = random.Random(seed)
    windows = []
    for _ in range(count):
        centre = rng.choice(city.buildings)["footprint"].centroid
        half = rng.choice([0.0005, 0.002, 0.01, 0.05])
        windows.append(shapely.box(centre.x - half, centre.y - half * 0.8, centre.x + half, centre.y + half * 1.2))
    return windows


async def _all_pages(fetch: Callable[[str | None], Awaitable[Any]]) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


async def test_buildings_in_a_bbox_match_shapely_across_pages(sessionmaker: async_sessionmaker[AsyncSession],
                                                              seeded: DemoCity) -> None:
    for window in _windows(seeded, 12):
        expected = sorted(b["building_code"] for b in seeded.buildings if b["footprint"].intersects(window))
        async with sessionmaker() as session:
            found = await _all_pages(lambda c, s=session, w=window: service.buildings_in_area(  # type: ignore[misc]
                s, w, cursor=c, limit=7))
        assert [b.building_code for b in found] == expected
    assert any(b["footprint"].intersects(w) for w in _windows(seeded, 12) for b in seeded.buildings)


async def test_buildings_within_a_polygon(sessionmaker: async_sessionmaker[AsyncSession], seeded: DemoCity) -> None:
    xs = [b["footprint"].centroid.x for b in seeded.buildings]
    ys = [b["footprint"].centroid.y for b in seeded.buildings]
    triangle = shapely.Polygon([(min(xs), min(ys)), (max(xs), min(ys)), ((min(xs) + max(xs)) / 2, max(ys))])
    for relation in ("within", "intersects"):
        expected = sorted(b["building_code"] for b in seeded.buildings
                          if getattr(b["footprint"], relation)(triangle))
        async with sessionmaker() as session:
            found = await _all_pages(lambda c, s=session, r=relation: service.buildings_in_area(  # type: ignore[misc]
                s, triangle, relation=r, cursor=c, limit=50))
        assert [b.building_code for b in found] == expected
        assert 0 < len(expected) < len(seeded.buildings)


async def test_nearest_buildings_match_brute_force(sessionmaker: async_sessionmaker[AsyncSession],
                                                   seeded: DemoCity) -> None:
    rng = random.Random(5)
    for _ in range(8):
        anchor = rng.choice(seeded.buildings)["footprint"].centroid
        x, y = anchor.x + rng.uniform(-0.01, 0.01), anchor.y + rng.uniform(-0.01, 0.01)
        ranked = sorted((local_distance_degrees(b["footprint"], x, y), b["building_code"]) for b in seeded.buildings)
        async with sessionmaker() as session:
            found = await service.nearest_buildings(session, shapely.Point(x, y), 5)
        assert [n.building.building_code for n in found] == [code for _d, code in ranked[:5]]
        assert found[0].distance_m == pytest.approx(ranked[0][0] * 111_320, abs=0.01)


async def test_region_containing_a_point(sessionmaker: async_sessionmaker[AsyncSession], seeded: DemoCity) -> None:
    for b in seeded.buildings[::9]:
        point = b["footprint"].centroid
        async with sessionmaker() as session:
            region = await service.region_at(session, service.parse_point(point.x, point.y))
        assert region.code == b["region_code"]
        assert [p.code for p in region.path] == ["320000", "320100", b["region_code"]]
    async with sessionmaker() as session:
        with pytest.raises(NotFound):
            await service.region_at(session, service.parse_point(100.0, 40.0))


async def test_features_by_layer_and_bbox(sessionmaker: async_sessionmaker[AsyncSession], seeded: DemoCity) -> None:
    for window in _windows(seeded, 6, seed=3):
        for layer in ("parcel", "road", "poi"):
            expected = sorted(f["feature_key"] for f in seeded.features
                              if f["layer_code"] == layer and f["geom"].intersects(window))
            async with sessionmaker() as session:
                collection = await service.features(session, layer, window, cursor=None, limit=500)
            assert [f.id for f in collection.features] == expected
            for feature in collection.features:
                assert feature.properties["layer_code"] == layer
                assert shapely.geometry.shape(feature.geometry).intersects(window)
    async with sessionmaker() as session:
        with pytest.raises(NotFound):
            await service.features(session, "no-such-layer", None, cursor=None, limit=5)


async def test_economy_rolls_up_and_reports_the_gap(sessionmaker: async_sessionmaker[AsyncSession],
                                                    seeded: DemoCity) -> None:
    [(indicator, region, gap)] = [g for g in GAPS if g[0] == "RETAIL"]
    monthly = {o["period"]: o["value"] for o in seeded.observations
               if o["indicator_code"] == indicator and o["region_code"] == region}
    async with sessionmaker() as session:
        yearly = await service.series(session, indicator, region, start="2019", end="2021", frequency="year")
        quarterly = await service.series(session, indicator, region, start="2020-Q1", end="2020-Q2",
                                         frequency="quarter")
    values = {p.period: p.value for p in yearly.points}
    assert values["2019"] == pytest.approx(math.fsum(v for k, v in monthly.items() if k.startswith("2019")))
    assert values["2020"] is None  # a year with a missing month has no honest total
    assert [p.missing for p in yearly.points] == [[], [gap], []]
    assert yearly.completeness.missing_periods == [gap]
    assert yearly.completeness.expected_periods == 36
    assert not yearly.completeness.complete
    q1, q2 = quarterly.points
    assert (q1.value, q1.available, q1.expected) == (None, 2, 3)
    assert q2.value == pytest.approx(math.fsum(monthly[f"2020-{m:02d}"] for m in (4, 5, 6)))
    async with sessionmaker() as session:
        with pytest.raises(ValidationFailed) as finer:
            await service.series(session, "GDP", region, frequency="month")
        assert finer.value.extensions["errors"][0]["field"] == "frequency"
        cpi = await service.series(session, "CPI", region, start="2023", end="2023", frequency="year")
    cpi_months = [o["value"] for o in seeded.observations if o["indicator_code"] == "CPI"
                  and o["region_code"] == region and o["period"].startswith("2023")]
    assert cpi.points[0].value == pytest.approx(math.fsum(cpi_months) / 12)


async def test_persons_by_building_and_region_masked_for_others(sessionmaker: async_sessionmaker[AsyncSession],
                                                                seeded: DemoCity) -> None:
    people = list(seeded.persons())
    home = max(seeded.buildings, key=lambda b: sum(p["building_code"] == b["building_code"] for p in people))
    residents = sorted(p["id_number"] for p in people if p["building_code"] == home["building_code"])
    async with sessionmaker() as session:
        full = await _all_pages(lambda c: service.list_persons(session, building_code=home["building_code"],
                                                               region_code=None, cursor=c, limit=10, full=True))
        masked = await service.list_persons(session, building_code=home["building_code"], region_code=None,
                                            cursor=None, limit=10, full=False)
    assert [p.id_number for p in full] == residents
    by_id = {p["id_number"]: p for p in people}
    first = masked.items[0]
    original = by_id[full[0].id_number]
    assert first.masked
    assert first.id_number == original["id_number"][:6] + "*" * 8 + original["id_number"][-4:]
    assert first.name[0] == original["name"][0]
    assert set(first.name[1:]) == {"*"}
    assert full[0].name == original["name"]
    assert not full[0].masked
    district = home["region_code"]
    expected = sorted(p["id_number"] for p in people if p["hukou_region_code"] == district)
    async with sessionmaker() as session:
        in_region = await _all_pages(lambda c: service.list_persons(session, building_code=None,
                                                                    region_code=district, cursor=c, limit=100,
                                                                    full=True))
        with pytest.raises(ValidationFailed):
            await service.list_persons(session, building_code=None, region_code=None, cursor=None, limit=10,
                                       full=True)
    assert [p.id_number for p in in_region] == expected


async def test_person_and_entity_lookups(sessionmaker: async_sessionmaker[AsyncSession], seeded: DemoCity) -> None:
    person = next(iter(seeded.persons()))
    entity = seeded.entities[3]
    term = entity["name"][2:5]
    expected = sorted(e["uscc"] for e in seeded.entities if term in e["name"])
    async with sessionmaker() as session:
        found = await service.get_person(session, person["id_number"].lower(), full=True)
        clear = await service.get_entity(session, entity["uscc"])
        named = await _all_pages(lambda c: service.entities_by_name(session, term, c, 3))
        with pytest.raises(NotFound):
            await service.get_person(session, "110101199001011234", full=True)
    assert found.birth_date == person["birth_date"].isoformat()
    assert found.name == person["name"]
    assert (clear.name, clear.entity_type) == (entity["name"], entity["entity_type"])
    assert [e.uscc for e in named] == expected


def test_bad_spatial_input_names_the_field() -> None:
    for text, rule in (("1,2,3", "bbox_format"), ("118,32,117,33", "bbox_range"), ("a,b,c,d", "bbox_format")):
        with pytest.raises(ValidationFailed) as refused:
            service.parse_bbox(text)
        assert refused.value.extensions["errors"] == [{"field": "bbox", "rule": rule,
                                                       "message": refused.value.extensions["errors"][0]["message"]}]
    with pytest.raises(ValidationFailed) as crs:
        service.parse_bbox("118,32,119,33", srid=3857)
    assert crs.value.extensions["errors"][0]["field"] == "srid"
    with pytest.raises(ValidationFailed) as bowtie:
        service.parse_area({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})
    assert bowtie.value.extensions["errors"][0]["rule"] == "geometry_invalid"
    with pytest.raises(ValidationFailed):
        service.decode_cursor("not-a-cursor")
