"""`cpip audit verify`: recompute the chain from the stored events and check every signed checkpoint.

What each kind of tampering looks like here (n = the position reported):
- an event changed in place: its link breaks at n (its stored hash no longer follows from its content);
- an event removed: seq n is missing (the chain also breaks at the next event);
- an event inserted or events reordered: the first moved or forged position breaks its link; when the forger
  also recomputed every later hash, the chain still disagrees with the next signed checkpoint, and the report
  names that checkpoint's range;
- the end of the log cut off: the newest checkpoint names a seq beyond the last event; n is the first missing;
- a checkpoint forged or altered: its signature does not verify under the trusted keys;
- the newest events deleted *together with* their checkpoints: invisible to the database alone, so
  `cpip audit anchor` exports the newest signed checkpoint for safekeeping outside the database, and
  `verify(..., anchors=…)` (`cpip audit verify --anchor FILE`) holds the log to it like to a stored checkpoint.

After a broken link, checking resumes from the stored hash, so one change yields one problem and further,
independent changes are still found.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard

from sqlalchemy import Connection, Engine, create_engine, select
from sqlalchemy.orm import Session

from security.audit import rows
from security.audit.chain import GENESIS, VerifyKey, canonical_event, checkpoint_message
from security.audit.models import AuditCheckpoint

MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # missing | duplicate | broken-link | checkpoint-mismatch | bad-signature | unknown-key | truncated
    message: str

    def line(self) -> str:
        return f"seq {self.seq}: {self.kind}: {self.message}"


@dataclass
class VerifyReport:
    events: int = 0
    last_seq: int = 0
    checkpoints: int = 0
    last_checkpoint_seq: int | None = None
    last_checkpoint_at: datetime | None = None
    unsealed: int = 0
    seconds: float = 0.0
    segments: int = 1
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.seq) if self.problems else None

    @property
    def uncovered(self) -> int:
        """Sealed events after the newest checkpoint: chained, but no signature vouches for them yet."""
        return max(self.last_seq - (self.last_checkpoint_seq or 0), 0)

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


@dataclass(frozen=True)
class _Checkpoint:
    id: int
    seq: int
    chain_hash: str
    label: str = ""  # how problems name it

    @property
    def name(self) -> str:
        return self.label or f"signed checkpoint #{self.id}"


ANCHOR_FORMAT = "cpip-audit-anchor/1"


class AnchorError(ValueError):
    """A file that is not an anchor `cpip audit anchor` wrote."""


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint kept outside the database (`cpip audit anchor`)."""

    seq: int
    chain_hash: str
    signed_at: datetime
    key_id: str
    signature: str

    @classmethod
    def of(cls, checkpoint: AuditCheckpoint) -> Anchor:
        return cls(checkpoint.seq, checkpoint.chain_hash, checkpoint.signed_at, checkpoint.key_id,
                   checkpoint.signature)

    def as_json(self) -> dict[str, Any]:
        return {"format": ANCHOR_FORMAT, "seq": self.seq, "chain_hash": self.chain_hash,
                "signed_at": self.signed_at.isoformat(), "key_id": self.key_id, "signature": self.signature}

    @classmethod
    def from_json(cls, data: Any) -> Anchor:
        if not isinstance(data, dict) or data.get("format") != ANCHOR_FORMAT:
            raise AnchorError(f"not an audit anchor (expected format {ANCHOR_FORMAT!r})")
        try:
            signed_at = datetime.fromisoformat(str(data["signed_at"]))
            anchor = cls(int(data["seq"]), str(data["chain_hash"]), signed_at, str(data["key_id"]),
                         str(data["signature"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AnchorError(f"the anchor is incomplete or malformed ({exc})") from exc
        if signed_at.tzinfo is None or anchor.seq < 1 or not _is_hex64(anchor.chain_hash):
            raise AnchorError("the anchor's seq, chain_hash or signed_at is not what `cpip audit anchor` writes")
        return anchor


def newest_anchor(session: Session) -> Anchor | None:
    """The newest signed checkpoint, to be kept where whoever can write the database cannot."""
    newest = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc(),
                                                               AuditCheckpoint.id.desc()).limit(1)).first()
    return Anchor.of(newest) if newest is not None else None


def _check_anchors(anchors: Iterable[Anchor], keys: dict[str, VerifyKey], report: VerifyReport) -> list[_Checkpoint]:
    trusted: list[_Checkpoint] = []
    for anchor in anchors:
        label = f"the anchor for seq {anchor.seq} (signed {anchor.signed_at.isoformat()})"
        key = keys.get(anchor.key_id)
        if key is None:
            report.add(Problem(anchor.seq, "unknown-key", f"{label} is signed by key {anchor.key_id}, which is "
                                                          "not trusted (pass it with --trust-key)"))
        elif not key.verify(anchor.signature, checkpoint_message(anchor.seq, anchor.chain_hash, anchor.signed_at,
                                                                 anchor.key_id)):
            report.add(Problem(anchor.seq, "bad-signature", f"{label} does not carry a valid signature"))
        else:
            trusted.append(_Checkpoint(-1, anchor.seq, anchor.chain_hash, label))
    return trusted


def _check_signatures(checkpoints: Iterable[AuditCheckpoint], keys: dict[str, VerifyKey],
                      report: VerifyReport) -> list[_Checkpoint]:
    trusted: list[_Checkpoint] = []
    for cp in checkpoints:
        report.checkpoints += 1
        key = keys.get(cp.key_id)
        if key is None:
            report.add(Problem(cp.seq, "unknown-key", f"checkpoint #{cp.id} is signed by key {cp.key_id}, "
                                                      "which is not trusted (pass it with --trust-key)"))
            continue
        if not key.verify(cp.signature, checkpoint_message(cp.seq, cp.chain_hash, cp.signed_at, cp.key_id)):
            report.add(Problem(cp.seq, "bad-signature",
                               f"checkpoint #{cp.id} (seq {cp.seq}) does not carry a valid signature"))
            continue
        trusted.append(_Checkpoint(cp.id, cp.seq, cp.chain_hash))
        if report.last_checkpoint_seq is None or cp.seq >= report.last_checkpoint_seq:
            report.last_checkpoint_seq, report.last_checkpoint_at = cp.seq, cp.signed_at
    return trusted


@dataclass(frozen=True)
class _Segment:
    """A seq range walked on its own: it starts after a signed checkpoint, from that checkpoint's hash."""

    first_seq: int
    last_seq: int | None  # None: to the end of the log
    start_hash: bytes


def _segments(trusted: list[_Checkpoint], last_seq: int, workers: int) -> list[_Segment]:
    if workers < 2 or last_seq == 0:
        return [_Segment(1, None, GENESIS)]
    # Split only at signed checkpoints: their signature vouches for the chain hash a segment starts from.
    boundaries: list[_Checkpoint] = []
    for part in range(1, workers):
        target = last_seq * part // workers
        below = [cp for cp in trusted if cp.seq <= target and (not boundaries or cp.seq > boundaries[-1].seq)]
        if below:
            boundaries.append(max(below, key=lambda cp: cp.seq))
    segments, first, start = [], 1, GENESIS
    for cp in boundaries:
        segments.append(_Segment(first, cp.seq, start))
        first, start = cp.seq + 1, bytes.fromhex(cp.chain_hash)
    segments.append(_Segment(first, None, start))
    return segments


def _walk_segment(url: str, segment: _Segment, at_seq: dict[int, list[_Checkpoint]]) -> VerifyReport:
    engine = create_engine(url)
    try:
        report = VerifyReport()
        with engine.connect() as conn:
            _walk(conn, report, at_seq, segment)
            conn.rollback()
        return report
    finally:
        engine.dispose()


def verify(engine: Engine, keys: Iterable[VerifyKey], workers: int = 1,
           min_segment_events: int = 100_000, anchors: Iterable[Anchor] = ()) -> VerifyReport:
    """Check the whole sealed log; the report's first problem is the first bad position.

    With `workers` > 1 (PostgreSQL), ranges between signed checkpoints are walked by separate processes:
    reading and hashing a million rows is CPU-bound on the client, and a checkpoint's signature makes the
    hash a range starts from as trustworthy as walking there.
    """
    started = time.perf_counter()
    report = VerifyReport()
    by_id = {k.key_id: k for k in keys}
    # Checkpoints first: a seal committing meanwhile only adds events they do not cover yet, whereas the
    # other order could show a fresh checkpoint beyond the events read, i.e. a false truncation.
    with Session(engine) as session:
        checkpoints = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).all()
        trusted = _check_signatures(checkpoints, by_id, report)
    # Anchors count like stored checkpoints, whatever became of those: a tail cut off together with its
    # checkpoints is still short of the anchor's seq, and a rewritten chain still misses its hash.
    trusted += _check_anchors(anchors, by_id, report)
    at_seq: dict[int, list[_Checkpoint]] = {}
    for cp in trusted:
        at_seq.setdefault(cp.seq, []).append(cp)
    with engine.connect() as conn:
        last_seq = int(conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM audit_events").scalar_one())
        report.unsealed = int(conn.exec_driver_sql(
            "SELECT count(*) FROM audit_events WHERE seq IS NULL").scalar_one())
        conn.rollback()
    # Starting processes costs about a second: worth it only for long ranges.
    parallel = min(workers, max(1, last_seq // max(min_segment_events, 1)))
    if engine.dialect.name != "postgresql":
        parallel = 1
    segments = _segments(trusted, last_seq, parallel)
    report.segments = len(segments)
    if len(segments) == 1:
        with engine.connect() as conn:
            _walk(conn, report, at_seq, segments[0])
            conn.rollback()
    else:
        url = engine.url.render_as_string(hide_password=False)
        with ProcessPoolExecutor(len(segments), mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_walk_segment, [url] * len(segments), segments, [at_seq] * len(segments)))
        for part in parts:
            report.events += part.events
            report.last_seq = max(report.last_seq, part.last_seq)
            for problem in part.problems:
                report.add(problem)
    newest = max(trusted, key=lambda cp: cp.seq, default=None)
    if newest is not None and newest.seq > report.last_seq:
        report.add(Problem(report.last_seq + 1, "truncated",
                           f"{newest.name} covers the log up to seq {newest.seq}, but it ends at seq "
                           f"{report.last_seq}: {newest.seq - report.last_seq} event(s) from seq "
                           f"{report.last_seq + 1} on are gone"))
    report.seconds = time.perf_counter() - started
    return report


def _walk(conn: Connection, report: VerifyReport, at_seq: dict[int, list[_Checkpoint]],
          segment: _Segment) -> None:
    # Two chains: `stored` resynchronises on each event's stored hash, so every change is reported where it
    # is; `computed` runs from the segment's start on content alone, and is what the signed checkpoints must
    # match (a forger who rewrote every later hash passes the first check, never the second).
    stored = computed = segment.start_hash
    expected = segment.first_seq
    sha256 = hashlib.sha256
    end, seq_at = rows.CHAIN_HASH, rows.SEQ
    for row in rows.stream_sealed(conn, segment.first_seq, segment.last_seq):
        seq: int = row[seq_at]
        stored_hex: str | None = row[end]
        if seq > expected:
            report.add(Problem(expected, "missing", f"seq {expected}" + (
                f" to {seq - 1} are" if seq - 1 > expected else " is") + " missing from the log"))
        elif seq < expected:
            report.add(Problem(seq, "duplicate", f"seq {seq} appears more than once"))
        canonical = canonical_event(row)
        link = sha256(stored + canonical).digest()
        computed = link if computed == stored else sha256(computed + canonical).digest()
        if link.hex() == stored_hex:
            stored = link
        else:
            report.add(Problem(seq, "broken-link",
                               f"the event at seq {seq} does not match its chain hash: it was changed, or it "
                               f"(or seq {seq - 1} before it) was inserted, removed or moved"))
            stored = bytes.fromhex(stored_hex) if _is_hex64(stored_hex) else link
        for cp in at_seq.get(seq, ()):
            if cp.chain_hash != computed.hex():
                report.add(Problem(seq, "checkpoint-mismatch",
                                   f"{cp.name} vouches for a different chain up to seq {seq}: "
                                   "an event at or before this position was changed, inserted, removed or "
                                   "moved"))
                # Trust the signature from here on, so later checkpoints are judged on their own range.
                computed = bytes.fromhex(cp.chain_hash)
        report.events += 1
        report.last_seq = max(report.last_seq, seq)
        expected = max(expected, seq) + 1
    if segment.last_seq is not None and expected <= segment.last_seq:
        # The range ends at a checkpoint; events missing just before it have no later event to reveal them.
        report.add(Problem(expected, "missing", f"seq {expected}" + (
            f" to {segment.last_seq} are" if segment.last_seq > expected else " is") + " missing from the log"))


def _is_hex64(value: str | None) -> TypeGuard[str]:
    if value is None or len(value) != 64:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True
