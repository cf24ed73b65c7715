"""The base databases over REST and GraphQL, as departments use them: real tokens from the development IdP,
the interim masking rule (the provider reads in full, others masked), every read in the access audit log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import shapely
from sqlalchemy import Engine, text

from basebases.demo import write_city
from basebases.demo_city import DemoCity, generate
from cpip.settings import Settings
from security.audit import subject_hmac
from tests.support.auth_fixtures import bearer

Tokens = Callable[[str], str]
API = "/api/v1"


@pytest.fixture(scope="module")
def city() -> DemoCity:
    return generate(3, "small")


@pytest.fixture
def seeded(sync_engine: Engine, city: DemoCity) -> DemoCity:
    write_city(sync_engine, city)
    return city


def _events(engine: Engine, action: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT principal, resource, record_count, subject_keys, outcome, fields, api "
                                 "FROM audit_events WHERE action = :a ORDER BY id"), {"a": action}).mappings()
        return [{**r, "subject_keys": _json(r["subject_keys"]), "fields": _json(r["fields"])} for r in rows]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def test_a_person_for_the_provider_refused_to_others_without_a_grant_and_audited(
        client: httpx.AsyncClient, token_for: Tokens, seeded: DemoCity, sync_engine: Engine,
        settings: Settings) -> None:
    person = next(iter(seeded.persons()))
    path = f"{API}/population/persons/{person['id_number']}"
    provider = await client.get(path, headers=bearer(token_for("li.na")))  # 公安 (psb) provides population
    assert provider.status_code == 200, provider.text
    assert provider.json()["name"] == person["name"]
    assert provider.json()["masked"] is False
    # 民政 (a consumer) reads population only through an exchange grant: no personal field leaves here.
    other = await client.get(path, headers=bearer(token_for("zhang.wei")))
    refused = _problem(other, 403)
    assert refused["type"] == "/problems/grant-required"
    assert person["name"] not in other.text  # (the path the caller sent is echoed as `instance`, nothing else)
    assert person.get("phone") is None or person["phone"] not in other.text
    listed = await client.get(f"{API}/population/persons", params={"region_code": person["hukou_region_code"]},
                              headers=bearer(token_for("dept-civil")))
    assert _problem(listed, 403)["type"] == "/problems/grant-required"
    events = _events(sync_engine, "population.person")
    assert [e["outcome"] for e in events] == ["allowed"]
    refusals = _events(sync_engine, "GET " + API + "/population/persons/{id_number}")
    assert [e["outcome"] for e in refusals] == ["denied"]
    assert refusals[0]["principal"] != events[0]["principal"]  # the consumer, not the provider
    key = settings.audit_hmac_key.get_secret_value().encode()
    assert events[0]["subject_keys"] == [subject_hmac(key, person["id_number"])]
    assert events[0]["record_count"] == 1
    assert "id_number" in events[0]["fields"]


async def test_who_may_read(client: httpx.AsyncClient, token_for: Tokens, seeded: DemoCity) -> None:
    path = f"{API}/buildings/{seeded.buildings[0]['building_code']}"
    _problem(await client.get(path), 401)
    _problem(await client.get(path, headers=bearer(token_for("chen.dev"))), 403)  # open-data developer
    _problem(await client.get(path, headers=bearer(token_for("wang.fang"))), 403)  # security officer
    assert (await client.get(path, headers=bearer(token_for("dept-civil")))).status_code == 200


async def test_persons_need_a_building_or_region_and_page_by_cursor(client: httpx.AsyncClient, token_for: Tokens,
                                                                    seeded: DemoCity, sync_engine: Engine) -> None:
    headers = bearer(token_for("dept-psb"))
    refused = _problem(await client.get(f"{API}/population/persons", headers=headers), 422)
    assert refused["errors"][0]["field"] == "building_code"
    home = seeded.buildings[next(i for i, n in enumerate(seeded.residents) if n > 3)]["building_code"]
    expected = sorted(p["id_number"] for p in seeded.persons() if p["building_code"] == home)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"building_code": home, "limit": "3", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(f"{API}/population/persons", params=params, headers=headers)).json()
        seen += [p["id_number"] for p in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    events = _events(sync_engine, "population.persons")
    assert sum(e["record_count"] for e in events) == len(expected)
    assert sum(len(e["subject_keys"]) for e in events) == len(expected)


async def test_buildings_bbox_nearest_and_polygon(client: httpx.AsyncClient, token_for: Tokens,
                                                  seeded: DemoCity) -> None:
    headers = bearer(token_for("dept-hurd"))
    centre = seeded.buildings[10]["footprint"].centroid
    window = shapely.box(centre.x - 0.01, centre.y - 0.01, centre.x + 0.01, centre.y + 0.01)
    expected = sorted(b["building_code"] for b in seeded.buildings if b["footprint"].intersects(window))
    bbox = ",".join(str(v) for v in window.bounds)
    body = (await client.get(f"{API}/buildings", params={"bbox": bbox, "limit": "500"}, headers=headers)).json()
    assert [b["building_code"] for b in body["items"]] == expected
    assert body["items"][0]["footprint"]["type"] == "Polygon"
    bad = _problem(await client.get(f"{API}/buildings", params={"bbox": "1,2,3"}, headers=headers), 422)
    assert bad["errors"][0]["field"] == "bbox"
    near = (await client.get(f"{API}/buildings/nearest", params={"lon": centre.x, "lat": centre.y, "k": 1},
                             headers=headers)).json()
    assert near[0]["building"]["building_code"] == seeded.buildings[10]["building_code"]
    assert near[0]["distance_m"] == 0
    polygon = {"type": "Polygon", "coordinates": [list(map(list, window.exterior.coords))]}
    within = (await client.post(f"{API}/buildings/search", json={"geometry": polygon, "relation": "within"},
                                headers=headers)).json()
    assert [b["building_code"] for b in within["items"]] == sorted(
        b["building_code"] for b in seeded.buildings if b["footprint"].within(window))[:50]
    bowtie = {"type": "Polygon", "coordinates": [[[118, 32], [119, 33], [119, 32], [118, 33], [118, 32]]]}
    invalid = _problem(await client.post(f"{API}/buildings/search", json={"geometry": bowtie}, headers=headers), 422)
    assert invalid["errors"][0] == {"field": "geometry", "rule": "geometry_invalid",
                                    "message": invalid["errors"][0]["message"]}


async def test_region_features_and_economy(client: httpx.AsyncClient, token_for: Tokens, seeded: DemoCity) -> None:
    headers = bearer(token_for("dept-nrb"))
    building = seeded.buildings[5]
    centre = building["footprint"].centroid
    region = (await client.get(f"{API}/regions/at", params={"lon": centre.x, "lat": centre.y},
                               headers=headers)).json()
    assert region["code"] == building["region_code"]
    assert region["path"][1]["name"] == "南京市"
    features = await client.get(f"{API}/spatial/layers/admin_division/features", headers=headers)
    assert features.headers["content-type"].startswith("application/geo+json")
    collection = features.json()
    assert collection["type"] == "FeatureCollection"
    assert sorted(f["id"] for f in collection["features"]) == sorted(
        f["feature_key"] for f in seeded.features if f["layer_code"] == "admin_division")
    _problem(await client.get(f"{API}/spatial/layers/rivers/features", headers=headers), 404)
    series = (await client.get(f"{API}/economy/series", headers=headers, params={
        "indicator": "GDP", "region_code": building["region_code"], "start": "2023", "end": "2024",
        "frequency": "year"})).json()
    quarters = [o["value"] for o in seeded.observations if o["indicator_code"] == "GDP"
                and o["region_code"] == building["region_code"] and o["period"].startswith("2024")]
    assert [p["period"] for p in series["points"]] == ["2023", "2024"]
    assert series["points"][1]["value"] == pytest.approx(sum(quarters))
    assert series["completeness"] == {"expected_periods": 8, "present_periods": 8, "missing_periods": [],
                                      "complete": True}
    assert len((await client.get(f"{API}/economy/indicators", headers=headers)).json()) == 7


async def test_entities_by_code_and_name(client: httpx.AsyncClient, token_for: Tokens, seeded: DemoCity) -> None:
    headers = bearer(token_for("dept-samr"))
    entity = seeded.entities[0]
    found = (await client.get(f"{API}/legal-entities/{entity['uscc']}", headers=headers)).json()
    assert found["name"] == entity["name"]
    assert found["legal_representative"] == entity["legal_representative"]
    term = entity["name"][2:4]
    named = (await client.get(f"{API}/legal-entities", params={"name": term, "limit": 500}, headers=headers)).json()
    assert [e["uscc"] for e in named["items"]] == sorted(e["uscc"] for e in seeded.entities if term in e["name"])
    _problem(await client.get(f"{API}/legal-entities/91320100MA1XXXXXXX", headers=headers), 404)


async def test_graphql_person_with_building_and_entities(client: httpx.AsyncClient, token_for: Tokens,
                                                         seeded: DemoCity, sync_engine: Engine) -> None:
    people = [p for p in seeded.persons() if p["building_code"]][:3]
    query = """query($a: String!, $b: String!, $c: String!) {
      a: person(idNumber: $a) { idNumber name masked building { buildingCode regionCode ownerEntity { uscc } } }
      b: person(idNumber: $b) { idNumber building { buildingCode } }
      c: person(idNumber: $c) { idNumber building { buildingCode } }
    }"""
    variables = {k: p["id_number"] for k, p in zip("abc", people, strict=True)}
    answer = (await client.post("/graphql", json={"query": query, "variables": variables},
                                headers=bearer(token_for("li.na")))).json()  # 公安: provides population
    assert "errors" not in answer, answer
    data = answer["data"]
    assert data["a"]["masked"] is False
    assert data["a"]["name"] == people[0]["name"]
    assert [data[k]["building"]["buildingCode"] for k in "abc"] == [p["building_code"] for p in people]
    # One batched query (and one audit event) for the three persons' buildings: the dataloader at work.
    [batch] = _events(sync_engine, "graphql buildings_by_code")
    assert batch["record_count"] == len({p["building_code"] for p in people})
    assert [e["outcome"] for e in _events(sync_engine, "graphql person")] == ["allowed"] * 3
    denied = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert denied["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert [e["outcome"] for e in _events(sync_engine, "graphql person")][3:] == ["denied"] * 3
    # Another department, aliases or not: refused without a grant, nothing of the persons in the answer.
    other = await client.post("/graphql", json={"query": query, "variables": variables},
                              headers=bearer(token_for("zhang.wei")))
    body = other.json()
    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"grant-required"}
    assert not any(p["name"] in other.text for p in people)
    assert [e["outcome"] for e in _events(sync_engine, "graphql person")][6:] == ["denied"] * 3


async def test_graphql_buildings_connection_and_series(client: httpx.AsyncClient, token_for: Tokens,
                                                       seeded: DemoCity) -> None:
    centre = seeded.buildings[20]["footprint"].centroid
    window = shapely.box(centre.x - 0.02, centre.y - 0.02, centre.x + 0.02, centre.y + 0.02)
    expected = sorted(b["building_code"] for b in seeded.buildings if b["footprint"].intersects(window))
    query = """query($bbox: [Float!]!, $after: String) {
      buildings(bbox: $bbox, first: 4, after: $after) { items { buildingCode } nextCursor }
    }"""
    headers = bearer(token_for("dept-hurd"))
    seen: list[str] = []
    after = None
    while True:
        answer = (await client.post("/graphql", headers=headers, json={
            "query": query, "variables": {"bbox": list(window.bounds), "after": after}})).json()
        assert "errors" not in answer, answer
        page = answer["data"]["buildings"]
        seen += [b["buildingCode"] for b in page["items"]]
        after = page["nextCursor"]
        if after is None:
            break
    assert seen == expected
    series = (await client.post("/graphql", headers=headers, json={"query": """{
      economySeries(indicator: "RETAIL", regionCode: "320118", start: "2020-Q1", end: "2020-Q1",
                    frequency: "quarter") { points { period value missing } completeness { missingPeriods } }
    }"""})).json()
    assert series["data"]["economySeries"]["points"] == [{"period": "2020-Q1", "value": None,
                                                          "missing": ["2020-02"]}]
