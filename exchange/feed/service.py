"""Writing and reading the change feed.

Ordering without gaps or duplicates under concurrent writers: a writer takes its positions by incrementing
the stream's counter row (`UPDATE … RETURNING`) inside the same transaction that changes the data. The row
stays locked until that transaction ends, so the next writer of the stream gets its positions only after the
previous one committed (or rolled back, leaving the counter untouched). Positions therefore become visible
in order, and a reader that has seen position N will never later find a smaller one appear. A reader reads
the counter first and then only positions up to it, so it never waits on, or skips past, uncommitted work.
Writers should record their changes last in their transaction: the lock is held from then until commit.

Retention: changes older than `CPIP_EXCHANGE_FEED_RETENTION_DAYS` (default 90) are removed by `prune()`
(job `exchange.feed.prune`, or `cpip exchange prune-feed`). A cursor older than what was removed gets
410 Gone: the consumer re-reads the resource (query or export) and continues from the position given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import DateTime, Table, Text, cast, delete, func, insert, select, tuple_, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from basebases import bulk
from cpip.clock import utcnow
from cpip.errors import BadRequest, ProblemError
from exchange.delivery.view import View, plain
from exchange.feed.models import FeedChange, FeedCounter
from exchange.resources import Source
from exchange.webhooks.service import data_changed

_counters: Table = FeedCounter.__table__  # type: ignore[assignment]
_changes: Table = FeedChange.__table__  # type: ignore[assignment]
_RAW_TIME = DateTime(timezone=True)


class FeedCursorExpired(ProblemError):
    """The changes after this cursor were removed by the feed's retention period: re-read the resource (query or
    export) and continue the feed from `resume_after`."""

    slug, status, title = "exchange-feed-cursor-expired", 410, "The feed no longer holds changes this old"


@dataclass(frozen=True)
class Change:
    op: str                   # insert | update | delete
    record_key: str
    region_code: str | None
    data: dict[str, Any]      # JSON values of the record's fields (before the change, for a delete)


@dataclass(frozen=True)
class FeedPage:
    changes: list[dict[str, Any]]
    next_after: int
    head: int
    subject_keys: list[str] = field(default_factory=list)


def _ensure_counter(session: Session, stream: str, now: datetime) -> None:
    exists = session.execute(select(_counters.c.stream).where(_counters.c.stream == stream)).first()
    if exists is not None:
        return
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(make(_counters).values(stream=stream, last_position=0, pruned_through=0, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["stream"]))


def record_changes(session: Session, stream: str, changes: Sequence[Change], origin: str, *,
                   notify: bool = True) -> tuple[int, int] | None:
    """Append `changes` to `stream` in this transaction; returns the (first, last) positions they got.

    `notify=False` leaves telling subscribers (`data_changed`) to a caller appending in several rounds."""
    if not changes:
        return None
    now = utcnow()
    _ensure_counter(session, stream, now)
    last: int = session.execute(
        update(_counters).where(_counters.c.stream == stream)
        .values(last_position=_counters.c.last_position + len(changes), updated_at=now)
        .returning(_counters.c.last_position)).scalar_one()
    first = last - len(changes) + 1
    rows = [{"stream": stream, "position": first + i, "op": c.op, "record_key": c.record_key[:200],
             "region_code": c.region_code, "data": c.data, "origin": origin[:100], "changed_at": now}
            for i, c in enumerate(changes)]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # COPY: the driver's executemany sends one INSERT per change (~28 µs each, 2.8 s for a load's 100k).
        columns = list(rows[0])
        bulk.copy_rows(connection, _changes, columns, bulk.as_tuples(_changes, columns, rows))
    else:
        session.execute(insert(_changes), rows)
    # Subscribers learn of the new positions in the same transaction (outbox): no change without its event.
    if notify:
        data_changed(session, stream, first, last)
    return first, last


def rows_written_since(session: Session, source: Source, since: datetime, rows: list[dict[str, Any]]) -> list[Any]:
    """Rows of the base table written at or after `since` among `rows`' keys (inserted or updated), as raw
    records give them (a key may still carry spaces or a lower-case x)."""
    table: Table = source.table
    query = select(table).where(table.c.updated_at >= since)
    keys = source.key_columns
    if len(keys) == 1:
        raw = {str(r.get(keys[0])) for r in rows if r.get(keys[0]) not in (None, "")}
        variants = raw | {v.strip() for v in raw} | {v.strip().upper() for v in raw}
        query = query.where(table.c[keys[0]].in_(sorted(variants)))
    else:
        wanted = {tuple(str(r.get(k, "")).strip() for k in keys) for r in rows}
        query = query.where(tuple_(*(table.c[k] for k in keys)).in_(sorted(wanted)))
    return list(session.execute(query.order_by(source.pk)).mappings())


def change_of(source: Source, row: Any, since: datetime) -> Change:
    """A stored row as a feed change: an insert if the row was created at or after `since`, else an update."""
    data = {name: plain(row[name]) for name in source.fields}
    region = row[source.region_column] if source.region_column else None
    op = "insert" if row["created_at"] >= since else "update"
    return Change(op, "/".join(str(row[k]) for k in source.key_columns), region, data)


def restart(session: Session, stream: str) -> int:
    """Record that the stream's resource was filled wholesale (a first bulk load into an empty table).

    No change per record: the stream takes one new position and counts everything up to it as pruned, so a
    consumer behind it gets 410 with `resume_after` — re-read the resource, continue from there — exactly as
    after retention. Subscribers are told of the position. Returns it.
    """
    now = utcnow()
    _ensure_counter(session, stream, now)
    position: int = session.execute(
        update(_counters).where(_counters.c.stream == stream)
        .values(last_position=_counters.c.last_position + 1, pruned_through=_counters.c.last_position + 1,
                updated_at=now)
        .returning(_counters.c.last_position)).scalar_one()
    data_changed(session, stream, position, position)
    return position


def head(session: Session, stream: str) -> tuple[int, int]:
    """(last committed position, position through which changes were pruned) of a stream."""
    row = session.execute(select(_counters.c.last_position, _counters.c.pruned_through)
                          .where(_counters.c.stream == stream)).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _iso_utc(moment: datetime) -> str:
    # SQLite hands back the stored UTC time without its zone; PostgreSQL an aware time in the session's zone.
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).isoformat()


def read_changes(session: Session, view: View, *, after: int = 0, limit: int = 1000) -> FeedPage:
    """The changes after `after` that the view may see, oldest first, with the cursor to continue from."""
    stream = view.source.base
    last, pruned = head(session, stream)
    if after < 0 or after > last:
        raise BadRequest(f"after={after} is not a position of this feed (it ends at {last})", errors=[
            {"field": "query.after", "message": f"must be between 0 and {last}", "rule": "range"}])
    if after < pruned:
        raise FeedCursorExpired(f"changes up to position {pruned} were removed after the retention period; re-read "
                                f"the resource and continue from after={pruned}", resume_after=pruned)
    c = _changes.c
    # The snapshot as its stored text, parsed here with orjson: several times faster than the driver's json.
    # changed_at without the UTCDateTime processor: every change of one writer's transaction shares its
    # timestamp, so it is converted (to UTC, then ISO 8601) once per distinct value instead of once per row.
    query = (select(c.position, c.op, c.record_key, cast(c.data, Text), type_coerce(c.changed_at, _RAW_TIME))
             .where(c.stream == stream, c.position > after, c.position <= last).order_by(c.position).limit(limit))
    if view.region_prefix is not None:
        query = query.where(c.region_code.startswith(view.region_prefix, autoescape=True))
    rows: Sequence[Any] = session.execute(query).all()
    render, loads = view.json_renderer(), orjson.loads
    out: list[dict[str, Any]] = []
    append = out.append
    seen_time: Any = None
    iso = ""
    for position, op, _key, data, changed_at in rows:
        if changed_at != seen_time:
            seen_time, iso = changed_at, _iso_utc(changed_at)
        append({"position": position, "op": op, "changed_at": iso, "record": render(loads(data))})
    # Rows outside the view's region are skipped by the query; the cursor still moves past them, so the
    # consumer neither sees them nor re-scans them.
    next_after = rows[-1][0] if len(rows) == limit else last
    return FeedPage(out, next_after, last, [row[2] for row in rows])


def prune(session: Session, retention_days: int, now: datetime | None = None) -> dict[str, int]:
    """Remove changes older than the retention period, oldest first; returns removed counts per stream."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    c = _changes.c
    removed: dict[str, int] = {}
    through_by_stream = session.execute(
        select(c.stream, func.max(c.position)).where(c.changed_at < cutoff).group_by(c.stream)).all()
    for stream, through in through_by_stream:
        result = session.execute(delete(_changes).where(c.stream == stream, c.position <= through))
        removed[str(stream)] = int(result.rowcount)  # type: ignore[attr-defined]
        session.execute(update(_counters).where(_counters.c.stream == stream, _counters.c.pruned_through < through)
                        .values(pruned_through=through))
    return removed
