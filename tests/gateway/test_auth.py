"""Authentication and authorization as a client of the gateway sees them: REST and GraphQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import strawberry
from fastapi import FastAPI
from sqlalchemy import event

from cpip.settings import Settings
from gateway.graphql.permissions import needs
from gateway.graphql.router import ProblemGraphQLRouter, _context
from security.permissions import ANONYMOUS_PERMISSIONS, Permission, permissions_of
from security.principals import Principal, PrincipalKind, Role
from tests.support.auth_app import build_app, client_for
from tests.support.auth_fixtures import IdpKeys, bearer, parts

pytestmark = pytest.mark.usefixtures("settings")


@pytest.fixture(scope="module")
async def auth_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = build_app(settings.model_copy(update={"open_data_anonymous_rate": "3/minute",
                                                "open_data_api_key_rate": "5/minute"}))
    yield app
    await app.state.engine.dispose()


@pytest.fixture
async def api(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(auth_app) as client:
        yield client


@pytest.fixture
def statements(auth_app: FastAPI) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the test runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = auth_app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def expired_token(keys: IdpKeys, token: str) -> str:
    _, claims, _ = parts(token)
    now = int(time.time())
    return keys.sign({**claims, "exp": now - 3600, "iat": now - 3900})


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_no_token_where_one_is_needed(api: httpx.AsyncClient) -> None:
    response = await api.get("/test/basebase")
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="cpip"'
    assert body["required_permission"] == "basebase:read"


async def test_bad_token_names_the_reason(api: httpx.AsyncClient, idp_keys: IdpKeys,
                                          token_for: Callable[[str], str], statements: list[str]) -> None:
    response = await api.get("/test/basebase", headers=bearer(expired_token(idp_keys, token_for("zhang.wei"))))
    body = assert_problem(response, 401)
    assert body["reason"] == "expired"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="cpip", error="invalid_token", error_description="')
    assert "expired" in challenge
    assert statements == []  # rejected before any database access


async def test_tampered_token_is_401_without_database(api: httpx.AsyncClient, token_for: Callable[[str], str],
                                                       statements: list[str]) -> None:
    header, payload, signature = token_for("zhang.wei").split(".")
    response = await api.get("/test/open-data", headers=bearer(f"{header}.{payload}x.{signature}"))
    assert_problem(response, 401)
    assert statements == []


async def test_header_over_8kb(api: httpx.AsyncClient, statements: list[str]) -> None:
    response = await api.get("/test/basebase", headers={"Authorization": "Bearer " + "a" * 8200})
    body = assert_problem(response, 401)
    assert body["reason"] == "header-too-large"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert statements == []


async def test_other_schemes_are_refused(api: httpx.AsyncClient) -> None:
    response = await api.get("/test/basebase", headers={"Authorization": "Basic bGkubmE6cHc="})
    assert_problem(response, 401)
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def test_token_and_api_key_together_are_ambiguous(api: httpx.AsyncClient,
                                                        token_for: Callable[[str], str]) -> None:
    response = await api.get("/test/open-data",
                             headers={**bearer(token_for("zhang.wei")), "X-API-Key": "cpipk_x_y"})
    assert_problem(response, 400)


async def test_permission_held_and_missing(api: httpx.AsyncClient, token_for: Callable[[str], str]) -> None:
    allowed = await api.get("/test/basebase", headers=bearer(token_for("dept-civil")))
    assert allowed.status_code == 200
    assert allowed.json()["kind"] == "service_account"
    assert allowed.json()["department"] == "civil"
    assert allowed.json()["ip"] == "127.0.0.1"
    # A security officer reads the audit log, not base databases; a department does not read the audit log.
    denied = await api.get("/test/basebase", headers=bearer(token_for("wang.fang")))
    body = assert_problem(denied, 403)
    assert body["required_permission"] == "basebase:read"
    assert_problem(await api.get("/test/audit", headers=bearer(token_for("dept-psb"))), 403)
    assert (await api.get("/test/audit", headers=bearer(token_for("wang.fang")))).status_code == 200


async def test_conflicting_roles_are_403(api: httpx.AsyncClient, idp_keys: IdpKeys,
                                         token_for: Callable[[str], str]) -> None:
    _, claims, _ = parts(token_for("admin"))
    token = idp_keys.sign({**claims, "realm_access": {"roles": ["platform-admin", "security-officer"]}})
    body = assert_problem(await api.get("/test/audit", headers=bearer(token)), 403)
    assert body["type"] == "/problems/separation-of-duties"


async def test_jwks_is_not_fetched_per_request(settings: Settings, token_for: Callable[[str], str]) -> None:
    app = build_app(settings)
    async with client_for(app) as client:
        for name in ("li.na", "zhang.wei", "dept-psb", "dept-stats") * 5:
            assert (await client.get("/test/basebase", headers=bearer(token_for(name)))).status_code == 200
    assert app.state.token_validator.jwks_fetches == 1
    await app.state.engine.dispose()


async def test_anonymous_open_data_is_rate_limited_per_ip(auth_app: FastAPI) -> None:
    async with client_for(auth_app, ip="203.0.113.7") as client:
        for n in range(3):
            response = await client.get("/test/open-data")
            assert response.status_code == 200
            assert response.json()["kind"] == "anonymous"
            assert response.headers["x-ratelimit-remaining"] == str(2 - n)
        over = await client.get("/test/open-data")
        body = assert_problem(over, 429)
        assert 1 <= int(over.headers["retry-after"]) <= 60
        assert body["retry_after"] == int(over.headers["retry-after"])
    async with client_for(auth_app, ip="203.0.113.8") as other:
        assert (await other.get("/test/open-data")).status_code == 200  # another address has its own budget


async def test_signed_in_callers_are_not_ip_limited(auth_app: FastAPI, token_for: Callable[[str], str]) -> None:
    async with client_for(auth_app, ip="203.0.113.9") as client:
        for _ in range(6):
            assert (await client.get("/test/open-data", headers=bearer(token_for("chen.dev")))).status_code == 200


async def test_openapi_shows_each_routes_permission(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert paths["/test/basebase"]["get"]["x-cpip-permission"] == "basebase:read"
    assert paths["/test/open-data"]["get"]["x-cpip-permission"] == "open-data:read"
    assert {} in paths["/test/open-data"]["get"]["security"]  # anonymous allowed
    assert {} not in paths["/test/basebase"]["get"]["security"]
    assert paths["/api/v1/open-data/keys"]["post"]["x-cpip-permission"] == "api-keys:manage"
    assert paths["/healthz"]["get"]["x-cpip-permission"] == "public"


# ---------------------------------------------------------------------------------------------- GraphQL


def _who(info: strawberry.Info) -> str:
    principal = info.context.principal
    return f"{principal.kind.value}:{principal.department}"


@strawberry.type
class _Query:
    who: str = strawberry.field(resolver=_who, permission_classes=[needs(Permission.basebase_read)])


@pytest.fixture(scope="module")
async def graphql_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = build_app(settings)
    app.include_router(ProblemGraphQLRouter(strawberry.Schema(query=_Query), context_getter=_context),
                       prefix="/test-graphql")
    yield app
    await app.state.engine.dispose()


async def _ask(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.Response:
    async with client_for(app) as client:
        return await client.post("/test-graphql", json={"query": "{ who }"}, headers=headers or {})


async def test_graphql_field_permissions(graphql_app: FastAPI, token_for: Callable[[str], str]) -> None:
    allowed = await _ask(graphql_app, bearer(token_for("dept-hurd")))
    assert allowed.json() == {"data": {"who": "service_account:hurd"}}
    anonymous = (await _ask(graphql_app)).json()
    assert anonymous["data"] is None
    assert anonymous["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "permission": "basebase:read"}
    officer = (await _ask(graphql_app, bearer(token_for("wang.fang")))).json()
    assert officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_graphql_bad_token_is_http_401(graphql_app: FastAPI, idp_keys: IdpKeys,
                                             token_for: Callable[[str], str]) -> None:
    response = await _ask(graphql_app, bearer(expired_token(idp_keys, token_for("dept-hurd"))))
    body = assert_problem(response, 401)
    assert body["reason"] == "expired"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_app_graphql_public_field_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ platform { version } }"})
    assert response.status_code == 200
    assert response.json()["data"]["platform"]["version"]


def test_every_signed_in_role_may_read_what_anonymous_callers_may() -> None:
    for role in Role:
        person = Principal(kind=PrincipalKind.person, subject=f"u-{role}", roles=frozenset({role}))
        assert permissions_of(person) >= ANONYMOUS_PERMISSIONS, role
