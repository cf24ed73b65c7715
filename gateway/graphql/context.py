"""The typed GraphQL context: one per request, holding the session factory and (later) principal and loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.fastapi import BaseContext

from cpip.settings import Settings
from security.principals import Principal, anonymous


@dataclass
class Context(BaseContext):
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    # Resolved by the router's context getter exactly as REST does; anonymous unless a caller proves otherwise.
    principal: Principal = field(default_factory=anonymous)
    loaders: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()
