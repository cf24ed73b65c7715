"""Who is calling, and may they: FastAPI dependencies for authentication and deny-by-default authorization.

    principal: Annotated[Principal, Depends(requires(Permission.basebase_read))]

resolves the caller — a bearer token (person or department service account), an `X-API-Key` (open-data key
holder) or nothing (anonymous, with the client IP) — and answers 401 or 403 problem+json unless the caller
holds the permission. `requires()` also records the permission on the route, so the OpenAPI document
shows it (`x-cpip-permission`) and a test can walk the app for routes that declare none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute

from cpip.errors import BadRequest, Forbidden, Unauthorized
from cpip.settings import Settings
from gateway.deps import SessionDep
from security.apikeys import authenticate_key
from security.identity import TokenRejected, TokenValidator
from security.permissions import ANONYMOUS_PERMISSIONS, API_KEY_PERMISSIONS, Permission, has_permission
from security.principals import Principal, anonymous

MAX_AUTHORIZATION_BYTES = 8 * 1024
API_KEY_HEADER = "X-API-Key"
PUBLIC = "public"
PERMISSION_KEY = "x-cpip-permission"
CHALLENGE = 'Bearer realm="cpip"'

# Only for the OpenAPI document (the "Authorize" button, securitySchemes); they never reject anything,
# resolve_principal below reads the headers itself.
_bearer_doc = HTTPBearer(auto_error=False, bearerFormat="JWT", scheme_name="bearer",
                         description="An access token from the platform's Keycloak realm")
_api_key_doc = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="apiKey",
                            description="An open-data API key (cpipk_…): open resources only")

# dependency callable -> the permission it demands; how routes are found to declare their permission.
_PERMISSION_OF: dict[Callable[..., Any], Permission] = {}
_REQUIRES: dict[Permission, Callable[..., Awaitable[Principal]]] = {}


def _challenge(error: str | None = None, description: str | None = None) -> str:
    if error is None:
        return CHALLENGE
    text = (description or "").replace('"', "'").replace("\\", "/")
    return f'{CHALLENGE}, error="{error}", error_description="{text}"'


def token_validator(request: Request) -> TokenValidator:
    """The app's one validator (and so one JWKS cache), made on first use from the app's settings."""
    validator: TokenValidator | None = getattr(request.app.state, "token_validator", None)
    if validator is None:
        settings: Settings = request.app.state.settings
        validator = TokenValidator.from_settings(settings)
        request.app.state.token_validator = validator
    return validator


def _bearer_token(header: str) -> str:
    if len(header.encode("latin-1", "replace")) > MAX_AUTHORIZATION_BYTES:
        raise TokenRejected("header-too-large", "the Authorization header is larger than 8 KB")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        error = Unauthorized("only 'Authorization: Bearer <token>' is accepted", reason="unsupported-scheme")
        error.extensions["headers"] = {"WWW-Authenticate": _challenge(
            "invalid_request", "only Bearer tokens are accepted")}
        raise error
    return token.strip()


async def resolve_principal(
    request: Request,
    session: SessionDep,
    _bearer: Annotated[Any, Depends(_bearer_doc)],
    _api_key: Annotated[Any, Depends(_api_key_doc)],
) -> Principal:
    """The caller, from a bearer token, an API key, or neither; rejections are 401 with a challenge."""
    principal = await _resolve(request, session)
    # Kept on the request for what runs after the route (the access audit records who called).
    request.state.principal = principal
    return principal


async def _resolve(request: Request, session: AsyncSession) -> Principal:
    ip = request.client.host if request.client else None
    authorization = request.headers.get("authorization")
    api_key = request.headers.get(API_KEY_HEADER)
    if authorization is not None and api_key is not None:
        raise BadRequest("send either an Authorization bearer token or an X-API-Key, not both")
    if authorization is not None:
        try:
            # No database access on this path: a bad token costs the platform a signature check at most.
            principal = await token_validator(request).validate(_bearer_token(authorization))
        except TokenRejected as rejected:
            rejected.extensions["headers"] = {"WWW-Authenticate": _challenge("invalid_token", rejected.detail)}
            raise
        return dataclasses.replace(principal, ip=ip)
    if api_key is not None:
        settings: Settings = request.app.state.settings
        try:
            return await authenticate_key(session, api_key, secret_keys=settings.verification_secret_keys,
                                          ip=ip)
        except Unauthorized as rejected:
            rejected.extensions["headers"] = {"WWW-Authenticate": CHALLENGE}
            raise
    return anonymous(ip)


PrincipalDep = Annotated[Principal, Depends(resolve_principal)]


def requires(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that yields the caller if they hold `permission`, else 401 (no identity) or 403."""
    existing = _REQUIRES.get(permission)
    if existing is not None:
        return existing  # one callable per permission, so FastAPI resolves it once per request

    async def dependency(principal: PrincipalDep) -> Principal:
        if has_permission(principal, permission):
            return principal
        if not principal.is_authenticated:
            error = Unauthorized(f"this needs the {permission.value} permission: sign in with a bearer token",
                                 required_permission=permission.value)
            error.extensions["headers"] = {"WWW-Authenticate": CHALLENGE}
            raise error
        raise Forbidden(f"your account does not hold the {permission.value} permission",
                        required_permission=permission.value)

    dependency.__name__ = f"requires_{permission.name}"
    dependency.__qualname__ = dependency.__name__
    _PERMISSION_OF[dependency] = permission
    _REQUIRES[permission] = dependency
    return dependency


