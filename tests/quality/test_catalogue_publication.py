"""Issue 7's "a quality score per resource published in the catalogue", end to end: a whole-table quality run over
a base resource, then the resource's catalogue entry read over REST, GraphQL, DCAT-AP and CSV by the people who
use them, showing the score quality computed."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, datetime

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from basebases.models import Person, SpatialFeature
from catalogue.basebase_sync import sync_basebases
from catalogue.departments import seed_demo_departments
from cpip.db import make_sync_sessionmaker, sync_transaction
from quality.models import QualityScore
from quality.runner import run_resource
from tests.quality.conftest import (
    BOWTIE,
    OUTSIDE,
    geometry_row,
    insert_boundary,
    insert_rows,
    person,
    ric,
    wrong_check,
)
from tests.support.auth_fixtures import bearer

API = "/api/v1/catalogue"
ENTRY = """query($code: String!) { catalogueEntry(code: $code) { code version qualityScore qualityScoredAt } }"""


@pytest.fixture
def codes(sync_engine: Engine) -> dict[str, str]:
    """The base databases registered in the catalogue, as `cpip demo` does: resource key → entry code."""
    with sync_transaction(make_sync_sessionmaker(sync_engine)) as session:
        seed_demo_departments(session)
        return sync_basebases(session).codes


def stored_score(engine: Engine, resource: str) -> QualityScore:
    with Session(engine) as session:
        found = session.scalar(select(QualityScore).where(QualityScore.resource == resource))
        assert found is not None
        return found


async def graphql_entry(client: httpx.AsyncClient, token: str, code: str) -> dict[str, object]:
    response = await client.post("/graphql", headers=bearer(token), json={"query": ENTRY,
                                                                          "variables": {"code": code}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    entry: dict[str, object] = body["data"]["catalogueEntry"]
    return entry


async def test_a_quality_run_publishes_its_score_on_the_entry_over_rest_and_graphql(
        sync_engine: Engine, client: httpx.AsyncClient, token_for: Callable[[str], str],
        codes: dict[str, str]) -> None:
    code = codes["population"]
    reader = token_for("dept-samr")  # another department's service account: 有条件共享 entries are listed to it
    before = (await client.get(f"{API}/entries/{code}", headers=bearer(reader))).json()
    assert (before["quality_score"], before["quality_scored_at"]) == (None, None)

    clean = [person(ric(date(1980 + i % 30, 1 + i % 12, 1 + i % 28), seq=i)) for i in range(30)]
    insert_rows(sync_engine, Person, [*clean, person(wrong_check(ric(date(1990, 3, 7), seq=101)))])
    first = run_resource(sync_engine, "population")
    assert first.score is not None
    assert first.score < 100  # the bad check digit is counted
    score = stored_score(sync_engine, "population")

    rest = await client.get(f"{API}/entries/{code}", headers=bearer(reader))
    assert rest.status_code == 200
    body = rest.json()
    assert body["quality_score"] == first.score == score.score
    assert datetime.fromisoformat(body["quality_scored_at"]) == score.computed_at
    assert body["version"] == before["version"]  # publishing a score is not a metadata change
    assert rest.headers["etag"] == f'"v{before["version"]}"'

    over_graphql = await graphql_entry(client, reader, code)
    assert over_graphql["qualityScore"] == first.score
    assert datetime.fromisoformat(str(over_graphql["qualityScoredAt"])) == score.computed_at

    # More bad rows, a new run: the entry follows the latest score.
    insert_rows(sync_engine, Person, [person(wrong_check(ric(date(1991, 4, 8), seq=100 + i))) for i in range(5)])
    second = run_resource(sync_engine, "population")
    assert second.score is not None
    assert second.score < first.score
    listed = (await client.get(f"{API}/entries", params={"department": "psb"}, headers=bearer(reader))).json()
    assert {e["code"]: e["quality_score"] for e in listed["entries"]}[code] == second.score
    assert (await graphql_entry(client, reader, code))["qualityScore"] == second.score == \
        stored_score(sync_engine, "population").score


async def test_an_open_resource_score_reaches_dcat_and_the_csv_export(
        sync_engine: Engine, client: httpx.AsyncClient, token_for: Callable[[str], str],
        codes: dict[str, str]) -> None:
    insert_boundary(sync_engine)
    features = [{"layer_code": "poi", "feature_key": f"P{i}", "name": "点", "region_code": "320102",
                 "attributes": {}, "geom": geom, **geometry_row(geom)} for i, geom in enumerate([BOWTIE, OUTSIDE])]
    insert_rows(sync_engine, SpatialFeature, features)
    summary = run_resource(sync_engine, "spatial_features")  # 自然资源和空间地理: 无条件开放
    assert summary.score is not None
    code = codes["spatial_features"]

    dcat = (await client.get(f"{API}/dcat", headers={"Accept": "application/ld+json"})).json()  # anonymous
    datasets = {d["dct:identifier"]: d for d in dcat["dcat:dataset"]}
    measurement = datasets[code]["dqv:hasQualityMeasurement"]
    assert measurement["dqv:value"]["@value"] == summary.score
    assert measurement["dqv:computedOn"]["@id"] == datasets[code]["@id"]
    unscored = codes["economy_observations"]  # open too, but quality has not run over it
    assert "dqv:hasQualityMeasurement" not in datasets[unscored]

    exported = await client.get(f"{API}/export.csv", headers=bearer(token_for("dept-psb")))
    assert exported.status_code == 200
    rows = {r["信息资源代码"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert float(rows[code]["数据质量评分"]) == summary.score
    assert rows[unscored]["数据质量评分"] == ""
