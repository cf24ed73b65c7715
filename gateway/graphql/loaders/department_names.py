"""Department names by code, batched: a page of catalogue entries costs one query for their providers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from catalogue.models import Department

KEY = "department_names"


def department_names_loader(factory: async_sessionmaker[AsyncSession]) -> DataLoader[str, str | None]:
    async def load(codes: Sequence[str]) -> list[str | None]:
        async with factory() as session:
            rows = await session.execute(select(Department.code, Department.name)
                                         .where(Department.code.in_(list(codes))))
            names = {code: name for code, name in rows.all()}
        return [names.get(code) for code in codes]

    return DataLoader(load_fn=load)
