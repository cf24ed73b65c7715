"""The Strawberry schema root: each domain adds its own query/mutation type in its own module under
gateway/graphql/, and lists it here."""

from __future__ import annotations

import strawberry
from strawberry.tools import merge_types

from cpip import __version__
from gateway.graphql.audit import AuditQuery
from gateway.graphql.basebases import BasebasesQuery
from gateway.graphql.catalogue import CatalogueMutation, CatalogueQuery
from gateway.graphql.exchange import ExchangeQuery
from gateway.graphql.indicators import IndicatorsQuery


@strawberry.type(description="Facts about this platform instance")
class PlatformInfo:
    version: str
    environment: str


@strawberry.type
class PlatformQuery:
    @strawberry.field(description="Version and environment; public, returns no data")
    def platform(self, info: strawberry.Info) -> PlatformInfo:
        return PlatformInfo(version=__version__, environment=str(info.context.settings.env))


QUERY_TYPES: tuple[type, ...] = (PlatformQuery, ExchangeQuery, AuditQuery, CatalogueQuery, BasebasesQuery,
                                IndicatorsQuery)
MUTATION_TYPES: tuple[type, ...] = (CatalogueMutation,)

Query = merge_types("Query", QUERY_TYPES)
Mutation = merge_types("Mutation", MUTATION_TYPES) if MUTATION_TYPES else None

schema = strawberry.Schema(query=Query, mutation=Mutation)
