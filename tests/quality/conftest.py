"""Quality fixtures: valid national codes built with python-stdnum, rows written straight into the base tables
(bypassing the loaders, as bad data gets in in real life), and the city boundary."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import Engine, insert

from basebases.models import (
    Building,
    EconomyIndicator,
    EconomyObservation,
    LegalEntity,
    Person,
    SpatialFeature,
    table_of,
)
from quality.context import forget_boundary
from quality.suites import SuiteContext

STAMP = datetime(2025, 1, 1, tzinfo=UTC)
CITY_CODE = "320100"  # the default CPIP_QUALITY_CITY_CODE
CITY = box(118.35, 31.20, 119.25, 32.62)
INSIDE = box(118.70, 32.00, 118.7005, 32.0005)
OUTSIDE = box(116.30, 39.90, 116.3005, 39.9005)  # Beijing
BOWTIE = shapely.from_wkt("POLYGON((118.7 32.0, 118.71 32.01, 118.71 32.0, 118.7 32.01, 118.7 32.0))")
TODAY = date(2025, 6, 1)


def ric(birth: date, seq: int = 1, region: str = "320102") -> str:
    """A 公民身份号码 with the right GB 11643 check character (stdnum computes it)."""
    from stdnum.cn import ric as stdnum_ric

    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + stdnum_ric.calc_check_digit(body + "0")


def ric_body(body17: str) -> str:
    """Any 17 characters completed with the check character GB 11643 gives them (impossible dates too)."""
    from stdnum.cn import ric as stdnum_ric

    return body17 + stdnum_ric.calc_check_digit(body17 + "0")


def wrong_check(number: str) -> str:
    """The same number with a check character that is not the right one."""
    chars = "0123456789X"
    return number[:17] + chars[(chars.index(number[17]) + 1) % len(chars)]


def uscc(serial: str, region: str = "320102", prefix: str = "91") -> str:
    from stdnum.cn import uscc as stdnum_uscc

    body = f"{prefix}{region}{serial}"
    return body + stdnum_uscc.calc_check_digit(body + "0")


def person(id_number: str, *, birth: date | None = None, sex: str | None = None, **extra: Any) -> dict[str, Any]:
    """A person row consistent with its ID number unless told otherwise."""
    digits = id_number[6:14]
    implied_birth = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])) if birth is None else birth
    return {"id_number": id_number, "name": "张三", "sex": sex or ("1" if int(id_number[16]) % 2 else "2"),
            "birth_date": implied_birth, "ethnicity": "01", "hukou_region_code": "320102", "status": "normal",
            "phone": "13800000000", **extra}


def insert_rows(engine: Engine, model: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    table = table_of(model)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"created_at": STAMP, "updated_at": STAMP, **row} for row in rows])


def geometry_row(geom: Any) -> dict[str, Any]:
    minx, miny, maxx, maxy = geom.bounds
    return {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def insert_boundary(engine: Engine) -> None:
    insert_rows(engine, SpatialFeature, [{"layer_code": "admin_division", "feature_key": CITY_CODE,
                                          "name": "南京市", "region_code": CITY_CODE, "attributes": {},
                                          "geom": CITY, **geometry_row(CITY)}])


def building(code: str, footprint: Any = INSIDE, **extra: Any) -> dict[str, Any]:
    return {"building_code": code, "footprint": footprint, "floors_above": 6, "floors_below": 1,
            "height_m": 19.5, "use": "residential", "structure": "reinforced_concrete", "year_built": 2001,
            "region_code": "320102", **geometry_row(footprint), **extra}


def entity(code: str, **extra: Any) -> dict[str, Any]:
    return {"uscc": code, "name": "南京某某有限公司", "entity_type": "limited_company", "registered_capital": 100.0,
            "currency": "CNY", "established_on": date(2010, 5, 1), "industry_code": "I65", "status": "active",
            "region_code": "320102", **extra}


def observation(indicator: str, period: str, start: date, value: float = 1.0,
                region: str = "320102") -> dict[str, Any]:
    return {"indicator_code": indicator, "region_code": region, "period": period, "period_start": start,
            "value": value, "status": "", "revision": 0}


def indicator(code: str, frequency: str) -> dict[str, Any]:
    return {"code": code, "name": code, "unit": "亿元", "frequency": frequency, "aggregation": "sum"}


@pytest.fixture
def context() -> SuiteContext:
    """A fixed day and the city box, for gate checks that should not depend on the database's boundary."""
    return SuiteContext(today=TODAY, boundary_wkt=CITY.wkt)


@pytest.fixture(autouse=True)
def _fresh_boundary() -> Iterator[None]:
    forget_boundary()  # each test writes (or not) its own boundary feature
    yield
    forget_boundary()


__all__ = ["BOWTIE", "CITY", "INSIDE", "OUTSIDE", "TODAY", "Building", "EconomyIndicator", "EconomyObservation",
           "LegalEntity", "Person", "SpatialFeature", "building", "entity", "indicator", "insert_boundary",
           "insert_rows", "observation", "person", "ric", "ric_body", "uscc", "wrong_check"]
