"""Read services of the base databases: input checks, masking, cursors, spatial answers, economic series.

Who may see what is decided by the caller (gateway) and passed in as `full`: True shows personal fields in
the clear, False masks every field of sensitivity 3 or more with its 信息项 masking rule. Services never
commit; they only read.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy.ext.asyncio import AsyncSession

from basebases import codes, repository
from basebases.economy import ORDER, Period, PeriodError, Point, aggregate, missing_periods, parse_period
from basebases.geometry import METRES_PER_DEGREE, GeometryError, as_geojson, checked, local_distance_degrees
from basebases.geometry import to_storage as geometry_to_storage
from basebases.models import Building, EconomyIndicator, LegalEntity, Person, SpatialFeature, table_of
from basebases.schemas import (
    BuildingOut,
    Completeness,
    FeatureCollectionOut,
    FeatureOut,
    IndicatorOut,
    LayerOut,
    LegalEntityOut,
    NearBuildingOut,
    Page,
    PersonOut,
    RegionLevel,
    RegionOut,
    SeriesOut,
    SeriesPoint,
)
from cpip.errors import NotFound, ValidationFailed
from security.masking import MaskingRule, mask

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_PERSONS_LIMIT = 100
MAX_NEAREST = 50
# Nearest-neighbour search widens its window from ~200 m until it holds k buildings, up to ~50 km.
NEAREST_START_DEGREES = 0.002
NEAREST_MAX_DEGREES = 0.5
NEAREST_CANDIDATES = 20_000


class RecordNotFound(NotFound):
    slug, title = "basebase-record-not-found", "No such record in the base database"


def invalid(field: str, message: str, rule: str = "invalid") -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", errors=[{"field": field, "message": message, "rule": rule}])


def check_limit(limit: int, maximum: int = MAX_LIMIT) -> int:
    if not 1 <= limit <= maximum:
        raise invalid("limit", f"must be between 1 and {maximum}", "range")
    return limit


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None or cursor == "":
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = data["after"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise invalid("cursor", "not a cursor this API returned", "cursor") from exc
    if not isinstance(after, str):
        raise invalid("cursor", "not a cursor this API returned", "cursor")
    return after


def _page(items: list[Any], keys: list[str], limit: int) -> tuple[list[Any], str | None]:
    """Items were fetched with limit + 1: the extra one only says whether there is a next page."""
    if len(items) > limit:
        return items[:limit], encode_cursor(keys[limit - 1])
    return items, None


# ------------------------------------------------------------------------------------------------ masking


def _masked(model: type[Any], row: Any, full: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in table_of(model).columns:
        info = column.info
        if "label" not in info:
            continue
        value = getattr(row, column.name)
        rule: MaskingRule | None = info.get("masking")
        if not full and value is not None and info.get("sensitivity", 1) >= 3:
            value = mask(value.isoformat() if hasattr(value, "isoformat") else str(value),
                         rule or MaskingRule.generic)
        values[column.name] = value
    return values


def person_out(row: Person, full: bool) -> PersonOut:
    values = _masked(Person, row, full)
    birth = values["birth_date"]
    values["birth_date"] = birth.isoformat() if hasattr(birth, "isoformat") else birth
    return PersonOut(**{k: values[k] for k in PersonOut.model_fields if k in values}, masked=not full)


PERSON_FIELDS = [name for name in PersonOut.model_fields if name != "masked"]


def entity_out(row: LegalEntity, full: bool = True) -> LegalEntityOut:
    values = _masked(LegalEntity, row, full)
    values["entity_type_label"] = codes.ENTITY_TYPES.labels.get(row.entity_type)
    return LegalEntityOut(**{k: values.get(k) for k in LegalEntityOut.model_fields})


def building_out(row: Building) -> BuildingOut:
    return BuildingOut(
        building_code=row.building_code, address=row.address, footprint=as_geojson(row.footprint),
        bbox=[row.minx, row.miny, row.maxx, row.maxy], floors_above=row.floors_above,
        floors_below=row.floors_below, height_m=row.height_m, use=row.use, structure=row.structure,
        year_built=row.year_built, region_code=row.region_code, parcel_code=row.parcel_code,
        owner_uscc=row.owner_uscc, updated_at=row.updated_at)


def feature_out(row: SpatialFeature) -> FeatureOut:
    return FeatureOut(id=row.feature_key, geometry=as_geojson(row.geom), properties={
        "layer_code": row.layer_code, "feature_key": row.feature_key, "name": row.name,
        "region_code": row.region_code, **(row.attributes or {})})


# ------------------------------------------------------------------------------------------- population


async def get_person(session: AsyncSession, id_number: str, *, full: bool) -> PersonOut:
    number = id_number.strip().upper()
    if len(number) != 18:
        raise invalid("id_number", "a 公民身份号码 has 18 characters", "id_number_format")
    row = await repository.person(session, number)
    if row is None:
        raise RecordNotFound("no person with this 公民身份号码 in the population base database")
    return person_out(row, full)


def region_prefix_of(code: str, field: str = "region_code") -> str:
    if not codes.region_exists(code):
        raise invalid(field, f"{code!r} is not a GB/T 2260 region code", "region_unknown")
    return codes.region_prefix(code)


async def list_persons(session: AsyncSession, *, building_code: str | None, region_code: str | None,
                       cursor: str | None, limit: int, full: bool) -> Page[PersonOut]:
    """Persons of one building or one region (户籍地, any level): a list of everyone is not offered."""
    check_limit(limit, MAX_PERSONS_LIMIT)
    if (building_code is None) == (region_code is None):
        raise invalid("building_code", "give exactly one of building_code or region_code", "filter_required")
    prefix = region_prefix_of(region_code) if region_code is not None else None
    rows = await repository.persons(session, building_code=building_code, region_prefix=prefix,
                                    after=decode_cursor(cursor), limit=limit + 1)
    items, next_cursor = _page(rows, [r.id_number for r in rows], limit)
    page = Page[PersonOut](items=[person_out(r, full) for r in items], next_cursor=next_cursor, limit=limit)
    page.subject_ids.extend(r.id_number for r in items)
    return page


# -------------------------------------------------------------------------------------------- entities


async def get_entity(session: AsyncSession, uscc: str) -> LegalEntityOut:
    row = await repository.legal_entity(session, uscc.strip().upper())
    if row is None:
        raise RecordNotFound("no legal entity with this 统一社会信用代码")
    return entity_out(row)


async def entities_by_name(session: AsyncSession, name: str, cursor: str | None,
                           limit: int) -> Page[LegalEntityOut]:
    check_limit(limit)
    term = name.strip()
    if len(term) < 2:
        raise invalid("name", "search with at least two characters of the name", "too_short")
    rows = await repository.legal_entities_by_name(session, term, decode_cursor(cursor), limit + 1)
    items, next_cursor = _page(rows, [r.uscc for r in rows], limit)
    return Page[LegalEntityOut](items=[entity_out(r) for r in items], next_cursor=next_cursor, limit=limit)


# ------------------------------------------------------------------------------------------ spatial input


def parse_srid(srid: int, field: str = "srid") -> int:
    if srid not in (4490, 4326):
        raise invalid(field, "use 4490 (CGCS2000) or 4326 (WGS84)", "crs")
    return srid


def parse_bbox(text: str | Sequence[float], srid: int = 4490, field: str = "bbox") -> BaseGeometry:
    """`minx,miny,maxx,maxy` in degrees, as a polygon in storage coordinates."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError as exc:
        raise invalid(field, "four numbers: min longitude, min latitude, max longitude, max latitude",
                      "bbox_format") from exc
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise invalid(field, "coordinates must be finite numbers", "bbox_format")
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise invalid(field, "needs min < max, longitudes within ±180 and latitudes within ±90", "bbox_range")
    return geometry_to_storage(shapely.box(minx, miny, maxx, maxy), parse_srid(srid))


