"""Durable background jobs, run by `cpip worker`.

Why not a library: procrastinate and pgqueuer are PostgreSQL-only, and Celery/RQ/Dramatiq keep jobs in a
broker, so a job could exist although the caller's transaction rolled back. Here a job is a row written in the
caller's own transaction, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Engine, Index, Integer, String, Text, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from cpip.clock import utcnow
from cpip.db import Base
from cpip.errors import NotFound

log = logging.getLogger("cpip.jobs")


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    dead = "dead"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "run_after"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(50), default="default")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime]
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class JobNotFound(NotFound):
    slug, title = "job-not-found", "No such job"


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help: the job goes straight to `dead`."""


@dataclass(frozen=True)
class JobContext:
    job_id: int
    attempt: int
    session: Session


Handler = Callable[[JobContext, dict[str, Any]], Any]
_handlers: dict[str, Handler] = {}


def job_handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of `kind` (sync, or async run to completion)."""

    def register(fn: Handler) -> Handler:
        _handlers[kind] = fn
        return fn

    return register


def registered_kinds() -> list[str]:
    return sorted(_handlers)


def backoff_delay(attempt: int, base_seconds: float = 2.0, cap_seconds: float = 3600.0) -> timedelta:
    """Exponential backoff with ±20 % jitter, so failures of many jobs do not retry in lockstep."""
    delay = min(cap_seconds, base_seconds * 2 ** (attempt - 1))
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))


def _new_job(kind: str, payload: dict[str, Any], idempotency_key: str | None, max_attempts: int,
             run_after: datetime | None, queue: str) -> Job:
    now = utcnow()
    return Job(
        kind=kind, queue=queue, payload=payload, status=JobStatus.queued, attempts=0,
        max_attempts=max_attempts, run_after=run_after or now, idempotency_key=idempotency_key,
        created_at=now, updated_at=now,
    )


async def enqueue(
    session: AsyncSession, kind: str, payload: dict[str, Any] | None = None, *,
    idempotency_key: str | None = None, max_attempts: int = 5, run_after: datetime | None = None,
    queue: str = "default",
) -> Job:
    """Add a job to the caller's transaction: it exists only if that transaction commits."""
    if idempotency_key is not None:
        existing = await session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is not None:
            return existing
    job = _new_job(kind, payload or {}, idempotency_key, max_attempts, run_after, queue)
    try:
        async with session.begin_nested():
            session.add(job)
    except IntegrityError:
        # A concurrent caller won the race for the key; theirs is the job.
        found = await session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if found is None:
            raise
        return found
    return job


def enqueue_sync(
    session: Session, kind: str, payload: dict[str, Any] | None = None, *,
    idempotency_key: str | None = None, max_attempts: int = 5, run_after: datetime | None = None,
    queue: str = "default",
) -> Job:
    if idempotency_key is not None:
        existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is not None:
            return existing
    job = _new_job(kind, payload or {}, idempotency_key, max_attempts, run_after, queue)
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        found = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if found is None:
            raise
        return found
    return job


async def get_job(session: AsyncSession, job_id: int) -> Job:
    job = await session.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} does not exist")
    return job


