"""The PostgreSQL side of a load: staging and a set-based merge, or COPY straight into an empty table.

Every identifier in the SQL below comes from the ORM metadata, never from the file being loaded.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, text
from sqlalchemy.exc import DBAPIError

from basebases import bulk
from basebases.deferred_indexes import deferred_indexes
from basebases.models import table_of
from basebases.specs import BaseSpec


def _distinct_sql(spec: BaseSpec, left: str, right: str) -> str:
    pairs = []
    for name in spec.compared:
        cast = "::jsonb" if name in spec.json_columns else ""  # json has no equality operator; jsonb has
        pairs.append((f'{left}."{name}"{cast}', f'{right}."{name}"{cast}'))
    return f"({', '.join(a for a, _ in pairs)}) IS DISTINCT FROM ({', '.join(b for _, b in pairs)})"


# Staging lives in the loading session's temp buffers; the default 8 MB would spill a large file to disk.
STAGING_TEMP_BUFFERS = "512MB"
STAMPS = ("created_at", "updated_at")


def stage(conn: Connection, spec: BaseSpec) -> tuple[str, list[str]]:
    """A temporary table shaped like the base's, for this transaction; returns its name and columns."""
    table = table_of(spec.model)
    # Unique per call: a caller may upsert twice in one transaction, and ON COMMIT DROP only drops at the end.
    stage = f"_stage_{spec.name}_{uuid.uuid4().hex[:8]}"
    try:
        with conn.begin_nested():
            conn.execute(text(f"SET temp_buffers = '{STAGING_TEMP_BUFFERS}'"))
    except DBAPIError:
        pass  # this session already used temporary tables; it keeps its buffers, only slower
    # Every identifier below comes from the ORM metadata, never from the file being loaded. The timestamps are
    # one value for the whole load: they are bound once in the SQL rather than sent a million times through COPY.
    staged_columns = [c for c in bulk.insert_columns(table) if c not in STAMPS]
    quoted = ", ".join(f'"{c}"' for c in staged_columns)
    conn.execute(text(f'CREATE TEMP TABLE "{stage}" ON COMMIT DROP AS SELECT {quoted} '  # noqa: S608
                      f'FROM "{table.name}" WITH NO DATA'))
    return stage, staged_columns


def merge(conn: Connection, spec: BaseSpec, stage_table: str, staged: int, stamp: datetime) -> tuple[int, int, int]:
    """Insert the staged rows with new keys, update those that differ; (inserted, updated, unchanged)."""
    if not staged:
        return 0, 0, 0
    table = table_of(spec.model)
    columns = bulk.insert_columns(table)
    stamps = {c: table.c[c].type for c in STAMPS if c in table.c}
    params = [bindparam(c, stamp, type_=t) for c, t in stamps.items()]
    quoted = {c: f'"{c}"' for c in columns}
    quoted_key = [quoted[k] for k in spec.key]
    join = " AND ".join(f'o."{k}" = s."{k}"' for k in spec.key)

    def value(c: str, old: str) -> str:
        if c in stamps:
            return f":{c}"
        if c == "revision" and spec.revised:
            return f'COALESCE(s."revision", {old})'
        return f's."{c}"'

    # New keys first, without RETURNING: counting inserts through a RETURNING CTE and ON CONFLICT DO UPDATE
    # added ~8 s to a million-row first load.
    # A key another session inserts meanwhile is skipped here (DO NOTHING) and handled by the UPDATE below,
    # whose fresh snapshot sees it (READ COMMITTED, PostgreSQL's default, which CPIP never changes).
    inserted = conn.execute(text(
        f'INSERT INTO "{table.name}" ({", ".join(quoted.values())}) '  # noqa: S608
        f'SELECT {", ".join(value(c, "0") for c in columns)} FROM "{stage_table}" s '
        f'WHERE NOT EXISTS (SELECT FROM "{table.name}" o WHERE {join}) '
        f'ON CONFLICT ({", ".join(quoted_key)}) DO NOTHING').bindparams(*params)).rowcount
    updated = 0
    if inserted < staged:  # else every staged key was new: nothing can differ from what is stored
        bumped = 'o."revision" + 1'
        sets = ", ".join(f"{quoted[c]} = {value(c, bumped)}" for c in columns
                         if c not in spec.key and c != "created_at")
        # Only rows whose compared values differ are written: an unchanged row is neither locked nor rewritten.
        updated = conn.execute(text(
            f'UPDATE "{table.name}" AS o SET {sets} FROM "{stage_table}" s '  # noqa: S608
            f'WHERE {join} AND {_distinct_sql(spec, "o", "s")}').bindparams(
                *(p for p in params if p.key != "created_at"))).rowcount
    return inserted, updated, staged - inserted - updated


