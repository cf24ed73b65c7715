"""Build a table's secondary indexes and foreign keys after a bulk load instead of row by row (PostgreSQL only).

COPY of 1M persons into a table shaped like `persons` (PK, two btrees, the unique id_number, the foreign key to
buildings) takes ~10 s; COPY with only the primary key takes ~2.1 s and rebuilding the rest afterwards ~1.7 s
(PostgreSQL 15, 2 cores; pg_restore and pgloader split a load the same way). The caller uses this only for the
first load of an EMPTY table, in the load's own transaction:

    if lock_if_empty(conn, "persons"):
        with deferred_indexes(conn, "persons"):
            copy rows ...

Everything happens in the caller's transaction, so a failure anywhere (a duplicate key or a dangling foreign key
found while rebuilding, or an error in the load itself) rolls back to the original table, indexes and all.

What is deferred: every index but the primary key's (kept unless `keep_primary_key=False`: a sequential id is
cheap to maintain, ~0.4 s per 1M rows, but building it afterwards is cheaper still), including the
indexes of UNIQUE and EXCLUDE constraints, and the table's own foreign keys. What stays in place, because dropping
it would be refused or would not come back identical: an index a foreign key references (PostgreSQL refuses to
drop it without CASCADE), the replica-identity index, the CLUSTER index, an invalid index, and an exclusion
constraint whose index has WITH options. Comments and tablespaces of the dropped objects are restored.
Partitions and partitioned tables are refused.

Locks, read from pg_locks by a second session during the load's transaction (PostgreSQL 15):

- the table itself: AccessExclusiveLock from `lock_if_empty` (or the first DROP) to the end of the transaction,
  so nobody else reads or writes it meanwhile.
- the table a dropped foreign key references (`buildings` for persons): DROP CONSTRAINT of the foreign key takes
  AccessExclusiveLock on it as well (its RI triggers live on that table), held until commit. While a first
  population load runs, every read of `buildings` (REST, GraphQL, exports, another loader's lookups) waits for
  the whole load, and the DROP itself queues behind any open transaction that has read `buildings`. Re-adding the
  foreign key takes ShareRowExclusiveLock + RowShareLock there, which changes nothing once the stronger lock is
  held. With `keep_foreign_keys=True` the foreign key stays: `buildings` remains readable (a row-by-row check
  takes RowShareLock and FOR KEY SHARE row locks, which block only deletes and key updates of the referenced
  buildings), at a measured cost of ~3.6 s more per 1M rows (COPY 5.9 s instead of 2.2 s).

The foreign key comes back through one validating ADD CONSTRAINT: ADD .. NOT VALID plus VALIDATE CONSTRAINT runs
the same anti-join (0.16 s either way for 1M rows) and only helps when the two steps are in separate
transactions, to validate under a weaker lock, which a load that must land whole cannot do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from cpip.errors import ValidationFailed

# The unique index on 1M id_numbers sorts in 79 MB (trace_sort), so the default 64 MB spills to disk, and a parallel
# build splits the memory between leader and workers (256 MB: 2 workers, 0.77 s; 64 MB: 1 worker, 0.97 s; 1 GB
# gained nothing). Transaction-scoped (set_config .., true), only raised, and restored after the rebuild.
MAINTENANCE_WORK_MEM = "256MB"
_MAINTENANCE_WORK_MEM_KB = 256 * 1024

Kind = Literal["index", "primary key", "unique constraint", "exclusion constraint", "foreign key"]

_VIOLATIONS = {
    "23505": "some values occur more than once",
    "23P01": "some rows conflict with each other",
    "23503": "some rows reference a key that does not exist",
}


class DeferredConstraintViolated(ValidationFailed):
    """The bulk-loaded rows break a unique, exclusion or foreign-key constraint that was rebuilt after the load;
    the load's transaction is rolled back, so the table is as it was before."""

    slug, title = "load-constraint-violated", "The loaded rows break a constraint of the table"


@dataclass(frozen=True)
class DeferredObject:
    """An index or constraint dropped for the load, with what it takes to drop and recreate it identically."""

    kind: Kind
    name: str
    definition: str  # pg_get_indexdef for a plain index, pg_get_constraintdef for a constraint
    drop_sql: str
    create_sql: tuple[str, ...]
    tablespace: str | None = None  # of an index: its tablespace, "" for the database's default
    comment_sql: tuple[str, ...] = ()


