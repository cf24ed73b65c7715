"""Under load, `kill -9` of the gateway leaves no HTTP 200 without its audit event in the database.

A real `uvicorn` gateway runs in a subprocess on loopback against the test database; a bounded loop of
concurrent audited reads runs until the server is killed mid-flight. Every request carries its own id, and
every one that was answered 200 must be found in audit_events afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cpip.settings import Settings
from security.audit.models import AuditEvent
from tests.support.auth_fixtures import bearer
from tests.support.idp import RunningIdp

pytestmark = [pytest.mark.usefixtures("settings"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 12
MAX_REQUESTS = 4000  # bounded: the loop ends at this many even if the kill came late


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def gateway(settings: Settings, idp: RunningIdp) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {**os.environ, "CPIP_DATABASE_URL": settings.database_url, "CPIP_OIDC_SERVER_URL": idp.base_url,
           "CPIP_ENV": "test", "CPIP_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "gateway.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the gateway subprocess did not start")
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


async def _load(base: str, headers: dict[str, str], process: subprocess.Popen[bytes],
                kill_after: int) -> tuple[list[str], int]:
    """Run until the server is gone; kill -9 it once `kill_after` responses are in."""
    answered: list[str] = []
    sent = 0
    counter = iter(range(MAX_REQUESTS))
    killed = asyncio.Event()

    async def client(worker: int) -> None:
        nonlocal sent
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for n in counter:
                request_id = f"kill-{worker}-{n}"
                sent += 1
                try:
                    response = await http.get("/api/v1/audit/events", params={"limit": 1},
                                              headers={**headers, "X-Request-ID": request_id})
                except httpx.TransportError:
                    if killed.is_set():
                        return
                    continue
                if response.status_code == 200:
                    answered.append(request_id)
                if len(answered) >= kill_after and not killed.is_set():
                    os.kill(process.pid, signal.SIGKILL)
                    killed.set()

    await asyncio.gather(*(client(i) for i in range(CONCURRENCY)))
    assert killed.is_set(), f"the loop ended ({sent} requests) before the kill"
    return answered, sent


async def test_no_200_without_its_audit_event_after_kill_9(
    gateway: tuple[str, subprocess.Popen[bytes]], token_for: Callable[[str], str], sync_engine: Engine
) -> None:
    base, process = gateway
    answered, sent = await _load(base, bearer(token_for("wang.fang")), process, kill_after=150)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL
    with Session(sync_engine) as s:
        logged = set(s.scalars(select(AuditEvent.request_id).where(AuditEvent.request_id.like("kill-%"))))
    missing = [r for r in answered if r not in logged]
    assert len(answered) >= 150
    assert missing == [], f"{len(missing)} of {len(answered)} answered requests have no audit event"
    # Requests in flight at the kill may have their event without a response: never the other way round.
    assert len(logged) >= len(answered)
    assert sent > len(answered)
