"""A gateway app with a few extra routes that exercise `requires()` and the open-data rate limit.

It is the real `create_app` (problem handlers, auth, key routes, middleware) plus test-only routes, so
tests see exactly what a client of the platform sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from cpip.settings import Settings
from gateway.app import create_app
from gateway.auth import requires
from gateway.ratelimit import OpenDataReader
from security.permissions import Permission
from security.principals import Principal


def _describe(principal: Principal) -> dict[str, Any]:
    return {"kind": principal.kind.value, "subject": principal.subject, "username": principal.username,
            "department": principal.department, "roles": sorted(r.value for r in principal.roles),
            "api_key_id": principal.api_key_id, "ip": principal.ip}


def build_app(settings: Settings) -> FastAPI:
    app = create_app(settings)

    @app.get("/test/basebase")
    async def basebase(principal: Annotated[Principal, Depends(requires(Permission.basebase_read))]) -> Any:
        return _describe(principal)

    @app.get("/test/audit")
    async def audit(principal: Annotated[Principal, Depends(requires(Permission.audit_read))]) -> Any:
        return _describe(principal)

    @app.get("/test/open-data")
    async def open_data(principal: OpenDataReader) -> Any:
        return _describe(principal)

    return app


@asynccontextmanager
async def client_for(app: FastAPI, ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