def _first_revision(spec: BaseSpec, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        if spec.revised and row.get("revision") is None:
            row["revision"] = 0
        yield row


def upsert(conn: Connection, spec: BaseSpec, rows: Iterator[dict[str, Any]], stamp: datetime, *,
           into_empty: bool = False, keep_foreign_keys: bool = False) -> tuple[int, int, int]:
    table = table_of(spec.model)
    if into_empty:
        # The table is empty and locked (deferred_indexes.lock_if_empty): every row is new, so the rows go
        # straight in and the indexes are built once at the end instead of row by row.
        with bulk_target(conn, table, stamp, keep_foreign_keys=keep_foreign_keys) as columns:
            count = bulk.copy_rows(conn, table, columns, bulk.as_tuples(
                table, columns, bulk.with_bbox(table, _first_revision(spec, rows))))
        return count, 0, 0
    stage_table, staged_columns = stage(conn, spec)
    staged = bulk.copy_rows(conn, stage_table, staged_columns,
                            bulk.as_tuples(table, staged_columns, bulk.with_bbox(table, rows)))
    return merge(conn, spec, stage_table, staged, stamp)


@contextlib.contextmanager
def bulk_target(conn: Connection, table: Table, stamp: datetime, *,
                keep_foreign_keys: bool = False) -> Iterator[list[str]]:
    """Ready an empty, locked table for COPY straight into it; yields the columns the rows must carry.

    Indexes, keys and foreign keys are built once at the end (deferred_indexes). The bookkeeping timestamps come
    from column defaults set to this load's stamp for the duration: parsing the same timestamp twice per row
    cost ~0.8 s per million rows in COPY. The original defaults are back before the block ends.
    """
    stamps = [c for c in STAMPS if c in table.c]
    original = {str(name): None if default is None else str(default) for name, default in conn.execute(text(
        "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = CAST(:table AS regclass) AND a.attname = ANY(:names)"),
        {"table": f'"{table.name}"', "names": stamps})}
    quoted = f'"{table.name}"'
    if stamps:
        # A literal from our own clock (utcnow), never from the file; DDL takes no bind parameters.
        literal = f"'{stamp.isoformat()}'::timestamptz"
        conn.execute(text(f"ALTER TABLE {quoted} "
                          + ", ".join(f'ALTER "{c}" SET DEFAULT {literal}' for c in stamps)))
    # Dropping a foreign key locks the table it references against reads until commit; an online load keeps
    # them (checked row by row, ~3.6 s more per million rows) so that table stays readable.
    with deferred_indexes(conn, table.name, keep_primary_key=False, keep_foreign_keys=keep_foreign_keys):
        yield [c for c in bulk.insert_columns(table) if c not in stamps]
    if stamps:
        conn.execute(text(f"ALTER TABLE {quoted} " + ", ".join(
            f'ALTER "{c}" DROP DEFAULT' if original.get(c) is None else f'ALTER "{c}" SET DEFAULT {original[c]}'
            for c in stamps)))


def copy_csv(conn: Connection, table: str, columns: list[str]) -> Any:
    """A COPY … FROM STDIN (FORMAT csv) into `table`, fed bytes from a thread while Python prepares more."""
    from psycopg.copy import QueuedLibpqWriter

    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    quoted = ", ".join(f'"{c}"' for c in columns)
    statement = f'COPY "{table}" ({quoted}) FROM STDIN (FORMAT csv)'
    return cursor.copy(statement, writer=QueuedLibpqWriter(cursor))
