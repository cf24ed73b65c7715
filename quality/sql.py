"""The rules of `quality.checks`, stated as PostgreSQL expressions so GX can count them inside the database.

Each function takes SQLAlchemy column expressions and returns a boolean expression that is true where
`quality.checks` says the value is acceptable, edge cases included (the acceptance tests run the same bad rows
through both and expect the same counts). Casts only ever run under a CASE branch whose condition proved the
text is digits, so a malformed value can never make the whole query fail.

Speed matters here (a million persons in seconds): PostgreSQL's regex engine is slow with counted repetition
(`[0-9]{17}` costs ~1.5 µs a row), so shapes are tested as `length = 18 AND ~ '^[0-9]+X?$'`, which is the same
set of strings at a fifth of the cost; the GB 11643 checksum is summed three digits at a time through a
1,000-entry lookup array instead of seventeen single-digit casts.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import INT4RANGE
from sqlalchemy.sql.elements import ColumnElement

from quality.checks import PHONE_PATTERN, USCC_ALPHABET

Expr = ColumnElement[Any]

RIC_CHECK_CHARS = "10X98765432"  # GB 11643: check character indexed by (Σ aᵢ·Wᵢ) mod 11
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _int(expr: Expr) -> Expr:
    return sa.cast(expr, sa.Integer)


def _digits(col: Expr, start: int, length: int) -> Expr:
    return _int(sa.func.substr(col, start, length))


def ric_shape(col: Expr) -> Expr:
    return sa.and_(sa.func.length(col) == 18, col.op("~")("^[0-9]+X?$"))


@cache
def _chunk_table() -> str:
    # g(c) = Σ digitⱼ(c)·2ʲ mod 11 for a three-digit chunk c (j = 0 is its last digit).
    values = []
    for chunk in range(1000):
        digits = (chunk % 10, chunk // 10 % 10, chunk // 100)
        values.append(str(sum(d << j for j, d in enumerate(digits)) % 11))
    return "{" + ",".join(values) + "}"


def _ric_weighted_sum(col: Expr) -> Expr:
    """Σ aᵢ·Wᵢ mod 11 for the 17 body digits, Wᵢ = 2^(18−i) mod 11 (GB 11643 / ISO 7064 MOD 11-2).

    With k = 17 − i, Wᵢ = 2·2ᵏ, so the sum is 2·Σ_m 2^(3m)·g(chunk m) over three-digit chunks counted from the
    right (the last chunk has two digits; g reads it with a leading zero).
    """
    # A literal, not a bind parameter: PostgreSQL then parses the array once per query, not per row.
    table = sa.literal_column(f"('{_chunk_table()}'::int[])", type_=sa.ARRAY(sa.Integer))
    terms: list[Expr] = []
    for m in range(6):
        start, length = 15 - 3 * m, 3
        if start < 1:
            length, start = length + start - 1, 1
        lookup = table[_digits(col, start, length) + 1]
        terms.append(lookup * pow(2, 3 * m, 11))
    total: Expr = terms[0]
    for term in terms[1:]:
        total = total + term
    return (total * 2) % 11


@cache
def _month_day_table() -> str:
    # Indexed by MMDD + 1 (0–1231): 1 a day every year has, 2 for 29 February, 0 not a date.
    values = ["0"] * 1232
    for month, days in enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), start=1):
        for day in range(1, days + 1):
            values[month * 100 + day] = "2" if (month, day) == (2, 29) else "1"
    return "{" + ",".join(values) + "}"


def _ric_date_ok(col: Expr) -> Expr:
    """Characters 7–14 are a calendar date (year 0001 or later). One cast and one lookup a row; the leap-year
    arithmetic runs only for 29 February (a simple CASE evaluates its operand once)."""
    year = _digits(col, 7, 4)
    leap = sa.or_(sa.and_(year % 4 == 0, year % 100 != 0), year % 400 == 0)
    table = sa.literal_column(f"('{_month_day_table()}'::int[])", type_=sa.ARRAY(sa.Integer))
    kind = table[_digits(col, 11, 4) + 1]
    return sa.and_(sa.func.substr(col, 7, 4) != "0000",
                   sa.case({1: sa.true(), 2: leap}, value=kind, else_=sa.false()))


def ric_valid(col: Expr) -> Expr:
    checksum_ok = sa.func.substr(RIC_CHECK_CHARS, _ric_weighted_sum(col) + 1, 1) == sa.func.substr(col, 18, 1)
    return sa.case((ric_shape(col), sa.and_(checksum_ok, _ric_date_ok(col))), else_=sa.false())


def _region_spans(regions: sa.Table) -> Expr:
    """GB/T 2260 code → the years it was in use, as one jsonb object built once per query (an InitPlan).

    A correlated EXISTS per row costs ~3 µs; a jsonb key lookup and an int4range test a fraction of that.
    """
    span = sa.func.int4range(regions.c.valid_from, regions.c.valid_to, "[]")
    built = sa.select(sa.func.jsonb_object_agg(regions.c.code, sa.cast(span, sa.Text))).scalar_subquery()
    return built


def region_ok(col: Expr, regions: sa.Table, current_only: bool) -> Expr:
    codes = sa.select(regions.c.code)
    if current_only:
        codes = codes.where(regions.c.valid_to.is_(None))
    return col.in_(codes)  # a hashed subplan: the code list is read once per query


def ric_region_ok(col: Expr, regions: sa.Table) -> Expr:
    span = sa.cast(_region_spans(regions).op("->>")(sa.func.substr(col, 1, 6)), INT4RANGE)
    in_use = sa.func.coalesce(span.op("@>")(_digits(col, 7, 4)), sa.false())
    return sa.case((ric_shape(col), in_use), else_=sa.true())


def ric_birth_date_ok(id_col: Expr, birth_col: Expr) -> Expr:
    same = sa.func.substr(id_col, 7, 8) == sa.func.to_char(birth_col, "YYYYMMDD")
    return sa.case((ric_shape(id_col), same), else_=sa.true())


def ric_sex_ok(id_col: Expr, sex_col: Expr) -> Expr:
    implied = sa.case((sa.func.substr(id_col, 17, 1).in_(["1", "3", "5", "7", "9"]), "1"), else_="2")
    return sa.case((ric_shape(id_col), sa.cast(sex_col, sa.String) == implied), else_=sa.true())


def _uscc_shape(col: Expr) -> Expr:
    return col.op("~")("^[0-9]{8}[0-9A-HJ-NPQRTUWXY]{10}$")


def uscc_valid(col: Expr) -> Expr:
    total: Expr = sa.literal(0)
    for i, weight in enumerate(USCC_WEIGHTS, start=1):
        total = total + (sa.func.strpos(USCC_ALPHABET, sa.func.substr(col, i, 1)) - 1) * weight
    check = sa.func.substr(USCC_ALPHABET, (31 - total % 31) % 31 + 1, 1)
    return sa.case((_uscc_shape(col), check == sa.func.substr(col, 18, 1)), else_=sa.false())


def uscc_region_ok(col: Expr, regions: sa.Table) -> Expr:
    known = sa.func.substr(col, 3, 6).in_(sa.select(regions.c.code))  # a hashed subplan, built once
    return sa.case((_uscc_shape(col), known), else_=sa.true())


def not_after(col: Expr, latest: date) -> Expr:
    # A cast string, not a date bind: GX renders the failing-rows query with literal values.
    return col <= sa.cast(sa.literal(latest.isoformat()), sa.Date)


def cn_phone_ok(col: Expr) -> Expr:
    """`quality.checks.PHONE` in PostgreSQL. The regex engine is slow with counted repetition, so the common case
    — an 11-digit mobile number — is decided by a cheap test first; only other values meet the full pattern."""
    mobile = sa.and_(sa.func.length(col) == 11, col.op("~")("^1[3-9][0-9]+$"))
    return sa.case((mobile, sa.true()), else_=col.op("~")(PHONE_PATTERN))


def height_floors_ok(height: Expr, floors: Expr, min_storey_m: float) -> Expr:
    return sa.or_(height.is_(None), floors.is_(None), height >= floors * min_storey_m)


def geometry_ok(col: Expr) -> Expr:
    return sa.and_(sa.func.ST_IsValid(col), sa.not_(sa.func.ST_IsEmpty(col)))


def inside(col: Expr, boundary_wkt: str, srid: int) -> Expr:
    boundary = sa.func.ST_GeomFromText(sa.literal(boundary_wkt), srid)
    return sa.case((geometry_ok(col), sa.func.ST_CoveredBy(col, boundary)), else_=sa.true())


def series_gaps_query(batch_sql: str, keys: tuple[str, ...], label: str, start: str) -> str:
    """Missing periods per series inside `batch_sql` (a table name or parenthesised query), as rows
    (*keys, frequency, period start). Mirrors `quality.checks.series_gaps`."""
    key_list = ", ".join(f'"{k}"' for k in keys)
    not_null = " AND ".join(f'"{k}" IS NOT NULL' for k in (*keys, start))
    match = " AND ".join(f'o."{k}" = b."{k}"' for k in keys)
    # Identifiers come from the suites in code and the batch is GX's own compiled selectable, never from data.
    return f"""