def parse_point(lon: float, lat: float, srid: int = 4490) -> BaseGeometry:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise invalid("lon", "longitude within ±180 and latitude within ±90", "coordinates_range")
    return geometry_to_storage(shapely.Point(lon, lat), parse_srid(srid))


def parse_area(geometry: dict[str, Any], srid: int = 4326, field: str = "geometry") -> BaseGeometry:
    from basebases.geometry import parse_geojson_geometry

    try:
        return checked(parse_geojson_geometry(geometry), kinds=("Polygon", "MultiPolygon"), srid=parse_srid(srid))
    except GeometryError as exc:
        raise invalid(field, exc.message, exc.rule) from exc


def parse_relation(relation: str) -> str:
    if relation not in ("intersects", "within"):
        raise invalid("relation", "intersects or within", "not_in_list")
    return relation


# -------------------------------------------------------------------------------------------- buildings


async def get_building(session: AsyncSession, code: str) -> BuildingOut:
    row = await repository.building(session, code)
    if row is None:
        raise RecordNotFound("no building with this code in the buildings base database")
    return building_out(row)


async def buildings_in_area(session: AsyncSession, area: BaseGeometry, *, relation: str = "intersects",
                            cursor: str | None, limit: int) -> Page[BuildingOut]:
    check_limit(limit)
    rows = await repository.in_area(session, Building, area, relation=parse_relation(relation),
                                    after=decode_cursor(cursor), limit=limit + 1)
    items, next_cursor = _page(rows, [r.building_code for r in rows], limit)
    return Page[BuildingOut](items=[building_out(r) for r in items], next_cursor=next_cursor, limit=limit)