def _table_oid(conn: Connection, table_name: str, schema: str | None) -> int:
    """The table's oid, resolving the name exactly (quoted) on the search path or in `schema`."""
    if conn.dialect.name != "postgresql":
        raise ValueError("deferring indexes is only implemented for PostgreSQL")
    row = conn.execute(text(
        "SELECT c.oid, c.relkind, c.relispartition FROM pg_class c "
        "WHERE c.oid = to_regclass(CASE WHEN CAST(:schema AS text) IS NULL THEN format('%I', CAST(:name AS text)) "
        "ELSE format('%I.%I', CAST(:schema AS text), CAST(:name AS text)) END)"),
        {"name": table_name, "schema": schema}).one_or_none()
    if row is None:
        raise LookupError(f"no table {table_name!r}" + (f" in schema {schema!r}" if schema else ""))
    if row.relkind != "r" or row.relispartition:
        # A partition's indexes are attached to its parent's and cannot be dropped on their own.
        raise ValueError(f"{table_name!r} is partitioned or a partition; deferring its indexes is not supported")
    return int(row.oid)


def _quoted(conn: Connection, table_name: str, schema: str | None) -> str:
    quote = conn.dialect.identifier_preparer.quote_identifier
    return (quote(schema) + "." if schema else "") + quote(table_name)


def lock_if_empty(conn: Connection, table_name: str, *, schema: str | None = None) -> bool:
    """True when the table is empty and now locked ACCESS EXCLUSIVE until the end of the transaction.

    Checks cheaply before locking, so a non-empty table is not locked at all; checks again after locking, since
    another session may have committed rows in between. When that second check finds rows the lock is still held
    (PostgreSQL cannot release it before the transaction ends). Needs READ COMMITTED: under a transaction-wide
    snapshot the second check could not see rows committed before the lock was granted.
    """
    if conn.dialect.name != "postgresql":
        raise ValueError("lock_if_empty is only implemented for PostgreSQL")
    isolation = conn.scalar(text("SELECT current_setting('transaction_isolation')"))
    if isolation != "read committed":
        raise RuntimeError(f"lock_if_empty needs a READ COMMITTED transaction, not {isolation}")
    target = _quoted(conn, table_name, schema)
    is_empty = text(f"SELECT NOT EXISTS (SELECT FROM {target})")  # noqa: S608 (quoted identifier)
    if not conn.scalar(is_empty):
        return False
    conn.execute(text(f"LOCK TABLE {target} IN ACCESS EXCLUSIVE MODE"))
    return bool(conn.scalar(is_empty))


# pg_get_indexdef carries an index's columns, opclasses, INCLUDE, NULLS NOT DISTINCT, WITH options and predicate,
# but not its tablespace, which is restored through default_tablespace as pg_dump does. A unique constraint comes
# back as that index plus ADD CONSTRAINT .. USING INDEX, because pg_get_constraintdef drops the WITH options. An
# exclusion constraint has no USING INDEX form; one with WITH options on its index stays in place.
_INDEXES = text("""
SELECT ic.relname AS name,
       pg_get_indexdef(i.indexrelid) AS indexdef,
       format('%I.%I', ns.nspname, ic.relname) AS qualified,
       COALESCE(ts.spcname, '') AS tablespace,
       con.conname, con.contype, con.condeferrable, con.condeferred,
       pg_get_constraintdef(con.oid) AS condef,
       obj_description(i.indexrelid, 'pg_class') AS index_comment,
       obj_description(con.oid, 'pg_constraint') AS constraint_comment,
       ((i.indisprimary AND :keep_primary) OR i.indisreplident OR i.indisclustered OR NOT i.indisvalid
        OR COALESCE(con.contype = 'x' AND ic.reloptions IS NOT NULL, false)
        OR EXISTS (SELECT FROM pg_constraint fk WHERE fk.contype = 'f' AND fk.conindid = i.indexrelid)) AS keep
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace ns ON ns.oid = ic.relnamespace
LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                           AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = :oid
ORDER BY ic.relname
""")

_FOREIGN_KEYS = text("""
SELECT con.conname AS name, pg_get_constraintdef(con.oid) AS condef,
       obj_description(con.oid, 'pg_constraint') AS constraint_comment
FROM pg_constraint con
WHERE con.conrelid = :oid AND con.contype = 'f'
ORDER BY con.conname
""")


def _comment(conn: Connection, target: str, comment: str | None) -> tuple[str, ...]:
    """The COMMENT statement restoring `comment` on `target` (an already quoted object reference), if any."""
    if comment is None:
        return ()
    literal: str = conn.scalar(text("SELECT quote_literal(CAST(:v AS text))"), {"v": comment})
    return (f"COMMENT ON {target} IS {literal}",)


