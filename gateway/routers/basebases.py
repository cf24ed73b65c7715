"""REST API of the five base databases: lookups, spatial queries and economic series (basebase:read).

Every read is recorded in the access audit log before its response leaves (AuditDep). Personal fields follow
the interim rule of basebases.access: the providing department reads its own base in full, any other holder
of basebase:read sees them masked. The audit `resource` is the base's catalogue code when the catalogue holds
the entry (the same code the exchange logs), else the base's key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from basebases import service
from basebases.access import check_direct_read
from basebases.schemas import (
    BuildingOut,
    FeatureCollectionOut,
    IndicatorOut,
    LayerOut,
    LegalEntityOut,
    NearBuildingOut,
    Page,
    PersonOut,
    RegionOut,
    SeriesOut,
)
from catalogue.models import CatalogueEntry
from gateway.audit import AuditDep
from gateway.auth import requires
from gateway.deps import SessionDep
from gateway.problems import PROBLEM_JSON
from security.permissions import Permission
from security.principals import Principal

router = APIRouter(prefix="/api/v1", tags=["base databases"])

Reader = Annotated[Principal, Depends(requires(Permission.basebase_read))]
Limit = Annotated[int, Query(ge=1, le=service.MAX_LIMIT, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=500, description="`next_cursor` of the previous page")]
Srid = Annotated[int, Query(description="CRS of the coordinates you send: 4490 (CGCS2000) or 4326 (WGS84)")]
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"content": {PROBLEM_JSON: {}}} for c in (401, 403, 404, 422, 503)}
GEOJSON = "application/geo+json"


async def audit_resource(session: AsyncSession, base: str) -> str:
    code = await session.scalar(select(CatalogueEntry.code).where(CatalogueEntry.source_key == base))
    return str(code) if code else base


def _fields(model: type[BaseModel]) -> list[str]:
    return [name for name in model.model_fields if name != "masked"]


# ------------------------------------------------------------------------------------------- population


@router.get("/population/persons/{id_number}", response_model=PersonOut, responses=_ERRORS,
            summary="A person by 公民身份号码 (the providing department; others read through a grant)")
async def person(id_number: Annotated[str, Path(min_length=15, max_length=18)], principal: Reader,
                 session: SessionDep, audit: AuditDep) -> Any:
    full = check_direct_read(principal, "population")
    found = await service.get_person(session, id_number, full=full)
    return await audit.json(found.model_dump(mode="json"), principal, action="population.person",
                            resource=await audit_resource(session, "population"), fields=_fields(PersonOut),
                            record_count=1, subject_ids=[id_number.strip().upper()],
                            filters={"id_number": "(subject)", "masked": not full})


@router.get("/population/persons", response_model=Page[PersonOut], responses=_ERRORS,
            summary="Persons of one building or of one region (户籍地 prefix); one of the two is required")
async def persons(principal: Reader, session: SessionDep, audit: AuditDep,
                  building_code: Annotated[str | None, Query(max_length=32)] = None,
                  region_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
                  cursor: Cursor = None,
                  limit: Annotated[int, Query(ge=1, le=service.MAX_PERSONS_LIMIT)] = service.DEFAULT_LIMIT) -> Any:
    full = check_direct_read(principal, "population")
    page = await service.list_persons(session, building_code=building_code, region_code=region_code,
                                      cursor=cursor, limit=limit, full=full)
    return await audit.json(page.model_dump(mode="json"), principal, action="population.persons",
                            resource=await audit_resource(session, "population"), fields=_fields(PersonOut),
                            record_count=len(page.items), subject_ids=page.subject_ids,
                            filters={"building_code": building_code, "region_code": region_code,
                                     "cursor": cursor, "limit": limit, "masked": not full})


# ------------------------------------------------------------------------------------------ legal entities


@router.get("/legal-entities/{uscc}", response_model=LegalEntityOut, responses=_ERRORS,
            summary="A legal entity by 统一社会信用代码")
async def legal_entity(uscc: Annotated[str, Path(min_length=18, max_length=18)], principal: Reader,
                       session: SessionDep, audit: AuditDep) -> Any:
    found = await service.get_entity(session, uscc)
    return await audit.json(found.model_dump(mode="json"), principal, action="legal_entities.entity",
                            resource=await audit_resource(session, "legal_entities"),
                            fields=_fields(LegalEntityOut), record_count=1, filters={"uscc": found.uscc})


@router.get("/legal-entities", response_model=Page[LegalEntityOut], responses=_ERRORS,
            summary="Legal entities whose name contains the given text")
async def legal_entities(principal: Reader, session: SessionDep, audit: AuditDep,
                         name: Annotated[str, Query(min_length=1, max_length=100)], cursor: Cursor = None,
                         limit: Limit = service.DEFAULT_LIMIT) -> Any:
    page = await service.entities_by_name(session, name, cursor, limit)
    return await audit.json(page.model_dump(mode="json"), principal, action="legal_entities.search",
                            resource=await audit_resource(session, "legal_entities"),
                            fields=_fields(LegalEntityOut), record_count=len(page.items),
                            filters={"name": name, "cursor": cursor, "limit": limit})


# ---------------------------------------------------------------------------------------------- buildings


@router.get("/buildings/nearest", response_model=list[NearBuildingOut], responses=_ERRORS,
            summary="The k buildings nearest to a point")
async def nearest_buildings(principal: Reader, session: SessionDep, audit: AuditDep,
                            lon: Annotated[float, Query(ge=-180, le=180)], lat: Annotated[float, Query(ge=-90, le=90)],
                            k: Annotated[int, Query(ge=1, le=service.MAX_NEAREST)] = 5, srid: Srid = 4490) -> Any:
    found = await service.nearest_buildings(session, service.parse_point(lon, lat, srid), k)
    return await audit.json([n.model_dump(mode="json") for n in found], principal, action="buildings.nearest",
                            resource=await audit_resource(session, "buildings"), fields=_fields(BuildingOut),
                            record_count=len(found), filters={"lon": lon, "lat": lat, "k": k, "srid": srid})


@router.get("/buildings/{building_code}", response_model=BuildingOut, responses=_ERRORS,
            summary="A building by its code")
async def building(building_code: Annotated[str, Path(max_length=32)], principal: Reader, session: SessionDep,
                   audit: AuditDep) -> Any:
    found = await service.get_building(session, building_code)
    return await audit.json(found.model_dump(mode="json"), principal, action="buildings.building",
                            resource=await audit_resource(session, "buildings"), fields=_fields(BuildingOut),
                            record_count=1, filters={"building_code": building_code})


@router.get("/buildings", response_model=Page[BuildingOut], responses=_ERRORS,
            summary="Buildings meeting a bbox (minx,miny,maxx,maxy in degrees)")
async def buildings(principal: Reader, session: SessionDep, audit: AuditDep,
                    bbox: Annotated[str, Query(max_length=200, description="minx,miny,maxx,maxy")],
                    relation: Annotated[str, Query(description="intersects or within")] = "intersects",
                    srid: Srid = 4490, cursor: Cursor = None, limit: Limit = service.DEFAULT_LIMIT) -> Any:
    area = service.parse_bbox(bbox, srid)
    page = await service.buildings_in_area(session, area, relation=relation, cursor=cursor, limit=limit)
    return await audit.json(page.model_dump(mode="json"), principal, action="buildings.bbox",
                            resource=await audit_resource(session, "buildings"), fields=_fields(BuildingOut),
                            record_count=len(page.items),
                            filters={"bbox": bbox, "relation": relation, "srid": srid, "cursor": cursor})


class AreaQuery(BaseModel):
    geometry: dict[str, Any] = Field(description="A GeoJSON Polygon or MultiPolygon")
    srid: int = Field(4326, description="CRS of the geometry: 4326 (RFC 7946 default) or 4490")
    relation: str = Field("intersects", description="intersects or within")
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(service.DEFAULT_LIMIT, ge=1, le=service.MAX_LIMIT)


@router.post("/buildings/search", response_model=Page[BuildingOut], responses=_ERRORS,
             summary="Buildings meeting (or within) a polygon; a read, so nothing is changed")
async def buildings_in_polygon(body: AreaQuery, principal: Reader, session: SessionDep, audit: AuditDep) -> Any:
    area = service.parse_area(body.geometry, body.srid)
    page = await service.buildings_in_area(session, area, relation=body.relation, cursor=body.cursor,
                                           limit=body.limit)
    return await audit.json(page.model_dump(mode="json"), principal, action="buildings.polygon",
                            resource=await audit_resource(session, "buildings"), fields=_fields(BuildingOut),
                            record_count=len(page.items),
                            filters={"relation": body.relation, "srid": body.srid, "bounds": list(area.bounds)})


# ------------------------------------------------------------------------------------------------ spatial


@router.get("/regions/at", response_model=RegionOut, responses=_ERRORS,
            summary="The administrative division (GB/T 2260) containing a point")
async def region_at(principal: Reader, session: SessionDep, audit: AuditDep,
                    lon: Annotated[float, Query(ge=-180, le=180)], lat: Annotated[float, Query(ge=-90, le=90)],
                    srid: Srid = 4490) -> Any:
    found = await service.region_at(session, service.parse_point(lon, lat, srid))
    return await audit.json(found.model_dump(mode="json"), principal, action="spatial.region_at",
                            resource=await audit_resource(session, "spatial_features"),
                            fields=list(RegionOut.model_fields), record_count=1,
                            filters={"lon": lon, "lat": lat, "srid": srid})


@router.get("/spatial/layers", response_model=list[LayerOut], responses=_ERRORS,
            summary="The layers of the spatial base database")
async def layers(principal: Reader, session: SessionDep, audit: AuditDep) -> Any:
    found = await service.list_layers(session)
    return await audit.json([layer.model_dump(mode="json") for layer in found], principal, action="spatial.layers",
                            resource=await audit_resource(session, "spatial_features"),
                            fields=list(LayerOut.model_fields), record_count=len(found))


@router.get("/spatial/layers/{layer_code}/features", response_model=FeatureCollectionOut, responses=_ERRORS,
            summary="Features of a layer meeting a bbox, as a GeoJSON FeatureCollection (application/geo+json)")
async def layer_features(layer_code: Annotated[str, Path(max_length=30)], principal: Reader,
                         session: SessionDep, audit: AuditDep,
                         bbox: Annotated[str | None, Query(max_length=200, description="minx,miny,maxx,maxy")]
                         = None, srid: Srid = 4490, cursor: Cursor = None,
                         limit: Limit = service.DEFAULT_LIMIT) -> Any:
    area = service.parse_bbox(bbox, srid) if bbox else None
    collection = await service.features(session, layer_code, area, cursor=cursor, limit=limit)
    sent: Response = await audit.json(collection.model_dump(mode="json"), principal, action="spatial.features",
                                          resource=await audit_resource(session, "spatial_features"),
                                          fields=["geometry", "properties"], record_count=len(collection.features),
                                          filters={"layer": layer_code, "bbox": bbox, "srid": srid,
                                                   "cursor": cursor})
    sent.media_type = GEOJSON
    sent.headers["content-type"] = GEOJSON
    return sent


# ------------------------------------------------------------------------------------------------ economy


@router.get("/economy/indicators", response_model=list[IndicatorOut], responses=_ERRORS,
            summary="The macro-economic indicators and their frequency")
async def indicators(principal: Reader, session: SessionDep, audit: AuditDep) -> Any:
    found = await service.list_indicators(session)
    return await audit.json([i.model_dump(mode="json") for i in found], principal, action="economy.indicators",
                            resource=await audit_resource(session, "economy_observations"),
                            fields=list(IndicatorOut.model_fields), record_count=len(found))


@router.get("/economy/series", response_model=SeriesOut, responses=_ERRORS,
            summary="One indicator for one region over a period range, optionally aggregated to a coarser "
                    "frequency, with a completeness report")
async def economy_series(principal: Reader, session: SessionDep, audit: AuditDep,
                         indicator: Annotated[str, Query(max_length=40)],
                         region_code: Annotated[str, Query(pattern=r"^\d{6}$")],
                         start: Annotated[str | None, Query(max_length=20, description="e.g. 2020, 2020-Q1, "
                                                                                          "2020-03")] = None,
                         end: Annotated[str | None, Query(max_length=20)] = None,
                         frequency: Annotated[str | None, Query(description="month, quarter or year")] = None,
                         ) -> Any:
    found = await service.series(session, indicator, region_code, start=start, end=end, frequency=frequency)
    return await audit.json(found.model_dump(mode="json"), principal, action="economy.series",
                            resource=await audit_resource(session, "economy_observations"),
                            fields=["period", "value", "status"], record_count=len(found.points),
                            filters={"indicator": indicator, "region_code": region_code, "start": start,
                                     "end": end, "frequency": frequency})
