"""GraphQL for the five base databases: the same services, masking and audit as REST.

Root fields need basebase:read. Each root field writes one access-audit event before it returns; nested
buildings and owners come through dataloaders (one query per kind per request), and each loader batch is
audited as well. Personal fields follow the interim rule of basebases.access.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission
from strawberry.scalars import JSON

from basebases import service
from basebases.access import check_direct_read
from basebases.models import Building, LegalEntity
from basebases.schemas import BuildingOut, LegalEntityOut, PersonOut, SeriesOut
from cpip.db import async_transaction
from cpip.errors import ProblemError
from gateway.audit import AuditRecorder, get_audit
from gateway.graphql.context import Context
from gateway.graphql.loaders import buildings_by_code, entities_by_uscc
from gateway.graphql.permissions import PermissionCheck
from gateway.graphql.problems import graphql_error
from gateway.routers.basebases import audit_resource
from security.audit.events import Api, Outcome
from security.permissions import Permission

Info = strawberry.Info[Context, None]
T = TypeVar("T")


def _audit(info: Info) -> AuditRecorder:
    request = info.context.request
    if not isinstance(request, Request):  # served over HTTP only (no subscriptions)
        raise StrawberryGraphQLError("base databases are served over HTTP only", extensions={"code": "bad-request"})
    return get_audit(request)


class AuditedBasebaseRead(PermissionCheck):
    """basebase:read; a refusal is written to the access audit log before the error is returned."""

    permission = Permission.basebase_read

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:  # type: ignore[override]
        try:
            return super().has_permission(source, info, **kwargs)
        except StrawberryGraphQLError as refused:
            principal = info.context.principal
            await _failed(info, "basebases", {"permission": [self.permission.value]}, outcome=Outcome.denied,
                          status=403 if principal.is_authenticated else 401, detail=str(refused))
            raise


READ: list[type[BasePermission]] = [AuditedBasebaseRead]


async def _failed(info: Info, base: str, filters: dict[str, Any], *, outcome: Outcome, status: int,
                  detail: str) -> None:
    try:
        await _audit(info).record(info.context.principal, action=f"graphql {info.field_name}", resource=base,
                                  api=Api.graphql, outcome=outcome, status_code=status, filters=filters,
                                  detail=detail)
    except ProblemError as unavailable:
        raise graphql_error(unavailable) from unavailable


async def _direct_read(info: Info, base: str, filters: dict[str, Any]) -> bool:
    try:
        return check_direct_read(info.context.principal, base)
    except ProblemError as refused:
        await _failed(info, base, filters, outcome=Outcome.denied, status=refused.status,
                      detail=f"{refused.type_uri()}: {refused.detail}")
        raise graphql_error(refused) from refused


@asynccontextmanager
async def _reading(info: Info, base: str, filters: dict[str, Any]) -> AsyncIterator[AsyncSession]:
    """A read transaction; a failure is recorded in the audit log and returned as a GraphQL error."""
    try:
        async with async_transaction(info.context.sessionmaker) as session:
            yield session
    except ProblemError as problem:
        await _failed(info, base, filters, outcome=Outcome.error, status=problem.status,
                      detail=f"{problem.type_uri()}: {problem.detail}")
        raise graphql_error(problem) from problem


async def _record(info: Info, session: AsyncSession, base: str, *, fields: Sequence[str], count: int,
                  filters: dict[str, Any], subject_ids: Sequence[str] = ()) -> None:
    try:
        await _audit(info).record(info.context.principal, action=f"graphql {info.field_name}",
                                  resource=await audit_resource(session, base), api=Api.graphql,
                                  fields=fields, record_count=count, subject_ids=subject_ids, filters=filters)
    except ProblemError as problem:
        raise graphql_error(problem) from problem


def _loader(info: Info, key: str, make: Callable[..., Any], base: str) -> Any:
    loader = info.context.loaders.get(key)
    if loader is None:
        async def on_read(count: int) -> None:
            async with info.context.sessionmaker() as session:
                resource = await audit_resource(session, base)
            await _audit(info).record(info.context.principal, action=f"graphql {key}", resource=resource,
                                      api=Api.graphql, record_count=count)

        loader = info.context.loaders[key] = make(info.context.sessionmaker, on_read)
    return loader


@strawberry.type(description="法人: a legal entity")
class LegalEntityType:
    uscc: str
    name: str
    entity_type: str
    entity_type_label: str | None
    legal_representative: str | None
    registered_capital: float | None
    currency: str | None
    established_on: str | None
    industry_code: str | None
    status: str
    registered_address: str | None
    building_code: str | None
    region_code: str

    @strawberry.field(description="The building of its registered address")
    async def building(self, info: Info) -> BuildingType | None:
        return await _building(info, self.building_code)


@strawberry.type(description="建筑物: a building; footprint is a GeoJSON geometry (WGS84)")
class BuildingType:
    building_code: str
    address: str | None
    footprint: JSON
    bbox: list[float]
    floors_above: int | None
    floors_below: int | None
    height_m: float | None
    use: str | None
    structure: str | None
    year_built: int | None
    region_code: str
    parcel_code: str | None
    owner_uscc: str | None

    @strawberry.field(description="The legal entity owning it")
    async def owner_entity(self, info: Info) -> LegalEntityType | None:
        if self.owner_uscc is None:
            return None
        loader = _loader(info, entities_by_uscc.KEY, entities_by_uscc.entities_by_uscc_loader, "legal_entities")
        found: LegalEntity | None = await loader.load(self.owner_uscc)
        return _entity(service.entity_out(found)) if found is not None else None


@strawberry.type(description="人口: a person (personal fields masked unless you provide this base database)")
class PersonType:
    id_number: str
    name: str
    sex: str
    birth_date: str
    ethnicity: str | None
    hukou_region_code: str
    residence_address: str | None
    building_code: str | None
    phone: str | None
    status: str
    updated_at: datetime
    masked: bool

    @strawberry.field(description="The building the person lives in")
    async def building(self, info: Info) -> BuildingType | None:
        return await _building(info, self.building_code)


async def _building(info: Info, code: str | None) -> BuildingType | None:
    if code is None:
        return None
    loader = _loader(info, buildings_by_code.KEY, buildings_by_code.buildings_by_code_loader, "buildings")
    found: Building | None = await loader.load(code)
    return _building_type(service.building_out(found)) if found is not None else None


def _person(out: PersonOut) -> PersonType:
    return PersonType(**out.model_dump())


def _entity(out: LegalEntityOut) -> LegalEntityType:
    values = out.model_dump(exclude={"updated_at"})
    values["established_on"] = out.established_on.isoformat() if out.established_on else None
    return LegalEntityType(**values)


def _building_type(out: BuildingOut) -> BuildingType:
    return BuildingType(**out.model_dump(exclude={"updated_at"}))


@strawberry.type
class PersonPage:
    items: list[PersonType]
    next_cursor: str | None


@strawberry.type
class LegalEntityPage:
    items: list[LegalEntityType]
    next_cursor: str | None


@strawberry.type
class BuildingPage:
    items: list[BuildingType]
    next_cursor: str | None


@strawberry.type
class NearBuilding:
    distance_m: float
    building: BuildingType


@strawberry.type
class RegionLevelType:
    code: str
    name: str
    level: str


@strawberry.type(description="A GB/T 2260 administrative division and its parents")
class RegionType:
    code: str
    name: str
    level: str
    path: list[RegionLevelType]


@strawberry.type
class IndicatorType:
    code: str
    name: str
    unit: str
    frequency: str
    aggregation: str
    description: str | None


@strawberry.type
class SeriesPointType:
    period: str
    value: float | None
    status: str
    expected: int
    available: int
    missing: list[str]


@strawberry.type
class CompletenessType:
    expected_periods: int
    present_periods: int
    missing_periods: list[str]
    complete: bool


@strawberry.type
class SeriesType:
    indicator: IndicatorType
    region_code: str
    frequency: str
    start: str
    end: str
    points: list[SeriesPointType]
    completeness: CompletenessType


def _series(out: SeriesOut) -> SeriesType:
    return SeriesType(indicator=IndicatorType(**out.indicator.model_dump()), region_code=out.region_code,
                      frequency=out.frequency, start=out.start, end=out.end,
                      points=[SeriesPointType(**p.model_dump()) for p in out.points],
                      completeness=CompletenessType(**out.completeness.model_dump()))


PERSON_FIELDS = [f for f in PersonOut.model_fields if f != "masked"]
BUILDING_FIELDS = list(BuildingOut.model_fields)
ENTITY_FIELDS = list(LegalEntityOut.model_fields)


async def _buildings_page(info: Info, area: Any, relation: str, first: int, after: str | None,
                          filters: dict[str, Any]) -> BuildingPage:
    async with _reading(info, "buildings", filters) as session:
        page = await service.buildings_in_area(session, area, relation=relation, cursor=after, limit=first)
        await _record(info, session, "buildings", fields=BUILDING_FIELDS, count=len(page.items), filters=filters)
    return BuildingPage(items=[_building_type(b) for b in page.items], next_cursor=page.next_cursor)


async def _parsed(info: Info, base: str, filters: dict[str, Any], parse: Callable[[], T]) -> T:
    """Input checks that fail before any read, reported (and audited) like every other failure."""
    try:
        return parse()
    except ProblemError as problem:
        await _failed(info, base, filters, outcome=Outcome.error, status=problem.status,
                      detail=f"{problem.type_uri()}: {problem.detail}")
        raise graphql_error(problem) from problem


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise service.invalid("geometry", "a GeoJSON Polygon or MultiPolygon object", "geometry_unreadable")
    return value


@strawberry.type
class BasebasesQuery:
    @strawberry.field(permission_classes=READ, description="A person by 公民身份号码")
    async def person(self, info: Info, id_number: str) -> PersonType:
        full = await _direct_read(info, "population", {"id_number": "(subject)"})
        async with _reading(info, "population", {"id_number": "(subject)"}) as session:
            found = await service.get_person(session, id_number, full=full)
            await _record(info, session, "population", fields=PERSON_FIELDS, count=1,
                          subject_ids=[id_number.strip().upper()], filters={"masked": not full})
        return _person(found)

    @strawberry.field(permission_classes=READ, description="Persons of one building or one region (户籍地)")
    async def persons(self, info: Info, building_code: str | None = None, region_code: str | None = None,
                      first: int = service.DEFAULT_LIMIT, after: str | None = None) -> PersonPage:
        filters = {"building_code": building_code, "region_code": region_code, "after": after, "first": first}
        full = await _direct_read(info, "population", filters)
        async with _reading(info, "population", filters) as session:
            page = await service.list_persons(session, building_code=building_code, region_code=region_code,
                                              cursor=after, limit=first, full=full)
            await _record(info, session, "population", fields=PERSON_FIELDS, count=len(page.items),
                          subject_ids=page.subject_ids, filters={**filters, "masked": not full})
        return PersonPage(items=[_person(p) for p in page.items], next_cursor=page.next_cursor)

    @strawberry.field(permission_classes=READ, description="A legal entity by 统一社会信用代码")
    async def legal_entity(self, info: Info, uscc: str) -> LegalEntityType:
        async with _reading(info, "legal_entities", {"uscc": uscc}) as session:
            found = await service.get_entity(session, uscc)
            await _record(info, session, "legal_entities", fields=ENTITY_FIELDS, count=1, filters={"uscc": uscc})
        return _entity(found)

    @strawberry.field(permission_classes=READ, description="Legal entities whose name contains the text")
    async def legal_entities(self, info: Info, name: str, first: int = service.DEFAULT_LIMIT,
                             after: str | None = None) -> LegalEntityPage:
        filters = {"name": name, "after": after, "first": first}
        async with _reading(info, "legal_entities", filters) as session:
            page = await service.entities_by_name(session, name, after, first)
            await _record(info, session, "legal_entities", fields=ENTITY_FIELDS, count=len(page.items),
                          filters=filters)
        return LegalEntityPage(items=[_entity(e) for e in page.items], next_cursor=page.next_cursor)

    @strawberry.field(permission_classes=READ, description="A building by its code")
    async def building(self, info: Info, building_code: str) -> BuildingType:
        async with _reading(info, "buildings", {"building_code": building_code}) as session:
            found = await service.get_building(session, building_code)
            await _record(info, session, "buildings", fields=BUILDING_FIELDS, count=1,
                          filters={"building_code": building_code})
        return _building_type(found)

    @strawberry.field(permission_classes=READ, description="Buildings meeting a bbox [minx, miny, maxx, maxy]")
    async def buildings(self, info: Info, bbox: list[float], srid: int = 4490, relation: str = "intersects",
                        first: int = service.DEFAULT_LIMIT, after: str | None = None) -> BuildingPage:
        filters = {"bbox": bbox, "srid": srid, "relation": relation, "after": after}
        area = await _parsed(info, "buildings", filters, lambda: service.parse_bbox(bbox, srid))
        return await _buildings_page(info, area, relation, first, after, filters)

    @strawberry.field(permission_classes=READ, description="Buildings meeting (or within) a GeoJSON polygon")
    async def buildings_in_polygon(self, info: Info, geometry: JSON, srid: int = 4326, relation: str = "intersects",
                                   first: int = service.DEFAULT_LIMIT, after: str | None = None) -> BuildingPage:
        filters = {"srid": srid, "relation": relation, "after": after}
        area = await _parsed(info, "buildings", filters, lambda: service.parse_area(_object(geometry), srid))
        return await _buildings_page(info, area, relation, first, after, filters)

    @strawberry.field(permission_classes=READ, description="The k buildings nearest to a point")
    async def nearest_buildings(self, info: Info, lon: float, lat: float, k: int = 5,
                                srid: int = 4490) -> list[NearBuilding]:
        filters = {"lon": lon, "lat": lat, "k": k, "srid": srid}
        async with _reading(info, "buildings", filters) as session:
            found = await service.nearest_buildings(session, service.parse_point(lon, lat, srid), k)
            await _record(info, session, "buildings", fields=BUILDING_FIELDS, count=len(found), filters=filters)
        return [NearBuilding(distance_m=n.distance_m, building=_building_type(n.building)) for n in found]

    @strawberry.field(permission_classes=READ, description="The administrative division containing a point")
    async def region_at(self, info: Info, lon: float, lat: float, srid: int = 4490) -> RegionType:
        filters = {"lon": lon, "lat": lat, "srid": srid}
        async with _reading(info, "spatial_features", filters) as session:
            found = await service.region_at(session, service.parse_point(lon, lat, srid))
            await _record(info, session, "spatial_features", fields=["code", "name", "level", "path"], count=1,
                          filters=filters)
        return RegionType(code=found.code, name=found.name, level=found.level,
                          path=[RegionLevelType(**p.model_dump()) for p in found.path])

    @strawberry.field(permission_classes=READ,
                      description="Features of a layer meeting a bbox: a GeoJSON FeatureCollection with next_cursor")
    async def spatial_features(self, info: Info, layer: str, bbox: list[float] | None = None, srid: int = 4490,
                               first: int = service.DEFAULT_LIMIT, after: str | None = None) -> JSON:
        filters = {"layer": layer, "bbox": bbox, "srid": srid, "after": after}
        async with _reading(info, "spatial_features", filters) as session:
            area = service.parse_bbox(bbox, srid) if bbox is not None else None
            collection = await service.features(session, layer, area, cursor=after, limit=first)
            await _record(info, session, "spatial_features", fields=["geometry", "properties"],
                          count=len(collection.features), filters=filters)
        return JSON(collection.model_dump(mode="json"))

    @strawberry.field(permission_classes=READ, description="Macro-economic indicators")
    async def economy_indicators(self, info: Info) -> list[IndicatorType]:
        async with _reading(info, "economy_observations", {}) as session:
            found = await service.list_indicators(session)
            await _record(info, session, "economy_observations", fields=["code", "name", "unit", "frequency"],
                          count=len(found), filters={})
        return [IndicatorType(**i.model_dump()) for i in found]

    @strawberry.field(permission_classes=READ,
                      description="One indicator for one region over a period range, optionally aggregated to a "
                                  "coarser frequency, with the missing periods")
    async def economy_series(self, info: Info, indicator: str, region_code: str, start: str | None = None,
                             end: str | None = None, frequency: str | None = None) -> SeriesType:
        filters = {"indicator": indicator, "region_code": region_code, "start": start, "end": end,
                   "frequency": frequency}
        async with _reading(info, "economy_observations", filters) as session:
            found = await service.series(session, indicator, region_code, start=start, end=end,
                                         frequency=frequency)
            await _record(info, session, "economy_observations", fields=["period", "value", "status"],
                          count=len(found.points), filters=filters)
        return _series(found)
