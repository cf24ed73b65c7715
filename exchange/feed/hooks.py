"""Changes that reach the base tables outside a submission still reach the change feed.

A file loaded with `cpip load`, and a quarantined record that lands after being corrected, change the base
databases through code that may not import the exchange (imports flow one way). Both offer a hook called inside
their transaction; `register()` attaches the feed to them, so a subscriber never misses a change and a change
never appears without being committed. The composition root calls `register()` where those paths run: the
`cpip load` command and the worker.
"""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from basebases import ingest
from exchange.feed import service as feed
from exchange.resources import source_for_key
from exchange.webhooks.service import data_changed
from quality import submissions
from quality.models import QuarantinedRecord

# Changes read back and appended per round: bounded memory for a load that updates a million rows.
LOAD_CHUNK = 10_000


def record_load(conn: Connection, loaded: ingest.Loaded) -> None:
    """The load's inserts and updates as feed changes; a first load into an empty table as a restart."""
    if not (loaded.inserted or loaded.updated):
        return
    source = source_for_key(loaded.base)
    if source is None:
        raise LookupError(f"base database {loaded.base!r} has no exchange source")
    # Joins the load's transaction; closing it leaves that transaction to the load.
    with Session(bind=conn) as session:
        if loaded.was_empty:
            # A million inserts nobody could have held before: consumers re-read the resource instead.
            feed.restart(session, source.base)
            return
        table = source.table
        # Exactly the rows this load wrote: each carries its stamp, and unchanged rows were not rewritten.
        query = select(table).where(table.c.updated_at == loaded.stamp).order_by(source.pk).limit(LOAD_CHUNK)
        positions: list[int] = []
        after = None
        while rows := list(session.execute(query if after is None else query.where(source.pk > after)).mappings()):
            recorded = feed.record_changes(session, source.base, [feed.change_of(source, row, loaded.stamp)
                                                                  for row in rows],
                                           f"load:{loaded.load_id}", notify=False)
            positions.extend(recorded or ())
            after = rows[-1][source.pk.name]
        if positions:
            # One notice for the whole load, not one per chunk.
            data_changed(session, source.base, min(positions), max(positions))


def record_landed(session: Session, record: QuarantinedRecord) -> None:
    """A corrected record that has just landed, as a feed change of its base table."""
    source = source_for_key(record.resource)
    if source is None:
        return
    # The gate stamped the row during this recheck, which began at the record's updated_at.
    rows = feed.rows_written_since(session, source, record.updated_at, [record.record])
    feed.record_changes(session, source.base, [feed.change_of(source, row, record.updated_at) for row in rows],
                        f"quarantine:{record.id}")


def register() -> None:
    """Attach the feed to loads and to landed quarantine records (idempotent)."""
    ingest.on_loaded(record_load)
    submissions.on_landed(record_landed)
