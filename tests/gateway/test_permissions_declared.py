"""Deny by default, enforced: every REST route and every GraphQL root field of the real app declares the
permission it needs, or says explicitly (with a reason) that it is public. A new route without either
fails here, not in review."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from graphql import GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter

from cpip.settings import Environment, Settings
from gateway.app import create_app
from gateway.auth import declared_permissions, is_public, iter_routes, requires
from gateway.graphql.permissions import PUBLIC_FIELDS, field_permission, needs
from gateway.graphql.schema import schema as app_schema
from security.permissions import Permission
from security.principals import Principal

# FastAPI's own documentation pages describe the API and hold no data.
DOCUMENTATION_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _is_graphql_transport(route: Any) -> bool:
    # The GraphQL endpoint is a transport: each of its root fields is checked by the GraphQL walk below.
    endpoint = getattr(route, "endpoint", None)
    return getattr(endpoint, "__qualname__", "").startswith("GraphQLRouter.")


def undeclared_routes(app: FastAPI) -> list[str]:
    missing: list[str] = []
    for info in iter_routes(app.routes):
        route = info.route
        if _is_graphql_transport(route):
            continue
        if not isinstance(route, APIRoute | APIWebSocketRoute):
            if info.path not in DOCUMENTATION_PATHS:
                missing.append(f"{info.path} ({type(route).__name__}: not an API route, cannot declare)")
            continue
        if declared_permissions(info) or is_public(info):
            continue
        missing.append(f"{','.join(sorted(info.methods)) or 'WS'} {info.path}")
    return missing


def undeclared_fields(schema: strawberry.Schema) -> list[str]:
    missing: list[str] = []
    graphql_schema = schema._schema
    for root in (graphql_schema.query_type, graphql_schema.mutation_type, graphql_schema.subscription_type):
        if not isinstance(root, GraphQLObjectType):
            continue
        for name, field in root.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            classes = list(getattr(definition, "permission_classes", None) or [])
            qualified = f"{root.name}.{name}"
            if field_permission(classes) is None and qualified not in PUBLIC_FIELDS:
                missing.append(qualified)
    return missing


def _app() -> FastAPI:
    return create_app(Settings(env=Environment.test, database_url="sqlite+aiosqlite:///:memory:"))


def test_every_route_of_the_app_declares_a_permission() -> None:
    app = _app()
    assert undeclared_routes(app) == []
    # The walk does see the routes (it is not vacuously empty): key management is among them.
    declared = {info.path: declared_permissions(info) for info in iter_routes(app.routes)}
    assert declared["/api/v1/open-data/keys"] == {Permission.api_keys_manage}


def test_every_graphql_root_field_declares_a_permission() -> None:
    assert undeclared_fields(app_schema) == []
    assert all(reason.strip() for reason in PUBLIC_FIELDS.values())


def test_the_walk_catches_an_undeclared_route() -> None:
    app = _app()

    @app.get("/leaky")
    async def leaky() -> dict[str, str]:
        return {"secret": "data"}

    @app.get("/nested")
    async def nested(principal: Annotated[Principal, Depends(requires(Permission.indicators_read))]) -> str:
        return principal.subject

    assert undeclared_routes(app) == ["GET /leaky"]


def test_the_walk_catches_an_undeclared_graphql_field() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def leaky(self) -> str:
            return "data"

        guarded: str = strawberry.field(resolver=lambda: "data", permission_classes=[needs(Permission.audit_read)])

    @strawberry.type
    class Mutation:
        @strawberry.mutation
        def change(self) -> bool:
            return True

    assert undeclared_fields(strawberry.Schema(query=Query, mutation=Mutation)) == ["Query.leaky",
                                                                                   "Mutation.change"]
