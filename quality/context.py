"""What a run needs to know about now and here: the local date, and the city boundary geometries must lie in."""

from __future__ import annotations

import threading
import time
from datetime import date
from zoneinfo import ZoneInfo

import shapely
from sqlalchemy import Connection, Engine, select

from basebases.models import SpatialFeature
from cpip.clock import utcnow
from cpip.settings import Settings, get_settings
from quality.suites import SuiteContext

BOUNDARY_LAYER = "admin_division"
_CACHE_SECONDS = 300.0
_cache: dict[tuple[str, str], tuple[float, str | None]] = {}
_lock = threading.Lock()


def local_today(settings: Settings | None = None) -> date:
    """Today in the city's time zone: a birth date "in the future" is judged by the local calendar."""
    zone = ZoneInfo((settings or get_settings()).quality_timezone)
    return utcnow().astimezone(zone).date()


def city_boundary(bind: Engine | Connection, settings: Settings | None = None) -> str | None:
    """WKT (EPSG:4490) of the city's own admin_division feature in the spatial base database, if loaded.

    Cached for a few minutes per database: a gate checks many batches, the boundary rarely changes. Given a
    Connection it reads through it — inside a job's transaction a second connection would wait on SQLite's
    write lock that transaction holds.
    """
    settings = settings or get_settings()
    engine = bind.engine if isinstance(bind, Connection) else bind
    cache_key = (engine.url.render_as_string(hide_password=True), settings.quality_city_code)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(cache_key)
        if hit is not None and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
    query = select(SpatialFeature.geom).where(SpatialFeature.layer_code == BOUNDARY_LAYER,
                                              SpatialFeature.feature_key == settings.quality_city_code)
    if isinstance(bind, Connection):
        geom = bind.scalar(query)
    else:
        with bind.connect() as conn:
            geom = conn.scalar(query)
    wkt = None if geom is None else str(shapely.to_wkt(geom, rounding_precision=-1))
    with _lock:
        _cache[cache_key] = (now, wkt)
    return wkt


def forget_boundary() -> None:
    """Drop cached boundaries (after the boundary feature changed, and in tests)."""
    with _lock:
        _cache.clear()


def suite_context(bind: Engine | Connection, settings: Settings | None = None) -> SuiteContext:
    return SuiteContext(today=local_today(settings), boundary_wkt=city_boundary(bind, settings))
