"""Reading stored events exactly as the chain hashes them, fast enough for millions of rows.

The sealer and `cpip audit verify` both read through here, so what is sealed and what is verified are the same
bytes. Statements go straight to the driver: ORM objects and JSON parsing cost more than the hashing itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from security.audit.chain import CONTENT_FIELDS, JSON_FIELDS

# Each row: the CONTENT_FIELDS values, then chain_hash, then id.
CHAIN_HASH = len(CONTENT_FIELDS)
ROW_ID = CHAIN_HASH + 1
SEQ = CONTENT_FIELDS.index("seq")
OCCURRED_AT = CONTENT_FIELDS.index("occurred_at")
STREAM_BATCH = 20_000


def _columns(dialect: str) -> str:
    def column(name: str) -> str:
        if name in JSON_FIELDS:
            # The stored text, unparsed: PostgreSQL's json type keeps its input verbatim.
            return f"{name}::text" if dialect == "postgresql" else f"CAST({name} AS TEXT)"
        return name

    return ", ".join([*(column(c) for c in CONTENT_FIELDS), "chain_hash", "id"])


def _param(dialect: str, name: str) -> str:
    # exec_driver_sql takes the driver's own style: pyformat (psycopg) or named (sqlite3).
    return f"%({name})s" if dialect == "postgresql" else f":{name}"


def prepare(conn: Connection) -> None:
    """Make the driver return times in UTC, for this transaction only."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")


def _fix_sqlite_row(row: Any) -> list[Any]:
    values = list(row)
    stored = values[OCCURRED_AT]
    if isinstance(stored, str):
        values[OCCURRED_AT] = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    return values


def stream_sealed(conn: Connection, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Sequence[Any]]:
    """Sealed events in seq order, from the database in batches (server-side cursor on PostgreSQL)."""
    dialect = conn.dialect.name
    prepare(conn)
    where = f"seq >= {_param(dialect, 'lo')}"
    params: dict[str, Any] = {"lo": from_seq}
    if to_seq is not None:
        where += f" AND seq <= {_param(dialect, 'hi')}"
        params["hi"] = to_seq
    sql = f"SELECT {_columns(dialect)} FROM audit_events WHERE {where} ORDER BY seq"  # noqa: S608
    if dialect == "postgresql":
        # psycopg's own server-side cursor, in this connection's transaction: plain tuples, no Row objects.
        driver: Any = conn.connection.dbapi_connection
        with driver.cursor(name="cpip_audit_stream") as cursor:
            cursor.itersize = STREAM_BATCH
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(STREAM_BATCH):
                yield from batch
        return
    # Per statement: Connection.execution_options() would change the connection itself.
    result = conn.exec_driver_sql(sql, params,
                                  execution_options={"stream_results": True, "yield_per": STREAM_BATCH})
    for partition in result.partitions():
        yield from (_fix_sqlite_row(row) for row in partition)


def unsealed(conn: Connection, limit: int) -> list[list[Any]]:
    """The oldest unsealed events by id (their `seq` value is None)."""
    dialect = conn.dialect.name
    prepare(conn)
    sql = (f"SELECT {_columns(dialect)} FROM audit_events WHERE seq IS NULL "  # noqa: S608
           f"ORDER BY id LIMIT {int(limit)}")
    rows = conn.exec_driver_sql(sql).all()
    if dialect == "postgresql":
        return [list(row) for row in rows]
    return [_fix_sqlite_row(row) for row in rows]