async def nearest_buildings(session: AsyncSession, point: BaseGeometry, k: int) -> list[NearBuildingOut]:
    """The k buildings nearest to the point (ties by code), widening a window until k are surely found."""
    check_limit(k, MAX_NEAREST)
    x, y = point.x, point.y
    radius = NEAREST_START_DEGREES
    while True:
        scale = math.cos(math.radians(y))
        # A footprint within `radius` (scaled degrees) of the point must meet this window.
        window = shapely.box(x - radius / scale, y - radius, x + radius / scale, y + radius)
        rows = await repository.window_candidates(session, Building, window, NEAREST_CANDIDATES)
        ranked = sorted(((local_distance_degrees(r.footprint, x, y), r.building_code, r) for r in rows),
                        key=lambda t: (t[0], t[1]))
        close = [t for t in ranked if t[0] <= radius]
        if len(close) >= k or radius >= NEAREST_MAX_DEGREES or len(rows) >= NEAREST_CANDIDATES:
            chosen = close[:k] if len(close) >= k else ranked[:k]
            return [NearBuildingOut(distance_m=round(d * METRES_PER_DEGREE, 2), building=building_out(r))
                    for d, _code, r in chosen]
        radius *= 2


# ---------------------------------------------------------------------------------------------- regions


async def region_at(session: AsyncSession, point: BaseGeometry) -> RegionOut:
    found = await repository.regions_covering(session, point)
    if not found:
        raise RecordNotFound("no administrative division of the spatial base database covers this point")
    # The most specific division wins (a county inside its city); on a shared boundary, the lower code.
    best = min(found, key=lambda f: (-len(codes.region_prefix(f.feature_key)), f.feature_key))
    path = codes.region_path(best.feature_key)
    known = codes.regions().get(best.feature_key)
    return RegionOut(code=best.feature_key, name=known.name if known else (best.name or best.feature_key),
                     level=known.level if known else str(best.attributes.get("level", "")),
                     path=[RegionLevel(code=r.code, name=r.name, level=r.level) for r in path])


