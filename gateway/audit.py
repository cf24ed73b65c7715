"""The audit log in the HTTP layer: `AuditDep` for data endpoints, and audited refusals on data routes.

    async def lookup(principal: Annotated[Principal, Depends(requires(Permission.basebase_read))],
                     audit: AuditDep, ...) -> Response:
        ...
        return await audit.json(body, principal, action="population.lookup", resource="population",
                                fields=[...], record_count=1, subject_ids=[id_number])

`record()` returns only once the event is committed; if it cannot be, it raises `AuditUnavailable` (503
problem+json) and the endpoint's data never leaves. A route that declares a permission (gateway.auth.requires)
and ends in an error the endpoint did not record — 401, 403, 429, 4xx, 5xx — gets an event too, written by the
problem handlers before the error response is sent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cpip.errors import ProblemError
from cpip.settings import Settings
from gateway.auth import API_KEY_HEADER, RouteInfo, declared_permissions, token_validator
from gateway.problems import PROBLEM_JSON, problem_response
from security.apikeys import authenticate_key
from security.audit.events import Api, Outcome, build_event
from security.audit.writer import AuditUnavailable, AuditWriter
from security.permissions import Permission
from security.principals import Principal, anonymous

log = logging.getLogger("cpip.audit")

ADMIN_PERMISSIONS = frozenset({Permission.admin, Permission.api_keys_manage})
_STARTED = "audit_started"
_RECORDED = "audit_recorded"


def _started(request: Request) -> float | None:
    value = request.scope.get("state", {}).get(_STARTED)
    return float(value) if value is not None else None


class AuditRecorder:
    """Records this request's data accesses; request id, IP and latency come from the request."""

    def __init__(self, request: Request, writer: AuditWriter, settings: Settings) -> None:
        self.request = request
        self.writer = writer
        self.hmac_key = settings.audit_hmac_key.get_secret_value().encode()

    async def record(
        self, principal: Principal, *, action: str, resource: str, api: Api | str = Api.rest,
        fields: Iterable[str] = (), record_count: int | None = None, subject_ids: Iterable[str] = (),
        subject_hmacs: Iterable[str] = (), filters: Mapping[str, Any] | None = None,
        grant_id: str | None = None, purpose: str | None = None, outcome: Outcome | str = Outcome.allowed,
        status_code: int = 200, bytes: int | None = None, detail: str | None = None,
    ) -> None:
        started = _started(self.request)
        event = build_event(
            principal, hmac_key=self.hmac_key, action=action, resource=resource, api=api, fields=fields,
            record_count=record_count, subject_ids=subject_ids, subject_hmacs=subject_hmacs, filters=filters,
            grant_id=grant_id, purpose=purpose, outcome=outcome, status_code=status_code,
            request_id=self.request.scope.get("state", {}).get("request_id"),
            ip=principal.ip or (self.request.client.host if self.request.client else None),
            latency_ms=(time.perf_counter() - started) * 1000 if started is not None else None,
            bytes_sent=bytes, detail=detail,
        )
        await self.writer.write(event)
        self.request.state.audit_recorded = True

    async def json(self, content: Any, principal: Principal, *, status_code: int = 200,
                   **event: Any) -> Response:
        """Serialise `content`, record the access with the body's size, then hand back the response."""
        response = JSONResponse(content, status_code=status_code)
        await self.record(principal, status_code=status_code, bytes=len(response.body), **event)
        return response


def _writer(request: Request) -> AuditWriter:
    writer: AuditWriter = request.app.state.audit_writer
    return writer


def get_audit(request: Request) -> AuditRecorder:
    return AuditRecorder(request, _writer(request), request.app.state.settings)


AuditDep = Annotated[AuditRecorder, Depends(get_audit)]


# ------------------------------------------------------------------------------------------ refusals


_route_permissions: dict[int, frozenset[Permission]] = {}


def _permissions_of(route: APIRoute) -> frozenset[Permission]:
    found = _route_permissions.get(id(route))
    if found is None:
        info = RouteInfo(path=route.path, methods=frozenset(route.methods or ()), route=route,
                         dependant=route.dependant)
        found = _route_permissions[id(route)] = declared_permissions(info)
    return found


async def _identify(request: Request) -> tuple[Principal, str | None]:
    """Who was refused: the route failed before handing us its principal, so resolve it again."""
    known = getattr(request.state, "principal", None)
    ip = request.client.host if request.client else None
    if isinstance(known, Principal):
        return known, None
    authorization = request.headers.get("authorization")
    api_key = request.headers.get(API_KEY_HEADER)
    try:
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                principal = await token_validator(request).validate(token.strip())
                return Principal(**{**principal.__dict__, "ip": ip}), None
        elif api_key is not None:
            settings: Settings = request.app.state.settings
            async with request.app.state.sessionmaker() as session:
                principal = await authenticate_key(
                    session, api_key, secret_keys=settings.verification_secret_keys, ip=ip)
                return principal, None
    except Exception as exc:  # an unverifiable credential: the refusal is logged against nobody
        return anonymous(ip), f"credentials rejected ({type(exc).__name__})"
    return anonymous(ip), None


def _problem_detail(response: Response) -> str:
    try:
        body = json.loads(bytes(response.body))
    except (ValueError, AttributeError):
        return ""
    return f"{body.get('type', '')}: {body.get('detail', '')}" if isinstance(body, dict) else ""


async def audit_refusal(request: Request, response: Response) -> Response:
    """Record the error response of a data route that the endpoint did not record; 503 if it cannot be."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or getattr(request.state, _RECORDED, False):
        return response
    permissions = _permissions_of(route)
    if not permissions:
        return response
    status = response.status_code
    outcome = Outcome.denied if status in (401, 403, 429) else Outcome.error
    principal, note = await _identify(request)
    detail = "; ".join(part for part in (_problem_detail(response), note) if part)
    try:
        await get_audit(request).record(
            principal, action=f"{request.method} {route.path}", resource=route.path,
            api=Api.admin if permissions & ADMIN_PERMISSIONS else Api.rest,
            filters={"permission": sorted(p.value for p in permissions)}, outcome=outcome, status_code=status,
            bytes=len(response.body), detail=detail,
        )
    except AuditUnavailable as exc:
        return problem_response(exc.to_problem(instance=request.url.path))
    return response


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _audited(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        return await audit_refusal(request, await handler(request, exc))

    return handle


class _StartClock:
    """Notes when the request arrived, so recorded latency covers authentication and the query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})[_STARTED] = time.perf_counter()
        await self.app(scope, receive, send)


def install_audit(app: FastAPI) -> AuditWriter:
    """Give the app its audit writer and audit the refusals of data routes (call after the problem handlers)."""
    settings: Settings = app.state.settings
    writer = AuditWriter(settings)
    app.state.audit_writer = writer
    for exc_class in (ProblemError, StarletteHTTPException, Exception):
        handler = app.exception_handlers.get(exc_class)
        if handler is not None:
            app.add_exception_handler(exc_class, _audited(handler))  # type: ignore[arg-type]
    app.add_middleware(_StartClock)
    return writer


__all__ = ["PROBLEM_JSON", "AuditDep", "AuditRecorder", "AuditUnavailable", "audit_refusal", "install_audit"]
