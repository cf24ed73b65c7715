"""Open-data API keys through the REST API: created once, stored hashed, open data only, revocable, expiring."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text, update

from cpip.clock import set_clock, utcnow
from cpip.settings import Settings
from security.apikeys import MAX_ACTIVE_KEYS_PER_OWNER, ApiKey
from tests.support.auth_app import build_app, client_for
from tests.support.auth_fixtures import bearer, parts

pytestmark = pytest.mark.usefixtures("settings")
KEYS = "/api/v1/open-data/keys"


@pytest.fixture(scope="module")
async def keys_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = build_app(settings.model_copy(update={"open_data_api_key_rate": "4/minute", "api_key_max_days": 30}))
    yield app
    await app.state.engine.dispose()


@pytest.fixture
async def api(keys_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(keys_app) as client:
        yield client


async def create(api: httpx.AsyncClient, token: str, name: str = "my app", days: int = 7) -> dict[str, str]:
    response = await api.post(KEYS, json={"name": name, "expires_in_days": days}, headers=bearer(token))
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def test_key_is_shown_once_and_stored_hashed(api: httpx.AsyncClient, token_for: Callable[[str], str],
                                                   sync_engine: Engine) -> None:
    developer = token_for("chen.dev")
    response = await api.post(KEYS, json={"name": "地图应用"}, headers=bearer(developer))
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    issued = response.json()
    prefix, key_id, secret = issued["key"].split("_", 2)
    assert prefix == "cpipk"
    assert key_id == issued["id"]
    assert len(secret) >= 40
    assert issued["scope"] == "open-data"
    listed = (await api.get(KEYS, headers=bearer(developer))).json()
    assert [k["id"] for k in listed] == [key_id]
    assert "key" not in listed[0]
    assert secret not in listed[0]["display"]
    with sync_engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": key_id}).mappings().one()
    assert all(secret not in str(value) for value in row.values())
    assert len(row["secret_hash"]) == 64


async def test_open_data_key_reads_open_data_only(api: httpx.AsyncClient,
                                                  token_for: Callable[[str], str]) -> None:
    issued = await create(api, token_for("chen.dev"))
    headers = {"X-API-Key": issued["key"]}
    allowed = await api.get("/test/open-data", headers=headers)
    assert allowed.status_code == 200
    assert allowed.json()["kind"] == "api_key"
    assert allowed.json()["api_key_id"] == issued["id"]
    assert allowed.json()["roles"] == []  # the owner's roles do not travel with the key
    # Not a base-database record, not the audit log, and no more keys made with a key.
    assert (await api.get("/test/basebase", headers=headers)).status_code == 403
    assert (await api.get("/test/audit", headers=headers)).status_code == 403
    assert (await api.post(KEYS, json={"name": "x"}, headers=headers)).status_code == 403


async def test_revoked_key_stops_working_at_once(api: httpx.AsyncClient,
                                                 token_for: Callable[[str], str]) -> None:
    developer = token_for("chen.dev")
    issued = await create(api, developer)
    headers = {"X-API-Key": issued["key"]}
    assert (await api.get("/test/open-data", headers=headers)).status_code == 200
    revoked = await api.delete(f"{KEYS}/{issued['id']}", headers=bearer(developer))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = await api.get("/test/open-data", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "revoked-key"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    again = await api.delete(f"{KEYS}/{issued['id']}", headers=bearer(developer))
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


async def test_only_the_owner_sees_and_revokes(api: httpx.AsyncClient, token_for: Callable[[str], str],
                                               sync_engine: Engine) -> None:
    issued = await create(api, token_for("chen.dev"))
    # Another account with the developer role is forged as a different subject: it must not see the key.
    with sync_engine.begin() as conn:
        conn.execute(update(ApiKey).where(ApiKey.id == issued["id"])
                     .values(owner_subject="someone-else"))
    assert (await api.get(KEYS, headers=bearer(token_for("chen.dev")))).json() == []
    response = await api.delete(f"{KEYS}/{issued['id']}", headers=bearer(token_for("chen.dev")))
    assert response.status_code == 404
    assert (await api.get("/test/open-data", headers={"X-API-Key": issued["key"]})).status_code == 200


async def test_expired_key_is_refused(api: httpx.AsyncClient, token_for: Callable[[str], str]) -> None:
    issued = await create(api, token_for("chen.dev"), days=1)
    headers = {"X-API-Key": issued["key"]}
    later = utcnow() + timedelta(days=1, seconds=1)
    set_clock(lambda: later)
    try:
        refused = await api.get("/test/open-data", headers=headers)
    finally:
        set_clock(None)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "expired-key"


async def test_wrong_and_malformed_keys(api: httpx.AsyncClient, token_for: Callable[[str], str]) -> None:
    issued = await create(api, token_for("chen.dev"))
    prefix, key_id, secret = issued["key"].split("_", 2)
    wrong_secret = f"{prefix}_{key_id}_{'A' * len(secret)}"
    unknown_id = f"{prefix}_{'0' * 16}_{secret}"
    for presented, reason in ((wrong_secret, "unknown-key"), (unknown_id, "unknown-key"),
                              ("not-a-key", "malformed-key"), (issued["key"] + "x", "malformed-key")):
        response = await api.get("/test/open-data", headers={"X-API-Key": presented})
        assert response.status_code == 401
        assert response.json()["reason"] == reason


async def test_who_may_manage_keys(api: httpx.AsyncClient, token_for: Callable[[str], str]) -> None:
    anonymous = await api.post(KEYS, json={"name": "x"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="cpip"'
    assert (await api.post(KEYS, json={"name": "x"}, headers=bearer(token_for("zhang.wei")))).status_code == 403
    assert (await api.get(KEYS, headers=bearer(token_for("admin")))).status_code == 403


async def test_bad_input_names_the_field(api: httpx.AsyncClient, token_for: Callable[[str], str]) -> None:
    developer = bearer(token_for("chen.dev"))
    too_long = await api.post(KEYS, json={"name": "x", "expires_in_days": 31}, headers=developer)
    assert too_long.status_code == 422
    assert "expires_in_days" in too_long.json()["detail"]
    blank = await api.post(KEYS, json={"name": "   "}, headers=developer)
    assert blank.status_code == 422
    assert "name" in blank.json()["detail"]
    unknown = await api.post(KEYS, json={"name": "x", "scope": "everything"}, headers=developer)
    assert unknown.status_code == 422
    assert "scope" in unknown.json()["detail"]


async def test_active_keys_are_capped(api: httpx.AsyncClient, token_for: Callable[[str], str]) -> None:
    developer = token_for("chen.dev")
    for n in range(MAX_ACTIVE_KEYS_PER_OWNER):
        await create(api, developer, name=f"app {n}")
    over = await api.post(KEYS, json={"name": "one more"}, headers=bearer(developer))
    assert over.status_code == 409
    first = (await api.get(KEYS, headers=bearer(developer))).json()[0]
    await api.delete(f"{KEYS}/{first['id']}", headers=bearer(developer))
    await create(api, developer, name="after revoking one")


async def test_key_holders_have_their_own_rate_limit(api: httpx.AsyncClient,
                                                     token_for: Callable[[str], str]) -> None:
    issued = await create(api, token_for("chen.dev"))
    headers = {"X-API-Key": issued["key"]}
    for _ in range(4):
        assert (await api.get("/test/open-data", headers=headers)).status_code == 200
    over = await api.get("/test/open-data", headers=headers)
    assert over.status_code == 429
    assert int(over.headers["retry-after"]) >= 1
    other = await create(api, token_for("chen.dev"), name="second app")
    assert (await api.get("/test/open-data", headers={"X-API-Key": other["key"]})).status_code == 200


async def test_creating_and_revoking_are_audited(api: httpx.AsyncClient, token_for: Callable[[str], str],
                                                 sync_engine: Engine) -> None:
    developer = token_for("chen.dev")
    issued = await create(api, developer)
    await api.delete(f"{KEYS}/{issued['id']}", headers=bearer(developer))
    await api.delete(f"{KEYS}/{issued['id']}", headers=bearer(developer))  # already revoked: no second event
    with sync_engine.connect() as conn:
        events = conn.execute(text(
            "SELECT action, api, principal, outcome, detail FROM audit_events "
            "WHERE action LIKE 'api-key.%' ORDER BY id")).mappings().all()
    assert [(e["action"], e["api"], e["outcome"]) for e in events] == [
        ("api-key.create", "admin", "allowed"), ("api-key.revoke", "admin", "allowed")]
    assert all(issued["id"] in (e["detail"] or "") for e in events)
    assert all(e["principal"] == parts(developer)[1]["sub"] for e in events)
    # The secret itself never reaches the audit log.
    assert all(issued["key"].split("_", 2)[2] not in (e["detail"] or "") for e in events)


async def test_the_platform_admin_revokes_a_leaked_key_with_a_reason(
        api: httpx.AsyncClient, token_for: Callable[[str], str], sync_engine: Engine) -> None:
    issued = await create(api, token_for("chen.dev"), name="leaked app")
    admin = bearer(token_for("admin"))
    listed = await api.get("/api/v1/admin/api-keys", headers=admin, params={"owner": "chen.dev", "active": "true"})
    assert listed.status_code == 200, listed.text
    assert [(k["id"], k["owner_username"]) for k in listed.json()] == [(issued["id"], "chen.dev")]
    assert "secret_hash" not in listed.json()[0]

    no_reason = await api.post(f"/api/v1/admin/api-keys/{issued['id']}/revoke", headers=admin, json={})
    assert no_reason.status_code == 422
    assert "body.reason" in [e["field"] for e in no_reason.json()["errors"]]
    revoked = await api.post(f"/api/v1/admin/api-keys/{issued['id']}/revoke", headers=admin,
                             json={"reason": "published on a forum"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert revoked.json()["revoked_by"] != revoked.json()["owner_subject"]
    refused = await api.get("/test/open-data", headers={"X-API-Key": issued["key"]})
    assert (refused.status_code, refused.json()["reason"]) == (401, "revoked-key")
    with sync_engine.connect() as conn:
        detail = conn.scalar(text("SELECT detail FROM audit_events WHERE action = 'api-key.revoke-by-admin'"))
    assert detail == f"key {issued['id']} (leaked app) of chen.dev: published on a forum"
    assert (await api.post("/api/v1/admin/api-keys/nope/revoke", headers=admin,
                           json={"reason": "typo"})).status_code == 404
    # Neither the developer nor the security officer may do this.
    for user in ("chen.dev", "wang.fang"):
        assert (await api.get("/api/v1/admin/api-keys", headers=bearer(token_for(user)))).status_code == 403
