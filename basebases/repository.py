"""Queries of the base databases, with the one place where the two back ends differ: spatial predicates.

PostgreSQL answers spatial questions in PostGIS (`&&` on the GiST index, then ST_Intersects / ST_Within /
ST_Covers). SQLite narrows by the indexed bbox columns and applies the same predicate in shapely (GEOS, as
PostGIS uses). Both order by the natural key, so pages and answers are the same on either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TypeVar

from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from basebases.geometry import STORAGE_SRID, Geometry
from basebases.models import (
    Building,
    EconomyIndicator,
    EconomyObservation,
    LegalEntity,
    Person,
    SpatialFeature,
    SpatialLayer,
)

M = TypeVar("M", Building, SpatialFeature)
SQLITE_BATCH_FACTOR = 4


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _prefix_range(column: InstrumentedAttribute[str], prefix: str) -> list[ColumnElement[bool]]:
    # A range on the indexed column rather than LIKE, which PostgreSQL only indexes with a special opclass.
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return [column >= prefix, column < upper]


async def person(session: AsyncSession, id_number: str) -> Person | None:
    found: Person | None = await session.scalar(select(Person).where(Person.id_number == id_number))
    return found


async def persons(session: AsyncSession, *, building_code: str | None, region_prefix: str | None,
                  after: str | None, limit: int) -> list[Person]:
    query = select(Person).order_by(Person.id_number).limit(limit)
    if building_code is not None:
        query = query.where(Person.building_code == building_code)
    if region_prefix is not None:
        query = query.where(*_prefix_range(Person.hukou_region_code, region_prefix))
    if after is not None:
        query = query.where(Person.id_number > after)
    return list(await session.scalars(query))


async def legal_entity(session: AsyncSession, uscc: str) -> LegalEntity | None:
    found: LegalEntity | None = await session.scalar(select(LegalEntity).where(LegalEntity.uscc == uscc))
    return found


async def legal_entities_by_name(session: AsyncSession, name: str, after: str | None,
                                 limit: int) -> list[LegalEntity]:
    query = (select(LegalEntity).where(LegalEntity.name.contains(name, autoescape=True))
             .order_by(LegalEntity.uscc).limit(limit))
    if after is not None:
        query = query.where(LegalEntity.uscc > after)
    return list(await session.scalars(query))


async def entities_by_uscc(session: AsyncSession, codes: Sequence[str]) -> list[LegalEntity]:
    return list(await session.scalars(select(LegalEntity).where(LegalEntity.uscc.in_(list(codes)))))


async def building(session: AsyncSession, code: str) -> Building | None:
    found: Building | None = await session.scalar(select(Building).where(Building.building_code == code))
    return found


async def buildings_by_code(session: AsyncSession, codes: Sequence[str]) -> list[Building]:
    return list(await session.scalars(select(Building).where(Building.building_code.in_(list(codes)))))


def _geom_of(model: type[Building] | type[SpatialFeature]) -> InstrumentedAttribute[BaseGeometry]:
    return model.footprint if model is Building else model.geom  # type: ignore[union-attr]


def _key_of(model: type[Building] | type[SpatialFeature]) -> InstrumentedAttribute[str]:
    return model.building_code if model is Building else model.feature_key  # type: ignore[union-attr]


def _window_query(session: AsyncSession, model: type[M], area: BaseGeometry, relation: str,
                  filters: Sequence[ColumnElement[bool]]) -> Select[M]:
    minx, miny, maxx, maxy = area.bounds
    geom = _geom_of(model)
    query = select(model).where(*filters).order_by(_key_of(model))
    if is_postgres(session):
        envelope = func.ST_MakeEnvelope(minx, miny, maxx, maxy, STORAGE_SRID)
        shape = bindparam(None, area, type_=Geometry())
        predicate = func.ST_Within if relation == "within" else func.ST_Intersects
        return query.where(geom.op("&&")(envelope), predicate(geom, shape))
    return query.where(model.maxx >= minx, model.minx <= maxx, model.maxy >= miny, model.miny <= maxy)


def _matches(geom: BaseGeometry, area: BaseGeometry, relation: str) -> bool:
    return bool(geom.within(area) if relation == "within" else geom.intersects(area))


async def in_area(session: AsyncSession, model: type[M], area: BaseGeometry, *, relation: str = "intersects",
                  after: str | None, limit: int, filters: Sequence[ColumnElement[bool]] = ()) -> list[M]:
    """Rows whose geometry intersects (or lies within) `area`, in natural-key order after the cursor."""
    key = _key_of(model)
    query = _window_query(session, model, area, relation, filters)
    if is_postgres(session):
        if after is not None:
            query = query.where(key > after)
        return list(await session.scalars(query.limit(limit)))
    found: list[M] = []
    batch = max(limit * SQLITE_BATCH_FACTOR, 200)
    while True:
        page = query if after is None else query.where(key > after)
        rows = list(await session.scalars(page.limit(batch)))
        for row in rows:
            if _matches(getattr(row, _geom_of(model).key), area, relation):
                found.append(row)
                if len(found) == limit:
                    return found
        if len(rows) < batch:
            return found
        after = getattr(rows[-1], key.key)


async def window_candidates(session: AsyncSession, model: type[M], area: BaseGeometry, cap: int) -> list[M]:
    """Rows whose bbox meets `area`'s bbox (the index step only), at most `cap`."""
    minx, miny, maxx, maxy = area.bounds
    geom = _geom_of(model)
    query = select(model).order_by(_key_of(model)).limit(cap)
    if is_postgres(session):
        query = query.where(geom.op("&&")(func.ST_MakeEnvelope(minx, miny, maxx, maxy, STORAGE_SRID)))
    else:
        query = query.where(model.maxx >= minx, model.minx <= maxx, model.maxy >= miny, model.miny <= maxy)
    return list(await session.scalars(query))