WITH obs AS (
    SELECT {key_list},
           CASE WHEN length("{label}") = 4 THEN 'year'
                WHEN upper("{label}") LIKE '%Q%' THEN 'quarter' ELSE 'month' END AS freq,
           "{start}" AS s
    FROM {batch_sql} AS batch WHERE {not_null}
), periods AS (
    SELECT {key_list}, freq,
           CASE freq WHEN 'year' THEN make_date(extract(year FROM s)::int, 1, 1)
                     WHEN 'quarter' THEN make_date(extract(year FROM s)::int,
                                                   ((extract(month FROM s)::int - 1) / 3) * 3 + 1, 1)
                     ELSE make_date(extract(year FROM s)::int, extract(month FROM s)::int, 1) END AS p
    FROM obs
), bounds AS (
    SELECT {key_list}, freq, min(p) AS lo, max(p) AS hi, count(DISTINCT p) AS present FROM periods
    GROUP BY {key_list}, freq
)
SELECT {", ".join(f'b."{k}"' for k in keys)}, b.freq, g::date AS period_start
FROM bounds AS b
CROSS JOIN LATERAL generate_series(b.lo, b.hi, CASE b.freq WHEN 'year' THEN interval '1 year'
                                                          WHEN 'quarter' THEN interval '3 months'
                                                          ELSE interval '1 month' END) AS g
WHERE NOT EXISTS (SELECT 1 FROM periods AS o WHERE {match} AND o.freq = b.freq AND o.p = g::date)
ORDER BY {", ".join(f'b."{k}"' for k in keys)}, b.freq, g
"""  # noqa: S608


def series_expected_query(batch_sql: str, keys: tuple[str, ...], label: str, start: str) -> str:
    """How many distinct periods the series in `batch_sql` hold (the denominator next to the gaps)."""
    key_list = ", ".join(f'"{k}"' for k in keys)
    not_null = " AND ".join(f'"{k}" IS NOT NULL' for k in (*keys, start))
    return f"""
SELECT count(*) FROM (
    SELECT DISTINCT {key_list},
           CASE WHEN length("{label}") = 4 THEN date_trunc('year', "{start}")
                WHEN upper("{label}") LIKE '%Q%' THEN date_trunc('quarter', "{start}")
                ELSE date_trunc('month', "{start}") END AS p
    FROM {batch_sql} AS batch WHERE {not_null}
) AS present
"""  # noqa: S608
