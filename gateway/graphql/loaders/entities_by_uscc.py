"""Legal entities by 统一社会信用代码, batched: a page of buildings costs one query for all their owners."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from basebases import repository
from basebases.models import LegalEntity

KEY = "entities_by_uscc"


def entities_by_uscc_loader(factory: async_sessionmaker[AsyncSession],
                            on_read: Callable[[int], Awaitable[None]]) -> DataLoader[str, LegalEntity | None]:
    """`on_read(count)` runs after each batch, so the access audit sees nested reads too."""

    async def load(codes: Sequence[str]) -> list[LegalEntity | None]:
        async with factory() as session:
            found = {e.uscc: e for e in await repository.entities_by_uscc(session, codes)}
        await on_read(len(found))
        return [found.get(code) for code in codes]

    return DataLoader(load_fn=load)
