"""The sealer: the one place that assigns `seq`, extends the hash chain and signs checkpoints.

Events get ids when inserted, but ids are not a usable order: a rolled-back insert leaves a gap and concurrent
commits become visible out of id order. So the sealer, under a lock that makes it the only sealer, takes
whatever is committed and unsealed (in id order), numbers it last+1, last+2, … and chains it. Each batch
commits together with a signed checkpoint naming its last seq and hash, so a crash never leaves sealed events
that no checkpoint covers.

Periodic sealing: every process that writes audit events also enqueues one `audit.seal` job per time slot
(`CPIP_AUDIT_SEAL_INTERVAL_SECONDS`), in the same transaction as the events, with the idempotency key
`audit.seal:<slot start>` and run_after = the slot's end. So whenever events exist a seal job is due within
one slot, all gateway pods together make one job per slot, and an idle platform makes none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert, text, update

from cpip.clock import utcnow
from cpip.jobs import JobContext, job_handler
from cpip.settings import Settings, get_settings
from security.audit import rows
from security.audit.chain import GENESIS, SigningKey, canonical_event, chain_step, checkpoint_message
from security.audit.models import AuditCheckpoint, AuditEvent

log = logging.getLogger("cpip.audit.sealer")

SEAL_JOB = "audit.seal"
# pg_advisory_xact_lock key: "cpip" + "seal" in ASCII, so it cannot collide with another package's lock.
SEAL_LOCK_KEY = 0x63706970_7365616C
DEFAULT_BATCH = 5_000


@dataclass(frozen=True)
class SealResult:
    sealed: int
    last_seq: int
    checkpoints: int


def seal_slot(now: datetime, interval_seconds: int) -> tuple[str, datetime]:
    """The idempotency key of the slot containing `now`, and when its seal job should run."""
    epoch = int(now.timestamp())
    start = epoch - epoch % interval_seconds
    run_after = datetime.fromtimestamp(start, tz=now.tzinfo) + timedelta(seconds=interval_seconds)
    return f"{SEAL_JOB}:{start}", run_after


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEAL_LOCK_KEY})
    # SQLite: the sync engine begins every transaction IMMEDIATE (cpip.db), i.e. it holds the single write
    # lock already, so no other sealer (or writer) can interleave.


def _last_sealed(conn: Connection) -> tuple[int, bytes]:
    found = conn.execute(text(
        "SELECT seq, chain_hash FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)"
    )).first()
    if found is None:
        return 0, GENESIS
    return int(found[0]), bytes.fromhex(found[1])


def _seal_batch(conn: Connection, key: SigningKey, batch_size: int) -> tuple[int, int]:
    _lock(conn)
    last_seq, previous = _last_sealed(conn)
    pending = rows.unsealed(conn, batch_size)
    if not pending:
        return 0, last_seq
    updates: list[dict[str, Any]] = []
    seq = last_seq
    for row in pending:
        seq += 1
        row[rows.SEQ] = seq
        previous = chain_step(previous, canonical_event(row))
        updates.append({"row_id": row[rows.ROW_ID], "new_seq": seq, "new_hash": previous.hex()})
    events = cast(Table, AuditEvent.__table__)
    statement = (
        update(events)
        .where(events.c.id == bindparam("row_id"), events.c.seq.is_(None))
        .values(seq=bindparam("new_seq"), chain_hash=bindparam("new_hash"))
    )
    done = conn.execute(statement, updates).rowcount
    if done != len(updates):
        # Only possible if another sealer ran without the lock; committing would fork the chain.
        raise RuntimeError(f"sealed {done} of {len(updates)} events; another sealer interfered")
    _checkpoint(conn, key, seq, previous.hex())
    return len(updates), seq


def _checkpoint(conn: Connection, key: SigningKey, seq: int, chain_hash: str) -> None:
    signed_at = utcnow()
    verify_key = key.public
    signature = key.sign(checkpoint_message(seq, chain_hash, signed_at, verify_key.key_id))
    conn.execute(insert(AuditCheckpoint).values(seq=seq, chain_hash=chain_hash, signed_at=signed_at,
                                                key_id=verify_key.key_id, signature=signature))


def seal(engine: Engine, settings: Settings | None = None, *, batch_size: int = DEFAULT_BATCH,
         max_events: int | None = None) -> SealResult:
    """Seal everything committed and unsealed (or up to `max_events`); one transaction and checkpoint per batch."""
    settings = settings or get_settings()
    key = SigningKey.from_seed_b64(settings.audit_signing_key.get_secret_value())
    sealed = checkpoints = 0
    last_seq = 0
    while max_events is None or sealed < max_events:
        size = batch_size if max_events is None else min(batch_size, max_events - sealed)
        with engine.begin() as conn:
            count, last_seq = _seal_batch(conn, key, size)
        if count == 0:
            break
        sealed += count
        checkpoints += 1
    if sealed:
        log.info("audit events sealed", extra={"sealed": sealed, "last_seq": last_seq})
    return SealResult(sealed=sealed, last_seq=last_seq, checkpoints=checkpoints)


@job_handler(SEAL_JOB)
def seal_job(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    # Seals on its own transactions, not the job's: each batch must commit with its checkpoint, and a
    # sealed batch stays sealed even if this job is later retried.
    engine = ctx.session.get_bind()
    assert isinstance(engine, Engine)
    result = seal(engine)
    return {"sealed": result.sealed, "last_seq": result.last_seq, "checkpoints": result.checkpoints}
