"""A ProblemError raised under a GraphQL resolver, as the GraphQL error its caller sees.

The problem's slug and status travel in `extensions`, as in problem+json; its HTTP `headers` (Retry-After,
WWW-Authenticate) do not, since a GraphQL error has no headers of its own.
"""

from __future__ import annotations

from strawberry.exceptions import StrawberryGraphQLError

from cpip.errors import ProblemError


def graphql_error(problem: ProblemError) -> StrawberryGraphQLError:
    extensions = {"code": problem.slug, "status": problem.status,
                  **{k: v for k, v in problem.extensions.items() if k != "headers"}}
    return StrawberryGraphQLError(problem.detail, extensions=extensions)
