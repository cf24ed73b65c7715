"""The row rules behind the custom expectations, as plain Python over one value (or one pair of values).

GX calls these for pandas batches (submission batches, whole tables on SQLite); `quality.sql` states the same
rules as SQL for PostgreSQL. Each rule is written once here with its exact edge cases so that both back ends
count the same rows: a value a rule does not apply to (an ID number too malformed to hold a birth date, say) is
*not* counted by that rule — the rule that owns the defect counts it, once.

Every predicate returns True when the value is acceptable; every `*_problem` function says why it is not, for
the reasons a quarantined row carries.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any

import shapely
import shapely.errors
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumValidationError

from basebases import codes
from basebases.economy import Period, period_range

# ASCII digits only: str.isdigit() accepts other scripts' digits, which SQL's [0-9] does not.
_RIC_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
_USCC_SHAPE = re.compile(r"^[0-9]{8}[0-9A-HJ-NPQRTUWXY]{10}$")
# A mobile (1[3-9] + 9 digits) or a landline (0 + 2–3 digit area code, 7–8 digits, optional extension): the
# shapes basebases.validation accepts on load.
PHONE_PATTERN = r"^(?:1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}(?:-[0-9]{1,6})?)$"
_PHONE = re.compile(PHONE_PATTERN)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


# --- 公民身份号码 (GB 11643) -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@lru_cache(maxsize=65536)
def _birth_from_digits(digits: str) -> date | None:
    try:
        return date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def ric_shape_ok(value: Any) -> bool:
    """18 characters: 17 ASCII digits and a check character 0–9 or upper-case X (the stored form)."""
    text = _text(value)
    return text is not None and _RIC_SHAPE.match(text) is not None


def ric_problem(value: Any) -> str | None:
    """Why `value` is not a valid 公民身份号码: shape, check character (stdnum), calendar date."""
    if not ric_shape_ok(value):
        return "must be 17 digits and a check character (0–9 or upper-case X)"
    expected = ric.calc_check_digit(value)
    if value[17] != expected:
        return f"check character is {value[17]}, GB 11643 gives {expected}"
    try:
        ric.get_birth_date(value)
    except StdnumValidationError:
        return f"birth date part {value[6:14]} is not a calendar date"
    return None


def ric_valid(value: Any) -> bool:
    return ric_problem(value) is None


@cache
def _region_years() -> dict[str, tuple[int | None, int | None]]:
    return {code: (r.valid_from, r.valid_to) for code, r in codes.regions().items()}


def region_in_use(code: str, year: int) -> bool:
    span = _region_years().get(code)
    if span is None:
        return False
    start, end = span
    return (start is None or start <= year) and (end is None or year <= end)


@cache
def _current_regions() -> frozenset[str]:
    return frozenset(code for code, region in codes.regions().items() if region.current)


def region_problem(value: Any, current_only: bool) -> str | None:
    """A GB/T 2260 code: one in use today (`current_only`), or one that ever was."""
    known = _current_regions() if current_only else _region_years()
    if isinstance(value, str) and value in known:
        return None
    if current_only and isinstance(value, str) and value in _region_years():
        return f"{value} is a retired GB/T 2260 code"
    return f"{value!r} is not a GB/T 2260 code"


def region_ok(value: Any, current_only: bool) -> bool:
    return region_problem(value, current_only) is None


def ric_region_problem(value: Any) -> str | None:
    """The first six digits must be a GB/T 2260 code in use in the year the number holds (digits 7–10).

    Applies to every number of the right shape, even one whose date is impossible (that is `ric_problem`'s).
    """
    if not ric_shape_ok(value):
        return None
    year = int(value[6:10])
    if region_in_use(value[:6], year):
        return None
    if value[:6] in _region_years():
        return f"region {value[:6]} was not in use in {year} (GB/T 2260)"
    return f"region {value[:6]} is not a GB/T 2260 code"


def ric_region_ok(value: Any) -> bool:
    return ric_region_problem(value) is None


def as_date(value: Any) -> date | None:
    """A date from a date, datetime, pandas Timestamp or an ISO/compact string; None when it is none of these."""
    if value is None:
        return None
    if isinstance(value, datetime):  # pandas Timestamp is a datetime
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        compact = text.replace("-", "").replace("/", "") if len(text) == 10 else text
        if len(compact) == 8 and compact.isascii() and compact.isdigit():
            return _birth_from_digits(compact)
    return None


def ric_birth_date_problem(id_number: Any, birth_date: Any) -> str | None:
    """Digits 7–14 of a well-shaped number must spell the birth date (an impossible date never does)."""
    given = as_date(birth_date)
    if not ric_shape_ok(id_number) or given is None:
        return None
    spelled = f"{given.year:04d}{given.month:02d}{given.day:02d}"
    if id_number[6:14] == spelled:
        return None
    return f"birth_date {given.isoformat()} contradicts the id_number ({id_number[6:14]})"


def ric_birth_date_ok(id_number: Any, birth_date: Any) -> bool:
    return ric_birth_date_problem(id_number, birth_date) is None


def ric_sex(value: Any) -> str | None:
    """GB/T 2261.1 sex code the sequence digit implies: odd 1 (男), even 2 (女)."""
    if not ric_shape_ok(value):
        return None
    return "1" if int(value[16]) % 2 else "2"


def ric_sex_problem(id_number: Any, sex: Any) -> str | None:
    implied = ric_sex(id_number)
    if implied is None or sex is None or str(sex) == implied:
        return None
    return f"sex {sex} contradicts the id_number (its sequence digit says {implied})"


def ric_sex_ok(id_number: Any, sex: Any) -> bool:
    return ric_sex_problem(id_number, sex) is None


# --- 统一社会信用代码 (GB 32100) -----------------------------------------------------------------------------


def uscc_problem(value: Any) -> str | None:
    text = _text(value)
    if text is None or _USCC_SHAPE.match(text) is None:
        return "must be 8 digits and 10 characters of the GB 32100 alphabet (upper case, no I, O, S, V, Z)"
    try:
        uscc.validate(text)
    except StdnumValidationError:
        return f"check character is {text[17]}, GB 32100 gives {uscc.calc_check_digit(text)}"
    return None


def uscc_valid(value: Any) -> bool:
    return uscc_problem(value) is None


def uscc_region_problem(value: Any) -> str | None:
    """Characters 3–8 are the registering authority's GB/T 2260 region (applies to well-shaped codes)."""
    text = _text(value)
    if text is None or _USCC_SHAPE.match(text) is None or text[2:8] in _region_years():
        return None
    return f"region part {text[2:8]} is not a GB/T 2260 code"


def uscc_region_ok(value: Any) -> bool:
    return uscc_region_problem(value) is None


def cn_phone_problem(value: Any) -> str | None:
    if isinstance(value, str) and _PHONE.match(value):
        return None
    return "neither a mobile (1xxxxxxxxxx) nor a landline (0xx-xxxxxxxx) number"


def cn_phone_ok(value: Any) -> bool:
    return cn_phone_problem(value) is None


# --- dates and numbers ------------------------------------------------------------------------------------


def not_after_problem(value: Any, latest: date) -> str | None:
    given = as_date(value)
    if given is None:
        return f"{value!r} is not a date"
    return f"{given.isoformat()} is after {latest.isoformat()}" if given > latest else None


def not_after_ok(value: Any, latest: date) -> bool:
    return not_after_problem(value, latest) is None


def height_floors_problem(height: Any, floors: Any, min_storey_m: float) -> str | None:
    """A building of n floors above ground is at least n × min_storey_m high (both values present)."""
    if height is None or floors is None:
        return None
    h, n = float(height), float(floors)
    if math.isnan(h) or math.isnan(n) or h >= min_storey_m * n:
        return None
    return f"height_m {h:g} is less than {min_storey_m:g} m × {n:g} floors above ground"


def height_floors_ok(height: Any, floors: Any, min_storey_m: float) -> bool:
    return height_floors_problem(height, floors, min_storey_m) is None


# --- geometry -----------------------------------------------------------------------------------------------


def as_geometry(value: Any) -> BaseGeometry | None:
    """A shapely geometry from shapely, WKB bytes, WKT or GeoJSON (text or dict); None when unreadable."""
    try:
        if isinstance(value, BaseGeometry):
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return shapely.from_wkb(bytes(value))
        if isinstance(value, Mapping):
            return shapely.from_geojson(json.dumps(dict(value)))
        if isinstance(value, str):
            text = value.strip()
            return shapely.from_geojson(text) if text.startswith("{") else shapely.from_wkt(text)
    except (shapely.errors.GEOSException, TypeError, ValueError):
        return None
    return None


def geometry_problem(value: Any) -> str | None:
    geom = as_geometry(value)
    if geom is None:
        return "not a readable geometry (WKT, GeoJSON or WKB)"
    if geom.is_empty:
        return "the geometry is empty"
    if not geom.is_valid:
        return f"invalid geometry: {shapely.is_valid_reason(geom)}"
    return None


def geometry_ok(value: Any) -> bool:
    return geometry_problem(value) is None


@lru_cache(maxsize=4)
def _prepared(boundary_wkt: str) -> PreparedGeometry:
    return prep(shapely.from_wkt(boundary_wkt))


def inside_problem(value: Any, boundary_wkt: str) -> str | None:
    """A valid geometry must lie inside the city (touching the boundary counts as inside). An invalid one is
    the geometry-validity rule's to count."""
    if geometry_problem(value) is not None:
        return None
    geom = as_geometry(value)
    assert geom is not None
    return None if _prepared(boundary_wkt).covers(geom) else "the geometry lies (partly) outside the city"


def inside_ok(value: Any, boundary_wkt: str) -> bool:
    return inside_problem(value, boundary_wkt) is None


# --- statistical series --------------------------------------------------------------------------------------


def frequency_of_label(label: Any) -> str:
    """The frequency a stored period label spells: 2024 a year, 2024-Q1 a quarter, anything else a month."""
    text = str(label or "")
    if len(text) == 4:
        return "year"
    return "quarter" if "Q" in text.upper() else "month"


def period_of(label: Any, start: Any) -> Period | None:
    """The period of an observation from its start date, at the frequency its label spells.

    The start date, not the label, says which period it is: two spellings of one month are one period (and so
    a duplicate). `quality.sql` reads rows the same way.
    """
    begun = as_date(start)
    if begun is None:
        return None
    frequency = frequency_of_label(label)
    index = {"year": 1, "quarter": (begun.month - 1) // 3 + 1, "month": begun.month}[frequency]
    return Period(begun.year, frequency, index)


def series_gaps(rows: Iterable[tuple[Any, ...]]) -> list[tuple[tuple[Any, ...], str]]:
    """Missing periods inside each series: rows are (*series key, period label, period start).

    A series runs from its first to its last observation at the frequency of its labels; every period in that
    range without an observation is one gap. Gaps before the first or after the last are not knowable here.
    """
    series: dict[tuple[Any, ...], set[Period]] = {}
    for row in rows:
        series_key, label, start = tuple(row[:-2]), row[-2], row[-1]
        if any(k is None for k in series_key):
            continue
        period = period_of(label, start)
        if period is None:
            continue
        series.setdefault(series_key, set()).add(period)
    gaps: list[tuple[tuple[Any, ...], str]] = []
    for key in sorted(series, key=lambda k: tuple(str(p) for p in k)):
        periods = series[key]
        for frequency in sorted({p.frequency for p in periods}):
            present = sorted(p for p in periods if p.frequency == frequency)
            gaps.extend((key, p.label) for p in period_range(present[0], present[-1]) if p not in periods)
    return gaps
