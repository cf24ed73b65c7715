"""The typed GraphQL context: one per request, holding the session factory and (later) principal and loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.fastapi import BaseContext

from cpip.settings import Settings


@dataclass
class Context(BaseContext):
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    loaders: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()