async def regions_covering(session: AsyncSession, point: BaseGeometry) -> list[SpatialFeature]:
    """Administrative divisions whose polygon covers the point (boundary included)."""
    x, y = point.x, point.y
    query = (select(SpatialFeature).where(SpatialFeature.layer_code == "admin_division")
             .order_by(SpatialFeature.feature_key))
    if is_postgres(session):
        shape = bindparam(None, point, type_=Geometry())
        query = query.where(SpatialFeature.geom.op("&&")(shape), func.ST_Covers(SpatialFeature.geom, shape))
        return list(await session.scalars(query))
    query = query.where(SpatialFeature.minx <= x, SpatialFeature.maxx >= x, SpatialFeature.miny <= y,
                        SpatialFeature.maxy >= y)
    return [f for f in await session.scalars(query) if f.geom.covers(point)]


async def layers(session: AsyncSession) -> list[SpatialLayer]:
    return list(await session.scalars(select(SpatialLayer).order_by(SpatialLayer.code)))


async def layer(session: AsyncSession, code: str) -> SpatialLayer | None:
    return await session.get(SpatialLayer, code)


async def indicators(session: AsyncSession) -> list[EconomyIndicator]:
    return list(await session.scalars(select(EconomyIndicator).order_by(EconomyIndicator.code)))


async def indicator(session: AsyncSession, code: str) -> EconomyIndicator | None:
    return await session.get(EconomyIndicator, code)


async def observations(session: AsyncSession, indicator_code: str, region_code: str, start: date,
                       end: date) -> list[EconomyObservation]:
    query = (select(EconomyObservation)
             .where(EconomyObservation.indicator_code == indicator_code,
                    EconomyObservation.region_code == region_code,
                    EconomyObservation.period_start >= start, EconomyObservation.period_start <= end)
             .order_by(EconomyObservation.period_start))
    return list(await session.scalars(query))


async def observation_span(session: AsyncSession, indicator_code: str,
                           region_code: str) -> tuple[date | None, date | None]:
    row = (await session.execute(
        select(func.min(EconomyObservation.period_start), func.max(EconomyObservation.period_start))
        .where(EconomyObservation.indicator_code == indicator_code,
               EconomyObservation.region_code == region_code))).one()
    return row[0], row[1]
