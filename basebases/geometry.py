"""Geometry storage and checks, the same on both back ends.

Everything is stored in one reference system, CGCS2000 (EPSG:4490, longitude/latitude degrees), the national
datum. WGS84 (EPSG:4326) input is transformed on the way in with pyproj. On PostgreSQL a column is a PostGIS
`geometry(<type>, 4490)` with a GiST index; on SQLite it is the WKB bytes, next to indexed bbox columns that
narrow a search before the exact predicate runs in shapely.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import shapely
import shapely.affinity
import shapely.errors
import shapely.geometry
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry
from sqlalchemy import LargeBinary, func
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

STORAGE_SRID = 4490
ACCEPTED_SRIDS = frozenset({4490, 4326})
# Mean metres per degree of latitude; distances reported in metres use a local equirectangular frame.
METRES_PER_DEGREE = 111_320.0


class GeometryError(ValueError):
    """A geometry that cannot be stored: unreadable, of the wrong type, invalid, or in an unknown CRS."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class _PostGISGeometry(UserDefinedType[Any]):
    """The PostGIS column type; values travel as WKB so both drivers (psycopg, asyncpg) need no adapter."""

    cache_ok = True

    def __init__(self, geometry_type: str, srid: int) -> None:
        self.geometry_type = geometry_type
        self.srid = srid

    def get_col_spec(self, **_kw: Any) -> str:
        return f"geometry({self.geometry_type},{self.srid})"


