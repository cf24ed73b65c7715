"""The exchange as its users see it, with real tokens from the development IdP.

Department A (civil, consumer) applies for department B's (psb, provider) conditional population resource;
B approves with two fields masked and a one-district row filter; A reads through REST and GraphQL (aliases and
fragments included) and never sees a masked field in clear or a row outside the district; every read is audited
with its grant id; revocation stops the very next request; quotas answer 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine, text

from exchange.delivery import exports as _exports  # noqa: F401 - registers the export job
from exchange.feed import service as feed
from exchange.webhooks import jobs as _webhook_jobs  # noqa: F401 - registers the delivery job
from tests.support.auth_fixtures import bearer
from tests.support.exchange_world import DISTRICT_A, DISTRICT_B, NAMES, World, db, local, pin_clock, run_jobs, world
from tests.support.webhook_receiver import Receiver, receiver, run_deliveries

__all__ = ["db", "pin_clock", "receiver", "world"]  # fixtures used by this module

API = "/api/v1/exchange"
MASKED_ID = re.compile(r"^\d{6}\*{8}[\dX]{4}$")
FIELDS = ["id_number", "name", "sex", "birth_date", "hukou_region_code", "phone"]


def path(code: str) -> str:
    return f"{API}/resources/{code}"


async def apply_and_approve(client: httpx.AsyncClient, token_for: Callable[[str], str], world: World,
                            **terms: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    civil, psb = bearer(token_for("dept-civil")), bearer(token_for("dept-psb"))
    response = await client.post(f"{API}/applications", headers=civil, json={
        "resource": world.population, "fields": FIELDS, "purpose": "最低生活保障资格核验",
        "legal_basis": "《社会救助暂行办法》第十一条", "period": {"start": "2026-09-28", "end": "2026-12-31"},
        "row_scope": {"region_prefix": "3201"}})
    assert response.status_code == 201, response.text
    application = response.json()["application"]
    approval = {"masking": {"id_number": "id-number", "name": "name"}, "row_scope": {"region_prefix": DISTRICT_A},
                **terms}
    response = await client.post(f"{API}/applications/{application['id']}/approve", headers=psb, json=approval)
    assert response.status_code == 200, response.text
    return application, response.json()["grant"]


def audit_rows(engine: Engine, grant_id: str) -> list[tuple[str, str, str, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT api, action, outcome, record_count FROM audit_events WHERE grant_id = :g "
                                 "ORDER BY id"), {"g": grant_id}).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def assert_never_in_clear(body: str, world: World) -> None:
    for number in world.people[DISTRICT_A] + world.people[DISTRICT_B]:
        assert number not in body
    for name in NAMES:
        assert name not in body


GRAPHQL = """
query Q($r: String!) {
  a: exchangeRecords(resource: $r, first: 50) { ...page }
  b: exchangeRecords(resource: $r, first: 50, fields: ["id_number", "hukou_region_code"]) {
    records { idn: value(field: "id_number") where: value(field: "hukou_region_code") }
  }
  c: exchangeRecords(resource: $r, first: 50) { records { sneaky: value(field: "residence_address") } }
}
fragment page on GrantedRecordPage {
  grantId masked fields
  records { values v: value(field: "id_number") ...more }
}
fragment more on GrantedRecord { n: value(field: "name") }
"""


async def subscribe(client: httpx.AsyncClient, headers: dict[str, str], rx: Receiver, events: list[str],
                    resource: str | None = None) -> None:
    response = await client.post(f"{API}/subscriptions", headers=headers,
                                 json={"url": rx.url, "events": events, "resource": resource})
    assert response.status_code == 201, response.text
    rx.secrets.append(response.json()["secret"])


async def test_end_to_end_conditional_sharing(
        client: httpx.AsyncClient, token_for: Callable[[str], str], world: World, sync_engine: Engine,
        db: Callable[[], Any], pin_clock: Callable[[datetime], None], receiver: Receiver) -> None:
    # Monday 28 September 2026: five working days run through National Day (1–7 October) to the adjusted
    # working Saturday, 10 October (国务院办公厅 2026 notice: 9月20日、10月10日上班).
    pin_clock(local(2026, 9, 28, 10))
    civil, psb = bearer(token_for("dept-civil")), bearer(token_for("dept-psb"))
    await subscribe(client, psb, receiver, ["application.submitted"])
    await subscribe(client, civil, receiver, ["application.approved", "grant.revoked"])
    application, grant = await apply_and_approve(client, token_for, world)
    await subscribe(client, civil, receiver, ["data.changed"], resource=world.population)
    assert (application["status"], application["due_on"], application["reply_days"]) == ("pending", "2026-10-10", 5)
    assert grant["masking"] == {"id_number": "id-number", "name": "name"}
    assert grant["region_prefix"] == DISTRICT_A

    # REST: only the district's rows, masked fields never in clear, cursor paging without gaps or repeats.
    response = await client.get(f"{path(world.population)}/records", headers=civil, params={"limit": 4})
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Quota-Requests-Remaining"]) > 0
    first = response.json()
    assert first["masked"] == ["id_number", "name"]
    assert first["fields"] == FIELDS
    response = await client.get(f"{path(world.population)}/records", headers=civil,
                                params={"limit": 4, "after": first["next"]})
    second = response.json()
    assert second["next"] is None
    records = first["records"] + second["records"]
    assert len(records) == len(world.people[DISTRICT_A])
    assert all(r["hukou_region_code"] == DISTRICT_A for r in records)
    assert all(MASKED_ID.match(r["id_number"]) for r in records)
    assert all(len(r["name"]) >= 2 and r["name"][1:] == "*" * (len(r["name"]) - 1) for r in records)
    assert sorted(r["id_number"] for r in records) == sorted(n[:6] + "*" * 8 + n[-4:] for n in
                                                            world.people[DISTRICT_A])
    assert_never_in_clear(response.text + str(first), world)

    # A field outside the grant is refused by name, never sent.
    response = await client.get(f"{path(world.population)}/records", headers=civil,
                                params={"fields": "phone,residence_address"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/exchange-field-not-granted"
    assert response.json()["fields"] == ["residence_address"]
    # Filtering on a masked field would test guesses of the hidden value.
    response = await client.get(f"{path(world.population)}/records", headers=civil,
                                params={"filter": f"id_number:{world.people[DISTRICT_A][0]}"})
    assert response.status_code == 422

    # GraphQL: aliases and fragments select from the same enforced records.
    response = await client.post("/graphql", headers=civil,
                                 json={"query": GRAPHQL, "variables": {"r": world.population}})
    assert response.status_code == 200
    result = response.json()
    assert_never_in_clear(response.text, world)
    a, b = result["data"]["a"], result["data"]["b"]
    assert a["grantId"] == grant["id"]
    assert a["masked"] == ["id_number", "name"]
    assert {r["values"]["hukou_region_code"] for r in a["records"]} == {DISTRICT_A}
    assert all(MASKED_ID.match(r["v"]) and r["n"].endswith("*") for r in a["records"])
    assert {r["where"] for r in b["records"]} == {DISTRICT_A}
    assert all(MASKED_ID.match(r["idn"]) for r in b["records"])
    sneaky = [e for e in result["errors"] if e["path"][0] == "c"]
    assert sneaky
    assert {e["extensions"]["code"] for e in sneaky} == {"exchange-field-not-granted"}
    assert all(r["sneaky"] is None for r in result["data"]["c"]["records"])

    # Every read is in the audit log with its grant id: two REST pages, three GraphQL fields.
    reads = [row for row in audit_rows(sync_engine, grant["id"]) if row[1] == "exchange.records.read"]
    assert [(api, outcome) for api, _, outcome, _ in reads if outcome == "allowed"] == [
        ("rest", "allowed")] * 2 + [("graphql", "allowed")] * 3
    assert sum(count or 0 for api, _, outcome, count in reads if outcome == "allowed" and api == "rest") == 6

    # The change feed: same grant, same district, same masking.
    with db() as session:
        feed.record_changes(session, "population", [
            feed.Change("update", n, district, {"id_number": n, "name": "王芳", "hukou_region_code": district,
                                                "residence_address": "江苏省南京市某区某街道1号"})
            for district in (DISTRICT_B, DISTRICT_A) for n in world.people[district][:2]], "test")
    response = await client.get(f"{path(world.population)}/changes", headers=civil, params={"after": 0})
    assert response.status_code == 200, response.text
    changes = response.json()
    assert [c["position"] for c in changes["changes"]] == [3, 4]
    assert (changes["next_after"], changes["head"]) == (4, 4)
    assert all(MASKED_ID.match(c["record"]["id_number"]) for c in changes["changes"])
    assert all("residence_address" not in c["record"] for c in changes["changes"])
    assert_never_in_clear(response.text, world)

    # Bulk export: built by the worker, one audit event with row count and SHA-256, resumable download.
    response = await client.post(f"{path(world.population)}/exports", headers=civil, json={"format": "ndjson"})
    assert response.status_code == 202, response.text
    export_id = response.json()["id"]
    assert run_jobs(sync_engine, "exchange.export.build") >= 1
    export = (await client.get(f"{API}/exports/{export_id}", headers=civil)).json()
    assert (export["status"], export["row_count"]) == ("ready", 6)
    link = export["download_url"]
    response = await client.get(link, headers=civil)
    assert response.status_code == 200
    body = response.content
    assert hashlib.sha256(body).hexdigest() == export["sha256"]
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [sorted(line) for line in lines] == [sorted(FIELDS)] * 6
    assert {line["hukou_region_code"] for line in lines} == {DISTRICT_A}
    assert all(MASKED_ID.match(line["id_number"]) for line in lines)
    assert_never_in_clear(body.decode(), world)
    resumed = await client.get(link, headers={**civil, "Range": "bytes=100-"})
    assert resumed.status_code == 206
    assert resumed.content == body[100:]
    built = [row for row in audit_rows(sync_engine, grant["id"]) if row[1] == "exchange.export.build"]
    assert built == [("export", "exchange.export.build", "allowed", 6)]
    with sync_engine.connect() as conn:
        detail = conn.execute(text("SELECT detail FROM audit_events WHERE action = 'exchange.export.build'")).scalar()
    assert f"sha256={export['sha256']}" in str(detail)
    tampered = link.replace("sig=", "sig=0")
    assert (await client.get(tampered, headers=civil)).status_code == 410
    assert (await client.get(link, headers=bearer(token_for("dept-samr")))).status_code == 404

    # Revocation by the provider stops the consumer's very next request, on both APIs.
    response = await client.post(f"{API}/grants/{grant['id']}/revoke", headers=psb,
                                 json={"reason": "核验工作已结束"})
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    response = await client.get(f"{path(world.population)}/records", headers=civil)
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/exchange-grant-not-effective"
    response = await client.post("/graphql", headers=civil, json={
        "query": "query($r: String!) { exchangeRecords(resource: $r) { records { values } } }",
        "variables": {"r": world.population}})
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["extensions"]["code"] == "exchange-grant-not-effective"
    assert (await client.get(link, headers=civil)).status_code == 403  # downloads stop too
    denied = [row for row in audit_rows(sync_engine, grant["id"]) if row[2] == "denied"]
    assert {api for api, *_ in denied} >= {"rest", "graphql", "export"}

    # Every event reached the receiver, and every signature verified with the reference implementation.
    run_deliveries(sync_engine)
    assert all(r.verified for r in receiver.received), [r.error for r in receiver.received]
    assert [r.body["type"] for r in receiver.accepted()] == [
        "application.submitted", "application.approved", "data.changed", "grant.revoked"]


async def test_another_department_and_unauthenticated_callers_get_nothing(
        client: httpx.AsyncClient, token_for: Callable[[str], str], world: World) -> None:
    await apply_and_approve(client, token_for, world)
    response = await client.get(f"{path(world.population)}/records", headers=bearer(token_for("dept-samr")))
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/exchange-no-grant"
    response = await client.get(f"{path(world.population)}/records")
    assert response.status_code == 401


async def test_quota_exhaustion_answers_429_with_retry_after(
        client: httpx.AsyncClient, token_for: Callable[[str], str], world: World) -> None:
    await apply_and_approve(client, token_for, world, requests_per_day=2)
    civil = bearer(token_for("dept-civil"))
    for _ in range(2):
        assert (await client.get(f"{path(world.population)}/records", headers=civil)).status_code == 200
    response = await client.get(f"{path(world.population)}/records", headers=civil)
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/exchange-quota-exceeded"
    assert 0 < int(response.headers["Retry-After"]) <= 86_400
    response = await client.post("/graphql", headers=civil, json={
        "query": "query($r: String!) { exchangeRecords(resource: $r) { fields } }",
        "variables": {"r": world.population}})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


async def test_records_quota_cuts_pages_then_refuses(
        client: httpx.AsyncClient, token_for: Callable[[str], str], world: World) -> None:
    await apply_and_approve(client, token_for, world, records_per_day=4)
    civil = bearer(token_for("dept-civil"))
    response = await client.get(f"{path(world.population)}/records", headers=civil, params={"limit": 100})
    assert len(response.json()["records"]) == 4
    assert response.json()["next"] is not None
    response = await client.get(f"{path(world.population)}/records", headers=civil)
    assert response.status_code == 429
    assert response.json()["quota"] == "records"


async def test_open_data_is_read_anonymously_without_applying(
        client: httpx.AsyncClient, world: World, sync_engine: Engine) -> None:
    open_path = f"/api/v1/open-data/resources/{world.open_entities}"
    response = await client.get(f"{open_path}/records")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["fields"] == ["uscc", "name", "entity_type", "region_code"]  # 法定代表人 (level 2) is not open
    assert page["records"] == [{"uscc": "91320102MA1X00000X", "name": "南京某某科技有限公司",
                                "entity_type": "limited_company", "region_code": DISTRICT_A}]
    assert "张伟" not in response.text
    assert int(response.headers["X-RateLimit-Remaining"]) < int(response.headers["X-RateLimit-Limit"])
    # Only open resources: the conditional population resource is not there, whatever the caller.
    assert (await client.get(f"/api/v1/open-data/resources/{world.population}/records")).status_code == 404
    assert (await client.get(f"/api/v1/open-data/resources/{world.entities}/records")).status_code == 404

    response = await client.get(f"{open_path}/download", params={"format": "csv", "bom": "true"})
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbfuscc,name,entity_type,region_code\r\n")
    assert response.content.decode("utf-8-sig").splitlines()[1] == \
        f"91320102MA1X00000X,南京某某科技有限公司,limited_company,{DISTRICT_A}"
    with sync_engine.connect() as conn:
        events = conn.execute(text("SELECT principal_kind, api, action, record_count, subject_keys FROM audit_events "
                                   "WHERE action LIKE 'open-data.%' ORDER BY id")).all()
    assert [(e[0], e[1], e[2], e[3]) for e in events if e[3]] == [
        ("anonymous", "rest", "open-data.records.read", 1), ("anonymous", "export", "open-data.download", 1)]
    assert all(e[4] in ("[]", []) for e in events)  # no personal data in the open-data log


async def test_open_data_through_graphql(client: httpx.AsyncClient, world: World) -> None:
    query = 'query($r: String!) { openDataRecords(resource: $r) { fields records { n: value(field: "name") } } }'
    response = await client.post("/graphql", json={"query": query, "variables": {"r": world.open_entities}})
    assert response.status_code == 200, response.text
    data = response.json()["data"]["openDataRecords"]
    assert data["records"] == [{"n": "南京某某科技有限公司"}]
    assert "legal_representative" not in data["fields"]


async def test_a_provider_submits_a_batch_and_consumers_see_it_in_the_feed(
        client: httpx.AsyncClient, token_for: Callable[[str], str], world: World, sync_engine: Engine) -> None:
    _, grant = await apply_and_approve(client, token_for, world)
    psb, civil = bearer(token_for("dept-psb")), bearer(token_for("dept-civil"))
    number = world.people[DISTRICT_A][0]
    born = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    good = {"id_number": number, "name": "张伟", "sex": "1", "birth_date": born, "hukou_region_code": DISTRICT_A,
            "phone": "13912345678", "status": "normal"}
    bad = {**good, "id_number": number[:-1] + ("0" if number[-1] != "0" else "1")}
    body = (json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(bad, ensure_ascii=False) + "\n").encode()
    url = f"{API}/submissions/psb-batch-1"
    params = {"resource": world.population}
    ndjson = {"content-type": "application/x-ndjson"}
    response = await client.put(url, params=params, content=body, headers={**psb, **ndjson})
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["rows"]) == ("received", 2)
    again = await client.put(url, params=params, content=body, headers={**psb, **ndjson})
    assert (again.status_code, again.json()["id"]) == (200, response.json()["id"])
    other = await client.put(url, params=params, content=body + b"\n", headers={**psb, **ndjson})
    assert other.status_code == 409
    assert other.json()["type"] == "/problems/exchange-batch-id-reused"
    assert (await client.put(url, params=params, content=body, headers={**psb, "content-type": "text/plain"})
            ).status_code == 415
    assert (await client.put(f"{API}/submissions/civil-1", params=params, content=body,
                             headers={**civil, **ndjson})).status_code == 403

    assert run_jobs(sync_engine, "exchange.submission.check") >= 1
    status = (await client.get(url, headers=psb)).json()
    assert (status["status"], status["landed"], status["updated"], status["quarantined"]) == ("landed", 1, 1, 1)
    assert [r["row_number"] for r in status["rejected"]] == [2]
    assert {reason["field"] for reason in status["rejected"][0]["reasons"]} >= {"id_number"}
    changes = (await client.get(f"{path(world.population)}/changes", headers=civil)).json()
    assert [(c["op"], c["record"]["phone"]) for c in changes["changes"]] == [("update", "13912345678")]
    assert changes["changes"][0]["record"]["id_number"] == number[:6] + "*" * 8 + number[-4:]
    assert changes["grant_id"] == grant["id"]


async def test_suspension_stops_the_next_request_and_resumption_restores_it(
        client: httpx.AsyncClient, token_for: Callable[[str], str], world: World) -> None:
    _, grant = await apply_and_approve(client, token_for, world)
    psb, civil = bearer(token_for("dept-psb")), bearer(token_for("dept-civil"))
    records = f"{path(world.population)}/records"
    assert (await client.get(records, headers=civil)).status_code == 200
    response = await client.post(f"{API}/grants/{grant['id']}/suspend", headers=psb, json={"reason": "核查中"})
    assert response.json()["status"] == "suspended"
    response = await client.get(records, headers=civil)
    assert response.status_code == 403
    assert "suspended: 核查中" in response.json()["detail"]
    # Only the provider changes a grant; the consumer cannot lift its own suspension.
    assert (await client.post(f"{API}/grants/{grant['id']}/resume", headers=civil,
                              json={"reason": "x"})).status_code == 403
    await client.post(f"{API}/grants/{grant['id']}/resume", headers=psb, json={"reason": "核查完毕"})
    assert (await client.get(records, headers=civil)).status_code == 200
    history = (await client.get(f"{API}/grants/{grant['id']}", headers=civil)).json()["events"]
    assert [e["action"] for e in history] == ["issued", "suspended", "resumed"]
