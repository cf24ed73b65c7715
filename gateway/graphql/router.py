from __future__ import annotations

from typing import Annotated, Any

from cross_web import HTTPException as GraphQLHTTPException
from fastapi import Depends, Request
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from cpip.errors import BadRequest, ProblemError, ServiceUnavailable
from cpip.settings import Environment, Settings
from gateway.auth import resolve_principal
from gateway.graphql.context import Context
from gateway.graphql.schema import schema
from gateway.ratelimit import count_open_data_read
from security.audit.writer import AuditUnavailable
from security.principals import Principal


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

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Fail closed like REST: when any field could not write its audit event (or another dependency the
        # platform must not serve without is down), the whole response is a 503 and no field's data leaves.
        for error in result.errors or ():
            extensions = error.extensions or {}
            if extensions.get("code") == AuditUnavailable.slug:
                raise AuditUnavailable(error.message)
            if isinstance(error.original_error, ServiceUnavailable) or extensions.get("status") == 503:
                raise ServiceUnavailable(error.message)
        return await super().process_result(request, result)


async def _context(request: Request, principal: Annotated[Principal, Depends(resolve_principal)]) -> Context:
    # A FastAPI dependency: a bad token ends the request here with 401 problem+json, before any resolver.
    # Anonymous and API-key callers can only read open data, so each of their GraphQL requests counts
    # against the same open-data rate limit as REST (429 problem+json when over it).
    await count_open_data_read(request, principal)
    return Context(settings=request.app.state.settings, sessionmaker=request.app.state.sessionmaker,
                   principal=principal)


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    return ProblemGraphQLRouter(
        schema,
        context_getter=_context,
        graphql_ide="graphiql" if settings.env is not Environment.production else None,
    )
