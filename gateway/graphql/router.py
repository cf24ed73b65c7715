from __future__ import annotations

from typing import Any

from cross_web import HTTPException as GraphQLHTTPException
from fastapi import Request
from strawberry.fastapi import GraphQLRouter

from cpip.errors import BadRequest, ProblemError
from cpip.settings import Environment, Settings
from gateway.graphql.context import Context
from gateway.graphql.schema import schema


class _GraphQLHTTPProblem(ProblemError):
    """A GraphQL transport error other than a malformed body (wrong method, media type, …)."""

    slug, status, title = "graphql-request-invalid", 400, "The GraphQL request is not valid"


class ProblemGraphQLRouter(GraphQLRouter[Context, None]):
    """Strawberry answers transport errors in text/plain; ours are problem+json like every other error."""

    async def run(self, request: Any, context: Any = None, root_value: Any = None) -> Any:
        try:
            return await super().run(request, context=context, root_value=root_value)
        except GraphQLHTTPException as exc:
            if exc.status_code == 400:
                raise BadRequest(exc.reason) from exc
            error = _GraphQLHTTPProblem(exc.reason)
            error.status = exc.status_code  # type: ignore[misc]
            raise error from exc


async def _context(request: Request) -> Context:
    return Context(settings=request.app.state.settings, sessionmaker=request.app.state.sessionmaker)


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    return ProblemGraphQLRouter(
        schema,
        context_getter=_context,
        graphql_ide="graphiql" if settings.env is not Environment.production else None,
    )