def _deferrable(conn: Connection, table_name: str, schema: str | None, *,
                keep_foreign_keys: bool, keep_primary_key: bool) -> list[DeferredObject]:
    """What to drop, in the order to recreate it: plain indexes, then constraints, then foreign keys."""
    oid = _table_oid(conn, table_name, schema)
    table = _quoted(conn, table_name, schema)
    quote = conn.dialect.identifier_preparer.quote_identifier
    plain: list[DeferredObject] = []
    constraints: list[DeferredObject] = []
    for row in conn.execute(_INDEXES, {"oid": oid, "keep_primary": keep_primary_key}).mappings():
        if row["keep"]:
            continue
        index_comment = _comment(conn, f"INDEX {row['qualified']}", row["index_comment"])
        if row["conname"] is None:
            plain.append(DeferredObject("index", row["name"], row["indexdef"], f"DROP INDEX {row['qualified']}",
                                        (row["indexdef"],), row["tablespace"], index_comment))
            continue
        name = quote(row["conname"])
        drop = f"ALTER TABLE {table} DROP CONSTRAINT {name}"
        comments = _comment(conn, f"CONSTRAINT {name} ON {table}", row["constraint_comment"]) + index_comment
        if row["contype"] in ("u", "p"):
            timing = (" DEFERRABLE" if row["condeferrable"] else "") + (
                " INITIALLY DEFERRED" if row["condeferred"] else "")
            kind: Kind = "unique constraint" if row["contype"] == "u" else "primary key"
            keyword = "UNIQUE" if row["contype"] == "u" else "PRIMARY KEY"
            create = (row["indexdef"], f"ALTER TABLE {table} ADD CONSTRAINT {name} {keyword} USING INDEX "
                                       f"{quote(row['name'])}{timing}")
            constraints.append(DeferredObject(kind, row["conname"], row["condef"], drop, create,
                                              row["tablespace"], comments))
        else:
            constraints.append(DeferredObject(
                "exclusion constraint", row["conname"], row["condef"], drop,
                (f"ALTER TABLE {table} ADD CONSTRAINT {name} {row['condef']}",), row["tablespace"], comments))
    foreign: list[DeferredObject] = []
    if not keep_foreign_keys:
        for row in conn.execute(_FOREIGN_KEYS, {"oid": oid}).mappings():
            name = quote(row["name"])
            # A NOT VALID foreign key's definition says so, and it comes back unvalidated, as it was.
            foreign.append(DeferredObject(
                "foreign key", row["name"], row["condef"], f"ALTER TABLE {table} DROP CONSTRAINT {name}",
                (f"ALTER TABLE {table} ADD CONSTRAINT {name} {row['condef']}",), None,
                _comment(conn, f"CONSTRAINT {name} ON {table}", row["constraint_comment"])))
    return plain + constraints + foreign


def _set_local(conn: Connection, name: str, value: str) -> None:
    conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})


def _raise_maintenance_work_mem(conn: Connection) -> None:
    """Give the index sorts memory for this transaction (SET LOCAL); never lowers a larger setting."""
    current_kb = int(conn.scalar(text(
        "SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'")) or 0)
    if current_kb < _MAINTENANCE_WORK_MEM_KB:
        _set_local(conn, "maintenance_work_mem", MAINTENANCE_WORK_MEM)


def _recreate(conn: Connection, table_name: str, objects: list[DeferredObject]) -> None:
    settings = {name: str(conn.scalar(text("SELECT current_setting(:name)"), {"name": name}))
                for name in ("maintenance_work_mem", "default_tablespace")}
    _raise_maintenance_work_mem(conn)
    for obj in objects:
        if obj.tablespace is not None:
            _set_local(conn, "default_tablespace", obj.tablespace)
        try:
            for statement in obj.create_sql:
                conn.execute(text(statement))
        except DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate in _VIOLATIONS:
                # The key values stay in the chained database error: they may be personal identifiers.
                raise DeferredConstraintViolated(
                    f"the loaded rows break {obj.kind} {obj.name!r} of {table_name} ({obj.definition}): "
                    f"{_VIOLATIONS[sqlstate]}", constraint=obj.name, table=table_name) from exc
            exc.add_note(f"while recreating {obj.kind} {obj.name!r} of {table_name} after a bulk load")
            raise
        for statement in obj.comment_sql:
            conn.execute(text(statement))
    # The rest of the caller's transaction runs with its own settings again.
    for name, value in settings.items():
        _set_local(conn, name, value)


@contextmanager
def deferred_indexes(conn: Connection, table_name: str, *, schema: str | None = None,
                     keep_foreign_keys: bool = False, keep_primary_key: bool = True) -> Iterator[list[DeferredObject]]:
    """Drop the table's secondary indexes, unique/exclusion constraints and foreign keys; on a normal exit,
    recreate them with their original names and definitions (indexes, then constraints, then foreign keys).

    Runs in the caller's transaction and takes ACCESS EXCLUSIVE locks on the table and, for each dropped foreign
    key, on the table it references (see the module docstring). A body that raises leaves the recreation to the
    caller's rollback. A rebuild that finds duplicate or dangling keys raises `DeferredConstraintViolated` naming
    the constraint; the transaction is then aborted and must be rolled back. Yields what was dropped.
    """
    objects = _deferrable(conn, table_name, schema, keep_foreign_keys=keep_foreign_keys,
                          keep_primary_key=keep_primary_key)
    for obj in reversed(objects):
        conn.execute(text(obj.drop_sql))
    yield objects
    _recreate(conn, table_name, objects)

