"""The Strawberry schema root; each domain adds its own types and fields in its own module."""

from __future__ import annotations

import strawberry

from cpip import __version__


@strawberry.type(description="Facts about this platform instance")
class PlatformInfo:
    version: str
    environment: str


@strawberry.type
class Query:
    @strawberry.field(description="Version and environment; public, returns no data", directives=[])
    def platform(self, info: strawberry.Info) -> PlatformInfo:
        return PlatformInfo(version=__version__, environment=str(info.context.settings.env))


schema = strawberry.Schema(query=Query)
