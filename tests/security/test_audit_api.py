"""The audit log through the gateway: every read and refusal leaves an event before the response; an unwritable
log means 503 and no data; the security officer's search, export and anomaly report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from cpip.settings import Settings
from security.audit.chain import subject_hmac
from security.audit.events import build_event
from security.audit.models import AuditEvent
from security.audit.writer import write_events_sync
from security.principals import Principal, PrincipalKind, Role
from tests.support.auth_fixtures import bearer

pytestmark = pytest.mark.usefixtures("settings")

ID_NUMBER = "110101199003071234"
CONSUMER = Principal(kind=PrincipalKind.service_account, subject="svc-dept-civil", client_id="dept-civil",
                     department="civil", roles=frozenset({Role.consumer}), ip="10.0.0.9")


def events(engine: Engine, **where: Any) -> list[AuditEvent]:
    with Session(engine) as s:
        query = select(AuditEvent).order_by(AuditEvent.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(s.scalars(query))


def seed(engine: Engine, settings: Settings, principal: Principal = CONSUMER, *, at: datetime | None = None,
         count: int = 1, **overrides: Any) -> None:
    key = settings.audit_hmac_key.get_secret_value().encode()
    made = []
    for i in range(count):
        event = build_event(principal, hmac_key=key, **{"action": "population.lookup", "resource": "population",
                                                         "subject_ids": [ID_NUMBER], "record_count": 1,
                                                         **overrides})
        if at is not None:
            event["occurred_at"] = at + timedelta(seconds=i)
        made.append(event)
    write_events_sync(engine, made, settings)


@pytest.fixture
def officer(token_for: Callable[[str], str]) -> dict[str, str]:
    return bearer(token_for("wang.fang"))


# ------------------------------------------------------------------------------------------ reads are audited


async def test_search_by_subject_finds_who_read_it_and_is_itself_audited(
    client: httpx.AsyncClient, sync_engine: Engine, settings: Settings, officer: dict[str, str]
) -> None:
    seed(sync_engine, settings)
    seed(sync_engine, settings, subject_ids=["110101198001011111"])
    response = await client.post("/api/v1/audit/search", json={"subject_id": ID_NUMBER.lower()[:-1] + "4"},
                                 headers={**officer, "X-Request-ID": "officer-search-1"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["principal"] for i in items] == ["svc-dept-civil"]
    hashed = subject_hmac(settings.audit_hmac_key.get_secret_value().encode(), ID_NUMBER)
    assert items[0]["subject_keys"] == [hashed]
    # The search itself: who looked, for whom (hashed), how many results; the raw number nowhere.
    (own,) = events(sync_engine, request_id="officer-search-1")
    assert own.action == "audit.search"
    assert own.outcome == "allowed"
    assert own.record_count == 1
    assert own.subject_keys == [hashed]
    assert own.department is None
    assert own.roles == ["security-officer"]
    assert ID_NUMBER not in json.dumps(own.filters)
    assert own.latency_ms is not None
    assert own.latency_ms > 0


async def test_search_pages_with_a_cursor(client: httpx.AsyncClient, sync_engine: Engine, settings: Settings,
                                          officer: dict[str, str]) -> None:
    seed(sync_engine, settings, count=5, resource="legal-entities")
    seen: list[int] = []
    cursor = None
    for _ in range(3):
        params: dict[str, Any] = {"resource": "legal-entities", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/audit/events", params=params, headers=officer)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert cursor is None
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)


async def test_bad_search_input_names_the_field(client: httpx.AsyncClient, officer: dict[str, str]) -> None:
    response = await client.post("/api/v1/audit/search", json={"since": "2025-01-01T00:00:00"}, headers=officer)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "since" in response.json()["detail"]
    bad_cursor = await client.get("/api/v1/audit/events", params={"cursor": "nonsense"}, headers=officer)
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["field"] == "cursor"


async def test_export_streams_ndjson_and_records_its_size(
    client: httpx.AsyncClient, sync_engine: Engine, settings: Settings, officer: dict[str, str]
) -> None:
    seed(sync_engine, settings, count=3, resource="buildings")
    response = await client.post("/api/v1/audit/export", json={"resource": "buildings"},
                                 headers={**officer, "X-Request-ID": "officer-export-1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["resource"] for line in lines] == ["buildings"] * 3
    (own,) = events(sync_engine, request_id="officer-export-1")
    assert own.api == "export"
    assert own.record_count == 3


# ------------------------------------------------------------------------------------------ refusals audited


async def test_refusals_on_data_routes_are_audited(client: httpx.AsyncClient, sync_engine: Engine,
                                                   token_for: Callable[[str], str]) -> None:
    forbidden = await client.get("/api/v1/audit/events", headers={**bearer(token_for("dept-civil")),
                                                                  "X-Request-ID": "denied-1"})
    assert forbidden.status_code == 403
    (denied,) = events(sync_engine, request_id="denied-1")
    assert denied.outcome == "denied"
    assert denied.status_code == 403
    assert denied.client_id == "dept-civil"
    assert denied.department == "civil"
    assert denied.filters == {"permission": ["audit:read"]}

    anonymous = await client.get("/api/v1/audit/events", headers={"X-Request-ID": "denied-2"})
    assert anonymous.status_code == 401
    (unknown,) = events(sync_engine, request_id="denied-2")
    assert unknown.principal == "anonymous"
    assert unknown.outcome == "denied"

    forged = await client.get("/api/v1/audit/events", headers={"Authorization": "Bearer not.a.token",
                                                               "X-Request-ID": "denied-3"})
    assert forged.status_code == 401
    (bad_token,) = events(sync_engine, request_id="denied-3")
    assert bad_token.principal == "anonymous"
    assert "credentials rejected" in (bad_token.detail or "")


async def test_public_routes_leave_no_audit_events(client: httpx.AsyncClient, sync_engine: Engine) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/no/such/route")).status_code == 404
    assert events(sync_engine) == []


# ------------------------------------------------------------------------------------------ fail closed


@pytest.fixture
def audit_unwritable(sync_engine: Engine) -> Iterator[None]:
    """The audit table refuses inserts (a trigger that raises), as a full disk or revoked grant would."""
    with sync_engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'audit storage unavailable'; END $$"))
            conn.execute(text("CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_events "
                              "FOR EACH ROW EXECUTE FUNCTION test_refuse_audit()"))
        else:
            conn.execute(text("CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_events "
                              "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"))
    try:
        yield
    finally:
        with sync_engine.begin() as conn:
            conn.execute(text("DROP TRIGGER test_refuse_audit" +
                              (" ON audit_events" if conn.dialect.name == "postgresql" else "")))
            if conn.dialect.name == "postgresql":
                conn.execute(text("DROP FUNCTION test_refuse_audit()"))


@pytest.mark.usefixtures("audit_unwritable")
async def test_unwritable_audit_log_means_503_and_no_data(
    client: httpx.AsyncClient, sync_engine: Engine, settings: Settings, officer: dict[str, str]
) -> None:
    for request in (client.post("/api/v1/audit/search", json={}, headers=officer),
                    client.post("/api/v1/audit/export", json={}, headers=officer),
                    client.get("/api/v1/audit/anomalies", headers=officer),
                    client.get("/api/v1/audit/events", headers={"X-Request-ID": "refused"})):
        response = await request
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["type"] == "/problems/audit-unavailable"
        assert "items" not in body
        assert "volume" not in body
    assert events(sync_engine) == []


# ------------------------------------------------------------------------------------------ anomaly report


async def test_anomaly_report(client: httpx.AsyncClient, sync_engine: Engine, settings: Settings,
                              officer: dict[str, str]) -> None:
    # 2025-03-12 is a Wednesday; Asia/Shanghai is UTC+8.
    day = datetime(2025, 3, 12, tzinfo=UTC)
    for back in range(1, 15):  # a steady baseline of 5 reads a day (at 10:00 local)
        seed(sync_engine, settings, at=day - timedelta(days=back) + timedelta(hours=2), count=5)
    seed(sync_engine, settings, at=day + timedelta(hours=2), count=60)          # the day itself: 60
    seed(sync_engine, settings, at=day + timedelta(hours=13), count=1)          # 21:00 local: off hours
    prober = Principal(kind=PrincipalKind.person, subject="u-prober", roles=frozenset({Role.consumer}))
    seed(sync_engine, settings, prober, at=day + timedelta(hours=3), count=12, outcome="denied",
         status_code=403, subject_ids=[])
    response = await client.get("/api/v1/audit/anomalies", params={"day": "2025-03-12"}, headers=officer)
    assert response.status_code == 200, response.text
    report = response.json()
    (volume,) = report["volume"]
    assert volume["principal"] == "svc-dept-civil"
    assert volume["count"] == 61
    assert volume["baseline_mean"] == 5
    (burst,) = report["denial_bursts"]
    assert burst["principal"] == "u-prober"
    assert burst["denials"] == 12
    (late,) = report["off_hours_personal_reads"]
    assert late["local_time"].startswith("2025-03-12T21:00")
    assert report["working_day"] is True
    assert report["calendar"].startswith("official holiday calendar")


@pytest.mark.parametrize(("day", "working", "flagged"), [
    ("2025-10-02", False, True),   # a Thursday of the 国庆 holiday: a 10:00 read of personal records is off hours
    ("2025-09-28", True, False),   # a Sunday worked in its place (调休上班): 10:00 is within working hours
])
async def test_off_hours_follow_the_official_holiday_calendar(
        client: httpx.AsyncClient, sync_engine: Engine, settings: Settings, officer: dict[str, str],
        day: str, working: bool, flagged: bool) -> None:
    at = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=2)  # 10:00 in Asia/Shanghai
    seed(sync_engine, settings, at=at, count=1)
    report = (await client.get("/api/v1/audit/anomalies", params={"day": day}, headers=officer)).json()
    assert report["working_day"] is working
    assert bool(report["off_hours_personal_reads"]) is flagged


# ------------------------------------------------------------------------------------------ GraphQL


SEARCH = """query($f: AuditFilter) { auditEvents(filter: $f, first: 10) {
  items { principal subjectKeys outcome } nextCursor } }"""


async def test_graphql_search_is_audited_and_refusals_too(
    client: httpx.AsyncClient, sync_engine: Engine, settings: Settings, officer: dict[str, str],
    token_for: Callable[[str], str]
) -> None:
    seed(sync_engine, settings)
    response = await client.post("/graphql", json={"query": SEARCH, "variables": {"f": {"subjectId": ID_NUMBER}}},
                                 headers={**officer, "X-Request-ID": "gql-search"})
    assert response.status_code == 200, response.text
    items = response.json()["data"]["auditEvents"]["items"]
    assert [i["principal"] for i in items] == ["svc-dept-civil"]
    (own,) = events(sync_engine, request_id="gql-search")
    assert own.api == "graphql"
    assert own.action == "audit.search"

    refused = await client.post("/graphql", json={"query": SEARCH},
                                headers={**bearer(token_for("dept-civil")), "X-Request-ID": "gql-denied"})
    body = refused.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    (denied,) = events(sync_engine, request_id="gql-denied")
    assert denied.outcome == "denied"
    assert denied.client_id == "dept-civil"


@pytest.mark.usefixtures("audit_unwritable")
async def test_graphql_read_with_unwritable_log_returns_no_data(
    client: httpx.AsyncClient, sync_engine: Engine, settings: Settings, officer: dict[str, str]
) -> None:
    response = await client.post("/graphql", json={"query": SEARCH}, headers=officer)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/audit-unavailable"
    assert "data" not in body


async def test_the_officer_fetches_an_anchor_that_verifies_the_log(
        client: httpx.AsyncClient, sync_engine: Engine, settings: Settings, officer: dict[str, str],
        token_for: Callable[[str], str]) -> None:
    from security.audit.chain import SigningKey
    from security.audit.sealer import seal
    from security.audit.verify import Anchor, verify

    none_yet = await client.get("/api/v1/audit/anchor", headers=officer)
    assert none_yet.status_code == 404
    assert none_yet.headers["content-type"].startswith("application/problem+json")
    seed(sync_engine, settings, count=3)
    seal(sync_engine, settings)
    response = await client.get("/api/v1/audit/anchor", headers=officer)
    assert response.status_code == 200, response.text
    anchor = Anchor.from_json(response.json())
    keys = [SigningKey.from_seed_b64(settings.audit_signing_key.get_secret_value()).public]
    assert anchor.seq >= 3
    assert verify(sync_engine, keys, anchors=[anchor]).ok
    assert events(sync_engine, action="audit.anchor")
    refused = await client.get("/api/v1/audit/anchor", headers=bearer(token_for("li.na")))
    assert refused.status_code == 403
