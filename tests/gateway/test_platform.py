from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cpip.settings import ConfigurationError, Environment, Settings

pytestmark = pytest.mark.usefixtures("settings")


async def test_healthz_and_readyz_answer(client: httpx.AsyncClient, settings: Settings) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == ("sqlite" if settings.is_sqlite else "postgresql")


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/not-found"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "x\u0000; drop table"})
    assert hostile.headers["x-request-id"] != "x\u0000; drop table"
    assert len(hostile.headers["x-request-id"]) == 32


async def test_graphql_answers(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ platform { version environment } }"})
    assert response.status_code == 200
    assert response.json()["data"]["platform"]["environment"] == "test"


async def test_metrics_count_requests(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    text = (await client.get("/metrics")).text
    assert 'cpip_http_requests_total{method="GET",route="/healthz",status="200"}' in text


def test_production_refuses_sqlite_and_development_secrets() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings(env=Environment.production, database_url="sqlite+aiosqlite:///var/x.db").check_safe_to_start()
    assert "SQLite" in str(refused.value)
    assert "CPIP_SECRET_KEY" in str(refused.value)
    strong = "x" * 40
    Settings(env=Environment.production, database_url="postgresql+asyncpg://db/cpip", secret_key=strong,
             audit_hmac_key=strong + "h", audit_signing_key=strong + "s").check_safe_to_start()


async def test_malformed_json_body_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", content=b'{"query": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 400


async def test_oversized_body_is_refused_before_the_app_reads_it(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    big = b"x" * (settings.max_body_bytes + 1)
    declared = await client.post("/graphql", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["type"] == "/problems/payload-too-large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"y" * 65536

    streamed = await client.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert streamed.json()["type"] == "/problems/payload-too-large"


async def test_problem_types_are_documented(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/problems/payload-too-large")
    assert unknown.json()["status"] == 413
    assert (await client.get("/problems/no-such-type")).status_code == 404