# ---------------------------------------------------------------------------------------------- declaration


@dataclass(frozen=True)
class RouteInfo:
    """One HTTP route as the app serves it: the full path (router prefixes applied) and its dependencies."""

    path: str
    methods: frozenset[str]
    route: BaseRoute
    dependant: Dependant | None


def iter_routes(routes: Sequence[BaseRoute]) -> Iterator[RouteInfo]:
    """Every route of an app, including those of included routers, with the dependencies it really runs."""
    # FastAPI >= 0.16x includes routers lazily; iter_route_contexts resolves prefixes and router dependencies.
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    contexts: Iterable[Any] = iterate(routes) if iterate is not None else routes
    for context in contexts:
        original: BaseRoute = getattr(context, "original_route", context)
        dependant = getattr(context, "dependant", None) or getattr(original, "dependant", None)
        yield RouteInfo(path=str(getattr(context, "path_format", None) or getattr(original, "path", "")),
                        methods=frozenset(getattr(context, "methods", None) or ()), route=original,
                        dependant=dependant)


def _dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    stack = list(dependant.dependencies)
    while stack:
        current = stack.pop()
        if current.call is not None:
            yield current.call
        stack.extend(current.dependencies)


def declared_permissions(route: RouteInfo) -> frozenset[Permission]:
    """The permissions a route demands through `requires()`, however deeply nested in its dependencies."""
    if route.dependant is None:
        return frozenset()
    return frozenset(_PERMISSION_OF[call] for call in _dependency_calls(route.dependant) if call in _PERMISSION_OF)


def is_public(route: RouteInfo) -> bool:
    extra = getattr(route.route, "openapi_extra", None) or {}
    return bool(extra.get(PERMISSION_KEY) == PUBLIC)


def _security_for(permissions: frozenset[Permission]) -> list[dict[str, list[str]]]:
    options: list[dict[str, list[str]]] = [{"bearer": []}]
    if permissions <= API_KEY_PERMISSIONS:
        options.append({"apiKey": []})
    if permissions <= ANONYMOUS_PERMISSIONS:
        options.append({})
    return options


def install_auth(app: FastAPI) -> None:
    """Make the app's token validator now, and show each route's permission in its OpenAPI operation."""
    settings: Settings = app.state.settings
    app.state.token_validator = TokenValidator.from_settings(settings)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI regenerates when routes change; annotating again is cheap and keeps late routes covered.
        schema = generate()
        for route in iter_routes(app.routes):
            permissions = declared_permissions(route)
            if not permissions or not isinstance(route.route, APIRoute):
                continue
            for method in route.methods:
                operation = schema.get("paths", {}).get(route.path, {}).get(method.lower())
                if operation is None:
                    continue
                names = sorted(p.value for p in permissions)
                operation[PERMISSION_KEY] = names[0] if len(names) == 1 else names
                operation["security"] = _security_for(permissions)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
