"""Bulk writing for the demo and the loaders: COPY on PostgreSQL, batched executemany on SQLite.

Rows are dicts keyed by column name with Python values (shapely geometries, dates, dicts for JSON); this
module turns them into what each path needs (hex EWKB and JSON text for COPY, WKB via the column type for
executemany).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

import shapely
from sqlalchemy import JSON, Connection, Integer, Table

from basebases.geometry import STORAGE_SRID, Geometry

Progress = Callable[[int], None]


def batched(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def copy_converters(table: Table, columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    """Per column, how a Python value becomes COPY text input (None: psycopg's own dumper is right)."""
    converters: list[Callable[[Any], Any] | None] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, Geometry):
            converters.append(ewkb_hex)
        elif isinstance(column_type, JSON):
            converters.append(lambda v: None if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True))
        else:
            converters.append(None)
    return converters


def ewkb_hex(geom: Any) -> str | None:
    if geom is None:
        return None
    text: str = shapely.to_wkb(shapely.set_srid(geom, STORAGE_SRID), hex=True, include_srid=True)
    return text


def copy_rows(conn: Connection, table: Table | str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              progress: Progress | None = None, every: int = 10_000) -> int:
    """COPY already-converted rows into `table` through the connection's psycopg driver connection."""
    from psycopg.copy import QueuedLibpqWriter

    name = table if isinstance(table, str) else table.name
    driver = conn.connection.driver_connection
    assert driver is not None
    quoted = ", ".join(f'"{c}"' for c in columns)
    count = 0
    statement = f'COPY "{name}" ({quoted}) FROM STDIN'
    # The queued writer sends from its own thread, so the server parses while Python builds more rows.
    with driver.cursor() as cursor, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        write = copy.write_row
        for row in rows:
            write(row)
            count += 1
            if progress is not None and count % every == 0:
                progress(every)
    if progress is not None:
        progress(count % every)
    return count


def as_tuples(table: Table, columns: Sequence[str], rows: Iterable[dict[str, Any]],
              stamp: datetime | None = None) -> Iterator[list[Any]]:
    """Rows as value lists in `columns` order, converted for COPY; the timestamps, if given, are `stamp`."""
    stamped = [i for i, c in enumerate(columns) if stamp is not None and c in ("created_at", "updated_at")]
    convert = [(i, f) for i, f in enumerate(copy_converters(table, columns)) if f is not None]
    for row in rows:
        values = list(map(row.get, columns))  # the hot loop of a million-row load: no per-column Python call
        for i in stamped:
            values[i] = stamp
        for i, f in convert:
            values[i] = f(values[i])
        yield values


def insert_columns(table: Table) -> list[str]:
    """Every column but a surrogate integer key, which the database assigns."""
    return [c.name for c in table.columns if not (c.primary_key and isinstance(c.type, Integer))]


def geometry_column(table: Table) -> str | None:
    return next((c.name for c in table.columns if isinstance(c.type, Geometry)), None)


def with_bbox(table: Table, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Fill the bbox columns SQLite's window queries use from the row's geometry."""
    geom_column = geometry_column(table)
    if geom_column is None or "minx" not in table.c:
        yield from rows
        return
    for row in rows:
        if row.get("minx") is None and row.get(geom_column) is not None:
            row["minx"], row["miny"], row["maxx"], row["maxy"] = (float(v) for v in row[geom_column].bounds)
        yield row


def write_rows(conn: Connection, table: Table, rows: Iterable[dict[str, Any]], *, stamp: datetime,
               progress: Progress | None = None, batch_size: int = 5_000) -> int:
    """Insert new rows (no conflicts expected): COPY on PostgreSQL, executemany on SQLite."""
    columns = insert_columns(table)
    rows = with_bbox(table, rows)
    if conn.dialect.name == "postgresql":
        return copy_rows(conn, table, columns, as_tuples(table, columns, rows, stamp), progress)
    count = 0
    for batch in batched(rows, batch_size):
        conn.execute(table.insert(), [
            {c: (stamp if c in ("created_at", "updated_at") else row.get(c)) for c in columns} for row in batch])
        count += len(batch)
        if progress is not None:
            progress(len(batch))
    return count
