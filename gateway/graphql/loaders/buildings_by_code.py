"""Buildings by code, batched: a page of persons or entities costs one query for all their buildings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from basebases import repository
from basebases.models import Building

KEY = "buildings_by_code"


def buildings_by_code_loader(factory: async_sessionmaker[AsyncSession],
                             on_read: Callable[[int], Awaitable[None]]) -> DataLoader[str, Building | None]:
    """`on_read(count)` runs after each batch, so the access audit sees nested reads too."""

    async def load(codes: Sequence[str]) -> list[Building | None]:
        async with factory() as session:
            found = {b.building_code: b for b in await repository.buildings_by_code(session, codes)}
        await on_read(len(found))
        return [found.get(code) for code in codes]

    return DataLoader(load_fn=load)