async def list_layers(session: AsyncSession) -> list[LayerOut]:
    return [LayerOut(code=layer.code, name=layer.name, geometry_kinds=layer.geometry_kinds.split(","),
                     description=layer.description) for layer in await repository.layers(session)]


async def features(session: AsyncSession, layer_code: str, area: BaseGeometry | None, *, cursor: str | None,
                   limit: int) -> FeatureCollectionOut:
    check_limit(limit)
    if await repository.layer(session, layer_code) is None:
        raise RecordNotFound(f"no spatial layer {layer_code!r}")
    region = area if area is not None else shapely.box(-180, -90, 180, 90)
    rows = await repository.in_area(session, SpatialFeature, region, after=decode_cursor(cursor), limit=limit + 1,
                                    filters=[SpatialFeature.layer_code == layer_code])
    items, next_cursor = _page(rows, [r.feature_key for r in rows], limit)
    return FeatureCollectionOut(features=[feature_out(r) for r in items], next_cursor=next_cursor, limit=limit)


# ---------------------------------------------------------------------------------------------- economy


def indicator_out(row: EconomyIndicator) -> IndicatorOut:
    return IndicatorOut(code=row.code, name=row.name, unit=row.unit, frequency=row.frequency,
                        aggregation=row.aggregation, description=row.description)


async def list_indicators(session: AsyncSession) -> list[IndicatorOut]:
    return [indicator_out(i) for i in await repository.indicators(session)]


def _bound(text: str, source: str, field: str, first: bool) -> Period:
    try:
        period = parse_period(text)
    except PeriodError as exc:
        raise invalid(field, str(exc), "period_format") from exc
    if ORDER[period.frequency] < ORDER[source]:
        raise invalid(field, f"{period.label} is a {period.frequency}; this indicator is reported by {source}",
                      "period_frequency")
    parts = period.parts(source)
    return parts[0] if first else parts[-1]


async def series(session: AsyncSession, indicator_code: str, region_code: str, *, start: str | None = None,
                 end: str | None = None, frequency: str | None = None) -> SeriesOut:
    """One indicator for one region over a period range, optionally rolled up to a coarser frequency, with
    the source periods that are missing."""
    indicator = await repository.indicator(session, indicator_code)
    if indicator is None:
        raise RecordNotFound(f"no economic indicator {indicator_code!r}")
    region_prefix_of(region_code)
    source = indicator.frequency
    target = frequency or source
    if target not in ORDER:
        raise invalid("frequency", "month, quarter or year", "not_in_list")
    if ORDER[target] < ORDER[source]:
        raise invalid("frequency", f"{indicator.code} is reported by {source}; it cannot be split into {target}s",
                      "frequency_finer")
    first = _bound(start, source, "start", True) if start else None
    last = _bound(end, source, "end", False) if end else None
    if first is None or last is None:
        low, high = await repository.observation_span(session, indicator.code, region_code)
        if low is None or high is None:
            raise RecordNotFound(f"no observations of {indicator.code} for region {region_code}")
        first = first or Period.starting(low, source)
        last = last or Period.starting(high, source)
    if last < first:
        raise invalid("end", "the end comes before the start", "range")
    rows = await repository.observations(session, indicator.code, region_code, first.start, last.start)
    points = [Point(Period.starting(r.period_start, source), r.value, r.status) for r in rows]
    rolled = aggregate(points, target, indicator.aggregation, first, last)
    missing = missing_periods([p.period for p in points], first, last)
    expected = len(missing) + len({p.period for p in points})
    return SeriesOut(
        indicator=indicator_out(indicator), region_code=region_code, frequency=target, start=first.label,
        end=last.label,
        points=[SeriesPoint(period=a.period.label, value=a.value, status=a.status, expected=a.expected,
                            available=a.available, missing=a.missing) for a in rolled],
        completeness=Completeness(expected_periods=expected, present_periods=expected - len(missing),
                                  missing_periods=missing, complete=not missing))