class Geometry(TypeDecorator[BaseGeometry]):
    """A shapely geometry in EPSG:4490: PostGIS geometry on PostgreSQL, WKB bytes on SQLite."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = STORAGE_SRID) -> None:
        super().__init__()
        self.geometry_type = geometry_type.upper()
        self.srid = srid

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(_PostGISGeometry(self.geometry_type, self.srid))
        return dialect.type_descriptor(LargeBinary())

    # On PostgreSQL, WKB is turned into geometry in SQL both ways; the expressions keep this type, so the
    # result still passes through process_result_value.
    def bind_expression(self, bindvalue: Any) -> ColumnElement[Any] | None:
        if isinstance(self.impl_instance, _PostGISGeometry):
            return func.ST_GeomFromWKB(bindvalue, self.srid, type_=self)
        return bindvalue  # type: ignore[no-any-return]

    def column_expression(self, column: Any) -> ColumnElement[Any] | None:
        if isinstance(self.impl_instance, _PostGISGeometry):
            return func.ST_AsBinary(column, type_=self)
        return column  # type: ignore[no-any-return]

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        wkb: bytes = shapely.to_wkb(value)
        return wkb

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        return shapely.from_wkb(bytes(value))


@lru_cache(maxsize=8)
def _to_storage(srid: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(srid), CRS.from_epsg(STORAGE_SRID), always_xy=True)


@lru_cache(maxsize=8)
def _from_storage(srid: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(STORAGE_SRID), CRS.from_epsg(srid), always_xy=True)


def check_srid(srid: int) -> int:
    if srid not in ACCEPTED_SRIDS:
        raise GeometryError("crs", f"EPSG:{srid} is not accepted; use CGCS2000 (EPSG:4490) or WGS84 (EPSG:4326)")
    return srid


def srid_from_crs_name(name: str) -> int:
    """The EPSG code of a GeoJSON `crs` name (the pre-RFC 7946 member Chinese data sets still carry)."""
    lowered = name.strip().lower()
    if lowered.endswith("crs84"):
        return 4326
    for sep in ("::", ":"):
        if sep in lowered:
            tail = lowered.rsplit(sep, 1)[1]
            if tail.isdigit():
                return check_srid(int(tail))
    raise GeometryError("crs", f"unrecognised CRS name {name!r}; use EPSG:4490 or EPSG:4326")


@lru_cache(maxsize=8)
def _is_identity(srid: int, inbound: bool) -> bool:
    """Whether a transformation leaves coordinates as they are (pyproj's WGS84↔CGCS2000 step does, to the
    last bit): then it is skipped, which matters on the read path of every geometry."""
    transformer = _to_storage(srid) if inbound else _from_storage(srid)
    probes = [(73.5, 18.0), (135.0, 53.5), (118.78, 32.04), (-120.0, -45.0)]
    xs, ys = transformer.transform([p[0] for p in probes], [p[1] for p in probes])
    return all(float(x) == p[0] and float(y) == p[1] for x, y, p in zip(xs, ys, probes, strict=True))


def to_storage(geom: BaseGeometry, srid: int) -> BaseGeometry:
    check_srid(srid)
    if srid == STORAGE_SRID:
        return geom
    if _is_identity(srid, True):
        return geom
    transformer = _to_storage(srid)
    return shapely.transform(geom, lambda xy: _apply(transformer, xy))


def from_storage(geom: BaseGeometry, srid: int) -> BaseGeometry:
    check_srid(srid)
    if srid == STORAGE_SRID:
        return geom
    if _is_identity(srid, False):
        return geom
    transformer = _from_storage(srid)
    return shapely.transform(geom, lambda xy: _apply(transformer, xy))


def _apply(transformer: Transformer, xy: Any) -> Any:
    import numpy as np

    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def checked(geom: BaseGeometry | None, *, kinds: tuple[str, ...], srid: int = STORAGE_SRID) -> BaseGeometry:
    """A geometry fit to store: present, of an allowed type, valid (OGC), within lon/lat range; in EPSG:4490."""
    if geom is None or geom.is_empty:
        raise GeometryError("geometry_missing", "the geometry is missing or empty")
    if geom.geom_type not in kinds:
        raise GeometryError("geometry_type", f"a {geom.geom_type} was given; expected {' or '.join(kinds)}")
    if geom.has_z:
        geom = shapely.force_2d(geom)
    if not geom.is_valid:
        raise GeometryError("geometry_invalid", f"invalid geometry: {shapely.is_valid_reason(geom)}")
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise GeometryError("geometry_invalid", "the geometry has non-finite coordinates")
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise GeometryError("coordinates_range",
                            "coordinates are outside longitude/latitude range; give degrees in EPSG:4490/4326")
    return to_storage(geom, srid)


def parse_wkt(text: str) -> BaseGeometry:
    try:
        return shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        raise GeometryError("geometry_unreadable", f"not readable as WKT: {exc}") from exc


def parse_geojson_geometry(obj: Any) -> BaseGeometry:
    import json

    try:
        return shapely.from_geojson(json.dumps(obj))
    except (shapely.errors.GEOSException, TypeError, ValueError) as exc:
        raise GeometryError("geometry_unreadable", f"not a GeoJSON geometry: {exc}") from exc


def bounds(geom: BaseGeometry) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = geom.bounds
    return float(minx), float(miny), float(maxx), float(maxy)


def local_distance_degrees(geom: BaseGeometry, x: float, y: float) -> float:
    """Distance from (x, y) to `geom` in a local equirectangular frame, in degrees of latitude.

    Plain degree distance would over-weigh east-west gaps (a degree of longitude is shorter than one of
    latitude away from the equator); scaling x by cos(latitude) ranks neighbours as metres would.
    """
    scale = math.cos(math.radians(y))
    scaled = shapely.affinity.scale(geom, xfact=scale, yfact=1.0, origin=(x, y))
    return float(scaled.distance(shapely.Point(x, y)))


def as_geojson(geom: BaseGeometry, srid: int = 4326) -> dict[str, Any]:
    """RFC 7946 geometry (WGS84 unless asked otherwise)."""
    shape = from_storage(geom, srid)
    kind = shape.geom_type
    if kind == "GeometryCollection":
        return {"type": kind, "geometries": [as_geojson(g, STORAGE_SRID) for g in shape.geoms]}
    return {"type": kind, "coordinates": _coordinates(shape)}


def _coordinates(geom: BaseGeometry) -> Any:
    # numpy's tolist() straight from GEOS' coordinate array: the read path's cost per building.
    kind = geom.geom_type
    if kind == "Point":
        return [geom.x, geom.y]
    if kind in ("LineString", "LinearRing"):
        return shapely.get_coordinates(geom).tolist()
    if kind == "Polygon":
        return [shapely.get_coordinates(geom.exterior).tolist(),
                *(shapely.get_coordinates(ring).tolist() for ring in geom.interiors)]
    return [_coordinates(part) for part in geom.geoms]