def list_jobs(session: Session, status: str | None = None, limit: int = 50) -> list[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status:
        query = query.where(Job.status == status)
    return list(session.scalars(query))


def _claimable(now: datetime) -> Any:
    waiting = and_(Job.status == JobStatus.queued, Job.run_after <= now)
    abandoned = and_(Job.status == JobStatus.running, Job.locked_until < now)
    return or_(waiting, abandoned)


class Worker:
    """Claims one job at a time under a lease; a heartbeat renews the lease while the handler runs."""

    def __init__(self, engine: Engine, *, lease_seconds: int = 60, queues: tuple[str, ...] = ("default",),
                 name: str | None = None) -> None:
        self.engine = engine
        self.lease = timedelta(seconds=lease_seconds)
        self.queues = queues
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def claim(self) -> Job | None:
        """Take the oldest due job (or one whose worker's lease ran out) for this worker."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            now = utcnow()
            query = (select(Job).where(_claimable(now), Job.queue.in_(self.queues))
                     .order_by(Job.run_after, Job.id).limit(1))
            if self.engine.dialect.name == "postgresql":
                job = session.scalar(query.with_for_update(skip_locked=True))
                if job is None:
                    return None
            else:
                # SQLite has one writer at a time; a compare-and-set update stands in for row locks.
                job = session.scalar(query)
                if job is None:
                    return None
                taken = session.execute(  # type: ignore[attr-defined]
                    update(Job).where(Job.id == job.id, Job.status == job.status,
                                      Job.updated_at == job.updated_at)
                    .values(updated_at=now)
                ).rowcount
                if taken != 1:
                    return None
            if job.attempts >= job.max_attempts:
                # Its last attempt died with its worker.
                job.status, job.last_error = JobStatus.dead, (job.last_error or "") + "\nlease expired"
                job.finished_at = job.updated_at = now
                job.locked_by = job.locked_until = None
                return None
            job.status = JobStatus.running
            job.attempts += 1
            job.locked_by = self.name
            job.locked_until = now + self.lease
            job.updated_at = now
        return job

    def _heartbeat(self, job_id: int, done: threading.Event) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.2)
        while not done.wait(interval):
            with self.engine.begin() as conn:
                conn.execute(update(Job).where(Job.id == job_id, Job.locked_by == self.name)
                             .values(locked_until=utcnow() + self.lease))

    def run_one(self) -> bool:
        """Claim and run one job; False when nothing was due."""
        job = self.claim()
        if job is None:
            return False
        handler = _handlers.get(job.kind)
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job.id, done), daemon=True)
        beat.start()
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                try:
                    if handler is None:
                        raise PermanentJobError(f"no handler registered for job kind {job.kind!r}")
                    result = handler(JobContext(job.id, job.attempts, session), dict(job.payload))
                    if inspect.iscoroutine(result):
                        result = asyncio.run(result)
                    # The handler's writes and the success mark commit together, and only if we still hold it.
                    marked = session.execute(  # type: ignore[attr-defined]
                        update(Job).where(Job.id == job.id, Job.locked_by == self.name)
                        .values(status=JobStatus.succeeded, result=result if isinstance(result, dict) else None,
                                finished_at=utcnow(), updated_at=utcnow(), locked_by=None, locked_until=None)
                    ).rowcount
                    if marked != 1:
                        session.rollback()
                        log.warning("job %s lost its lease; its work was rolled back", job.id)
                    else:
                        session.commit()
                except Exception as exc:  # a failing handler must never take the worker down
                    session.rollback()
                    self._record_failure(job, exc)
        finally:
            done.set()
            beat.join()
        return True

    def _record_failure(self, job: Job, exc: Exception) -> None:
        now = utcnow()
        permanent = isinstance(exc, PermanentJobError) or job.attempts >= job.max_attempts
        error = "".join(traceback.format_exception_only(exc)).strip()
        values: dict[str, Any] = {"last_error": error[:4000], "updated_at": now, "locked_by": None,
                                  "locked_until": None}
        if permanent:
            values.update(status=JobStatus.dead, finished_at=now)
        else:
            values.update(status=JobStatus.queued, run_after=now + backoff_delay(job.attempts))
        with self.engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == job.id, Job.locked_by == self.name).values(**values))
        log.warning("job %s (%s) attempt %s failed: %s%s", job.id, job.kind, job.attempts, error,
                    " — dead" if permanent else "")

    def run(self, *, burst: bool = False, poll_seconds: float = 1.0) -> None:
        """Work until stopped; with `burst`, stop when no job is due."""
        while not self._stop.is_set():
            try:
                worked = self.run_one()
            except Exception:  # the database may be briefly unreachable; keep the worker alive
                log.exception("worker loop error")
                worked = False
            if not worked:
                if burst:
                    return
                self._stop.wait(poll_seconds)


def run_workers(engine: Engine, concurrency: int, *, lease_seconds: int, burst: bool = False) -> None:
    workers = [Worker(engine, lease_seconds=lease_seconds) for _ in range(concurrency)]
    threads = [threading.Thread(target=w.run, kwargs={"burst": burst}, daemon=True) for w in workers]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        for w in workers:
            w.stop()
        for t in threads:
            t.join()
