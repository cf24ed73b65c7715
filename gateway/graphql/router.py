from __future__ import annotations

from fastapi import Request
from strawberry.fastapi import GraphQLRouter

from cpip.settings import Environment, Settings
from gateway.graphql.context import Context
from gateway.graphql.schema import schema


async def _context(request: Request) -> Context:
    return Context(settings=request.app.state.settings, sessionmaker=request.app.state.sessionmaker)


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    return GraphQLRouter(
        schema,
        context_getter=_context,
        graphql_ide="graphiql" if settings.env is not Environment.production else None,
    )
