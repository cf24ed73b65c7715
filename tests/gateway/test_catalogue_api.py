"""The catalogue as departments, reviewers and the public use it: REST and GraphQL with real tokens from the
development IdP, the same rules as the service underneath, every change audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from catalogue.departments import seed_demo_departments
from cpip.db import make_sync_sessionmaker, sync_transaction
from tests.catalogue.conftest import metadata
from tests.support.auth_fixtures import bearer

API = "/api/v1/catalogue"
Tokens = Callable[[str], str]


@pytest.fixture
def departments(sync_engine: Engine) -> None:
    with sync_transaction(make_sync_sessionmaker(sync_engine)) as session:
        seed_demo_departments(session)


pytestmark = pytest.mark.usefixtures("departments")


def entry_path(code: str) -> str:
    return f"{API}/entries/{code}"


async def register(client: httpx.AsyncClient, token: str, name: str, **overrides: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/entries", headers=bearer(token), json=metadata(name, **overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def publish(client: httpx.AsyncClient, token_for: Tokens, owner: str, code: str) -> None:
    submitted = await client.post(f"{entry_path(code)}/lifecycle", headers=bearer(token_for(owner)),
                                  json={"action": "submit"})
    assert submitted.status_code == 200, submitted.text
    approved = await client.post(f"{API}/review/entries/{code}", headers=bearer(token_for("admin")),
                                 json={"action": "approve"})
    assert approved.status_code == 200, approved.text


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def audit_actions(engine: Engine, resource: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT action FROM audit_events WHERE resource = :r ORDER BY id"),
                            {"r": resource}).all()
    return [r[0] for r in rows]


# ------------------------------------------------------------------------------------------ registration


async def test_a_department_registers_reads_and_versions_its_entry(client: httpx.AsyncClient, token_for: Tokens,
                                                                   sync_engine: Engine) -> None:
    created = await register(client, token_for("li.na"), "暂住登记信息")
    code = created["code"]
    assert created["department"] == "psb"
    assert created["status"] == "draft"
    assert code.startswith("301001/")
    read = await client.get(entry_path(code), headers=bearer(token_for("dept-psb")))
    assert read.status_code == 200
    assert read.headers["etag"] == '"v1"'
    changed = await client.patch(entry_path(code), headers={**bearer(token_for("li.na")), "If-Match": '"v1"'},
                                 json={"update_cycle": "每日"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    stale = await client.patch(entry_path(code), headers={**bearer(token_for("li.na")), "If-Match": '"v1"'},
                               json={"update_cycle": "每周"})
    assert problem(stale, 409)["type"] == "/problems/catalogue-version-mismatch"
    versions = (await client.get(f"{entry_path(code)}/versions", headers=bearer(token_for("li.na")))).json()
    assert [(v["version"], v["action"], v["actor"]) for v in versions] == [(2, "update", "li.na"),
                                                                            (1, "create", "li.na")]
    assert versions[0]["changes"] == {"update_cycle": {"old": "每月", "new": "每日"}}
    first = (await client.get(f"{entry_path(code)}/versions/1", headers=bearer(token_for("li.na")))).json()
    assert first["snapshot"]["update_cycle"] == "每月"
    assert audit_actions(sync_engine, f"catalogue:{code}") == ["catalogue.entry.create", "catalogue.entry.update"]


@pytest.mark.parametrize(("overrides", "field"), [
    ({"share_type": "随便共享"}, "body.share_type"),
    ({"share_type": "不予共享", "share_method": None}, "body.no_share_basis"),
    ({"classification": {"category": "3", "item": "1", "catalog": "001"}}, "body.classification.item"),
    ({"related_codes": ["3010010000001"]}, "body.related_codes.0"),
    ({"items": [{"name": "姓名", "data_type": "C", "sensitivity": 9}]}, "body.items.0.sensitivity"),
])
async def test_invalid_metadata_is_refused_naming_the_field(client: httpx.AsyncClient, token_for: Tokens,
                                                            overrides: dict[str, Any], field: str) -> None:
    response = await client.post(f"{API}/entries", headers=bearer(token_for("li.na")),
                                 json=metadata("无效条目", **overrides))
    body = problem(response, 422)
    assert field in [e["field"] for e in body["errors"]]


async def test_a_merged_change_is_validated_as_a_whole(client: httpx.AsyncClient, token_for: Tokens) -> None:
    code = (await register(client, token_for("li.na"), "出租屋登记"))["code"]
    response = await client.patch(entry_path(code), headers=bearer(token_for("li.na")),
                                  json={"share_type": "不予共享", "share_method": None})
    assert [e["field"] for e in problem(response, 422)["errors"]] == ["body.no_share_basis"]


async def test_no_department_touches_another_departments_entry(client: httpx.AsyncClient,
                                                               token_for: Tokens) -> None:
    code = (await register(client, token_for("dept-psb"), "枪支管理信息"))["code"]
    await publish(client, token_for, "dept-psb", code)
    samr = bearer(token_for("dept-samr"))
    edit = await client.patch(entry_path(code), headers=samr, json={"name": "被改名"})
    assert problem(edit, 403)["type"] == "/problems/catalogue-other-department"
    census = await client.put(f"{entry_path(code)}/census", headers=samr, json={"record_count": 1})
    problem(census, 403)
    foreign = await client.post(f"{API}/entries", headers=samr, json={**metadata("冒名登记"), "department": "psb"})
    problem(foreign, 403)
    consumer = await client.post(f"{API}/entries", headers=bearer(token_for("zhang.wei")), json=metadata("民政"))
    assert problem(consumer, 403)["required_permission"] == "catalogue:write"
    approve_own = await client.post(f"{API}/review/entries/{code}", headers=bearer(token_for("dept-psb")),
                                    json={"action": "approve"})
    problem(approve_own, 403)


# ------------------------------------------------------------------------------------ lifecycle, census


async def test_review_and_lifecycle(client: httpx.AsyncClient, token_for: Tokens, sync_engine: Engine) -> None:
    code = (await register(client, token_for("dept-stats"), "人口抽样调查"))["code"]
    stats, admin = bearer(token_for("dept-stats")), bearer(token_for("admin"))
    assert (await client.post(f"{entry_path(code)}/lifecycle", headers=stats,
                              json={"action": "submit"})).json()["status"] == "under_review"
    queue = (await client.get(f"{API}/review/queue", headers=admin)).json()
    assert [e["code"] for e in queue] == [code]
    rejected = await client.post(f"{API}/review/entries/{code}", headers=admin, json={"action": "reject"})
    assert [e["field"] for e in problem(rejected, 422)["errors"]] == ["body.note"]
    assert (await client.post(f"{API}/review/entries/{code}", headers=admin,
                              json={"action": "reject", "note": "缺少信息项说明"})).json()["status"] == "draft"
    await publish(client, token_for, "dept-stats", code)
    published = (await client.get(entry_path(code), headers=bearer(token_for("zhang.wei")))).json()
    assert published["status"] == "published"
    assert published["published_on"] is not None
    twice = await client.post(f"{API}/review/entries/{code}", headers=admin, json={"action": "approve"})
    assert problem(twice, 409)["type"] == "/problems/catalogue-lifecycle-conflict"
    assert audit_actions(sync_engine, f"catalogue:{code}")[-3:] == [
        "catalogue.entry.reject", "catalogue.entry.submit", "catalogue.entry.approve"]


async def test_census_counters(client: httpx.AsyncClient, token_for: Tokens) -> None:
    code = (await register(client, token_for("dept-hurd"), "商品房预售许可"))["code"]
    response = await client.put(f"{entry_path(code)}/census", headers=bearer(token_for("dept-hurd")),
                                json={"storage_bytes": 3_000_000_000, "record_count": 52_000})
    assert response.status_code == 200, response.text
    census = response.json()["census"]
    assert census == {"storage_bytes": 3_000_000_000, "record_count": 52_000, "shared_bytes": 0,
                      "shared_records": 0, "open_bytes": 0, "open_records": 0}
    negative = await client.put(f"{entry_path(code)}/census", headers=bearer(token_for("dept-hurd")),
                                json={"record_count": -1})
    assert [e["field"] for e in problem(negative, 422)["errors"]] == ["body.record_count"]


# ------------------------------------------------------------------------------------ search and reads


@pytest.fixture
async def published(client: httpx.AsyncClient, token_for: Tokens) -> dict[str, str]:
    """An open psb entry, a 不予共享 psb entry and a samr draft, all mentioning 人口."""
    open_code = (await register(client, token_for("dept-psb"), "常住人口统计", open_type="无条件开放",
                                abstract="各区常住人口数量。", keywords=["人口"]))["code"]
    closed = (await register(client, token_for("dept-psb"), "人口管控名单", share_type="不予共享",
                             share_method=None, no_share_basis="《保守国家秘密法》"))["code"]
    draft = (await register(client, token_for("dept-samr"), "法人人口关联"))["code"]
    for code in (open_code, closed):
        await publish(client, token_for, "dept-psb", code)
    return {"open": open_code, "closed": closed, "draft": draft}


async def test_search_shows_each_caller_only_what_it_may_see(client: httpx.AsyncClient, token_for: Tokens,
                                                             published: dict[str, str]) -> None:
    civil = (await client.get(f"{API}/search", params={"q": "人口"}, headers=bearer(token_for("zhang.wei")))).json()
    assert [h["code"] for h in civil["hits"]] == [published["open"]]
    assert civil["total"] == 1
    assert civil["facets"]["department"] == [{"value": "psb", "count": 1, "label": "市公安局"}]
    assert civil["hits"][0]["highlights"]["name"] == "常住<em>人口</em>统计"
    psb = (await client.get(f"{API}/search", params={"q": "人口"}, headers=bearer(token_for("li.na")))).json()
    assert {h["code"] for h in psb["hits"]} == {published["open"], published["closed"]}
    samr = (await client.get(f"{API}/search", params={"q": "人", "department": "samr"},
                             headers=bearer(token_for("dept-samr")))).json()
    assert [h["code"] for h in samr["hits"]] == [published["draft"]]
    bad = await client.get(f"{API}/search", params={"share_type": "随便"}, headers=bearer(token_for("li.na")))
    assert [e["field"] for e in problem(bad, 422)["errors"]] == ["query.share_type.0"]


async def test_the_public_reads_open_entries_only(client: httpx.AsyncClient, token_for: Tokens,
                                                  published: dict[str, str]) -> None:
    problem(await client.get(f"{API}/search", params={"q": "人口"}), 401)
    public = (await client.get(f"{API}/open/search", params={"q": "人口"})).json()
    assert [h["code"] for h in public["hits"]] == [published["open"]]
    assert public["facets"]["share_type"] == [{"value": "无条件共享", "count": 1, "label": None}]
    assert (await client.get(f"{API}/open/entries/{published['open']}")).status_code == 200
    problem(await client.get(f"{API}/open/entries/{published['closed']}"), 404)
    # An open-data key holder reads the main search too, but sees only open entries there.
    developer = (await client.get(f"{API}/open/search", params={"q": "人口"},
                                  headers=bearer(token_for("chen.dev")))).json()
    assert developer["total"] == 1
    problem(await client.get(entry_path(published["closed"]), headers=bearer(token_for("zhang.wei"))), 404)


async def test_dcat_is_content_negotiated(client: httpx.AsyncClient, published: dict[str, str]) -> None:
    response = await client.get(f"{API}/dcat", headers={"Accept": "application/ld+json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    doc = response.json()
    assert doc["@type"] == "dcat:Catalog"
    assert doc["dct:title"]["@language"] == "zh"
    datasets = doc["dcat:dataset"]
    assert [d["dct:identifier"] for d in datasets] == [published["open"]]
    dataset = datasets[0]
    assert dataset["@type"] == "dcat:Dataset"
    assert dataset["dct:publisher"]["foaf:name"]["@value"] == "市公安局"
    assert dataset["dct:accrualPeriodicity"]["@id"].endswith("/frequency/MONTHLY")
    assert dataset["dcat:keyword"] == [{"@value": "人口", "@language": "zh"}]
    distribution = dataset["dcat:distribution"][0]
    assert distribution["@type"] == "dcat:Distribution"
    assert distribution["dcat:accessURL"]["@id"].endswith(f"/api/v1/catalogue/open/entries/{published['open']}")
    assert distribution["dct:license"]["@id"] == "https://creativecommons.org/licenses/by/4.0/"
    assert distribution["dct:format"]["@id"].endswith("/file-type/CSV")
    assert (await client.get(f"{API}/dcat", headers={"Accept": "*/*"})).status_code == 200
    refused = problem(await client.get(f"{API}/dcat", headers={"Accept": "text/turtle"}), 406)
    assert refused["available"] == ["application/ld+json"]
    problem(await client.get(f"{API}/dcat", headers={"Accept": "application/ld+json;q=0"}), 406)


async def test_csv_export_of_what_the_caller_may_see(client: httpx.AsyncClient, token_for: Tokens,
                                                     published: dict[str, str]) -> None:
    excel = await client.get(f"{API}/export.csv", params={"bom": "true"}, headers=bearer(token_for("zhang.wei")))
    assert excel.status_code == 200
    assert excel.headers["content-type"].startswith("text/csv")
    assert excel.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(excel.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["信息资源代码", "信息资源名称"]
    assert [r[0] for r in rows[1:]] == [published["open"]]
    plain = await client.get(f"{API}/export.csv", headers=bearer(token_for("li.na")))
    assert not plain.content.startswith(b"\xef\xbb\xbf")
    codes = [r[0] for r in csv.reader(io.StringIO(plain.text))][1:]
    assert sorted(codes) == sorted([published["open"], published["closed"]])


async def test_department_register(client: httpx.AsyncClient, token_for: Tokens, sync_engine: Engine) -> None:
    listed = (await client.get(f"{API}/departments", headers=bearer(token_for("zhang.wei")))).json()
    assert {d["code"] for d in listed} >= {"psb", "samr", "nrb", "hurd", "stats", "civil"}
    body = {"code": "psb-gl", "name": "鼓楼分局", "parent": "psb", "region": "320106"}
    problem(await client.put(f"{API}/departments/psb-gl", headers=bearer(token_for("li.na")), json=body), 403)
    created = await client.put(f"{API}/departments/psb-gl", headers=bearer(token_for("admin")), json=body)
    assert created.status_code == 201, created.text
    again = await client.put(f"{API}/departments/psb-gl", headers=bearer(token_for("admin")), json=body)
    assert again.status_code == 200
    bad_region = await client.put(f"{API}/departments/psb-gl", headers=bearer(token_for("admin")),
                                  json={**body, "region": "999999"})
    assert [e["field"] for e in problem(bad_region, 422)["errors"]] == ["body.region"]
    assert audit_actions(sync_engine, "department:psb-gl") == ["catalogue.department.create",
                                                               "catalogue.department.update"]


# --------------------------------------------------------------------------------------------- GraphQL


async def graphql(client: httpx.AsyncClient, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
    headers = bearer(token) if token else {}
    response = await client.post("/graphql", headers=headers, json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


REGISTER = """mutation($m: JSON!) { registerCatalogueEntry(metadata: $m) { code status version departmentName
  items { name sensitivity } } }"""
SEARCH = """query($q: String, $f: CatalogueSearchFilter) { catalogueSearch(q: $q, filter: $f) {
  total hits { code name highlights } facets { name values { value count label } } } }"""


async def test_graphql_registers_searches_and_enforces_the_same_rules(client: httpx.AsyncClient,
                                                                      token_for: Tokens,
                                                                      published: dict[str, str]) -> None:
    made = await graphql(client, token_for("li.na"), REGISTER, m=metadata("户籍变动记录"))
    entry = made["data"]["registerCatalogueEntry"]
    assert entry["status"] == "draft"
    assert entry["departmentName"] == "市公安局"
    assert entry["items"] == [{"name": "编号", "sensitivity": 1}]
    refused = await graphql(client, token_for("li.na"), REGISTER, m=metadata("x", share_type="不予共享",
                                                                            share_method=None))
    error = refused["errors"][0]
    assert error["extensions"]["status"] == 422
    assert [e["field"] for e in error["extensions"]["errors"]] == ["metadata.no_share_basis"]
    other = await graphql(client, token_for("dept-samr"),
                          'mutation($c: String!) { updateCatalogueEntry(code: $c, changes: {name: "改"}) { code } }',
                          c=entry["code"])
    assert other["errors"][0]["extensions"]["status"] in (403, 404)
    found = await graphql(client, token_for("zhang.wei"), SEARCH, q="人口")
    result = found["data"]["catalogueSearch"]
    assert result["total"] == 1
    assert result["hits"][0]["code"] == published["open"]
    departments = next(f for f in result["facets"] if f["name"] == "department")
    assert departments["values"] == [{"value": "psb", "count": 1, "label": "市公安局"}]
    anonymous = await graphql(client, None, SEARCH, q="人口")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    versions = await graphql(client, token_for("li.na"),
                             'query($c: String!) { catalogueEntryVersions(code: $c) { version action actor } }',
                             c=entry["code"])
    assert versions["data"]["catalogueEntryVersions"] == [{"version": 1, "action": "create", "actor": "li.na"}]
