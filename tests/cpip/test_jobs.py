from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from cpip import clock
from cpip.jobs import Job, JobStatus, Worker, enqueue, enqueue_sync
from cpip.settings import Settings
from tests.cpip import job_handlers

pytestmark = pytest.mark.usefixtures("settings")


def _job(engine: Engine, job_id: int) -> Job:
    with Session(engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


async def test_job_enqueued_in_rolled_back_transaction_never_runs(
    sessionmaker: async_sessionmaker[AsyncSession], sync_engine: Engine
) -> None:
    async with sessionmaker() as session:
        await enqueue(session, "test.record", {"n": 1})
        await session.rollback()
    async with sessionmaker() as session:
        kept = await enqueue(session, "test.record", {"n": 2})
        await session.commit()
    job_handlers.ran_job_ids.clear()
    Worker(sync_engine).run(burst=True)
    assert job_handlers.ran_job_ids == [kept.id]
    with Session(sync_engine) as s:
        assert [j.payload["n"] for j in s.scalars(select(Job))] == [2]


async def test_idempotency_key_gives_one_job(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        first = await enqueue(session, "test.record", {"n": 1}, idempotency_key="batch-7")
        again = await enqueue(session, "test.record", {"n": 1}, idempotency_key="batch-7")
        await session.commit()
    assert first.id == again.id
    async with sessionmaker() as session:
        later = await enqueue(session, "test.record", {"n": 1}, idempotency_key="batch-7")
        assert later.id == first.id
        assert len((await session.scalars(select(Job))).all()) == 1


def test_failing_job_retries_with_growing_delays_then_dead(sync_engine: Engine) -> None:
    with Session(sync_engine) as s:
        job_id = enqueue_sync(s, "test.fail", max_attempts=4).id
        s.commit()
    worker = Worker(sync_engine)
    delays: list[float] = []
    now = clock.utcnow()
    try:
        for attempt in range(1, 5):
            clock.set_clock(lambda now=now: now)  # type: ignore[misc]
            assert worker.run_one(), f"attempt {attempt} was not due"
            job = _job(sync_engine, job_id)
            assert job.attempts == attempt
            assert f"boom on attempt {attempt}" in (job.last_error or "")
            if attempt < 4:
                assert job.status == JobStatus.queued
                delays.append((job.run_after - now).total_seconds())
                assert not worker.run_one(), "a job must not run again before its backoff delay"
                now = job.run_after + timedelta(milliseconds=1)
    finally:
        clock.set_clock(None)
    assert _job(sync_engine, job_id).status == JobStatus.dead
    assert delays[0] < delays[1] < delays[2]
    clock.set_clock(lambda: now + timedelta(days=1))
    try:
        assert not worker.run_one(), "a dead job never runs again"
    finally:
        clock.set_clock(None)


def test_several_workers_run_each_job_exactly_once(sync_engine: Engine) -> None:
    with Session(sync_engine) as s:
        ids = [enqueue_sync(s, "test.record", {"n": n}).id for n in range(40)]
        s.commit()
    job_handlers.ran_job_ids.clear()
    workers = [Worker(sync_engine) for _ in range(4)]
    threads = [threading.Thread(target=w.run, kwargs={"burst": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(job_handlers.ran_job_ids) == sorted(ids)
    with Session(sync_engine) as s:
        jobs = list(s.scalars(select(Job)))
    assert {j.status for j in jobs} == {JobStatus.succeeded}
    assert {j.attempts for j in jobs} == {1}


WORKER_SCRIPT = textwrap.dedent("""
    import sys
    from cpip.db import make_sync_engine
    from cpip.jobs import Worker
    import tests.cpip.job_handlers  # registers the handlers
    Worker(make_sync_engine(url=sys.argv[1]), lease_seconds=float(sys.argv[2])).run(poll_seconds=0.2)
""")


def _start_worker(url: str, lease: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, url, str(lease)], env=env)


def test_job_of_killed_worker_is_done_by_another(sync_engine: Engine, settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    with Session(sync_engine) as s:
        job_id = enqueue_sync(s, "test.slow_first_attempt", {"marker": str(marker)}).id
        s.commit()
    first = _start_worker(settings.database_url, lease=2)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the first worker never started the job"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert _job(sync_engine, job_id).status == JobStatus.running
    finally:
        if first.poll() is None:
            first.kill()
    second = _start_worker(settings.database_url, lease=2)
    try:
        deadline = time.monotonic() + 40
        while _job(sync_engine, job_id).status != JobStatus.succeeded and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        second.terminate()
        second.wait(10)
    job = _job(sync_engine, job_id)
    assert job.status == JobStatus.succeeded
    assert job.attempts == 2
    assert job.result == {"finished_by": second.pid}
    assert marker.read_text().splitlines() == [f"{first.pid} attempt 1", f"{second.pid} attempt 2"]
