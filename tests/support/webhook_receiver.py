"""A real HTTP receiver for webhook tests: it verifies every signature with the `standardwebhooks` reference
library (an implementation independent of CPIP's), and can be told to fail the next N requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, update

from cpip.clock import utcnow
from cpip.jobs import Job, JobStatus, Worker


@dataclass(frozen=True)
class Received:
    msg_id: str
    verified: bool
    error: str | None
    body: dict[str, Any]
    status: int


class Receiver:
    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.received: list[Received] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                receiver._handle(self, raw)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _verify(self, raw: bytes, headers: dict[str, str]) -> tuple[bool, str | None]:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        errors = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(raw, headers)
                return True, None
            except WebhookVerificationError as exc:
                errors.append(str(exc))
        return False, "; ".join(errors) or "no secret known"

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        verified, error = self._verify(raw, headers)
        with self._lock:
            failing = self.fail_next > 0
            if failing:
                self.fail_next -= 1
        status = 500 if failing else (204 if verified else 401)
        self.received.append(Received(headers.get("webhook-id", ""), verified, error, json.loads(raw), status))
        handler.send_response(status)
        handler.send_header("content-length", "0")
        handler.end_headers()

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.status == 204]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def run_deliveries(engine: Engine, *, rounds: int = 50) -> int:
    """Run due webhook delivery jobs; retries are made due at once (their backoff is checked separately)."""
    worker = Worker(engine, lease_seconds=30, name="test-webhooks")
    ran = 0
    for _ in range(rounds):
        with engine.begin() as conn:
            conn.execute(update(Job).where(Job.kind == "exchange.webhook.deliver", Job.status == JobStatus.queued)
                         .values(run_after=utcnow()))
        if not worker.run_one():
            return ran
        ran += 1
    return ran
