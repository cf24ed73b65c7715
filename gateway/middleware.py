"""ASGI middleware: request id in and out, body size limit, access log and Prometheus metrics."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cpip.errors import PROBLEM_BASE
from gateway.logs import request_id_var

REQUEST_ID_HEADER = "x-request-id"
# A client may bring its own id (to correlate across systems) but not an arbitrary string into our logs.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("cpip.access")

REQUESTS = Counter("cpip_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "cpip_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class BodyTooLarge(Exception):
    pass


def _problem_bytes(status: int, slug: str, title: str, detail: str, path: str) -> bytes:
    return json.dumps({"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
                       "instance": path}).encode()


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = dict(body_limits or {})

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.body_limits.items():
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope["path"]
        limit = self._limit_for(path)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}
        exceeded = False

        async def send_with_id(message: Message) -> None:
            if exceeded:
                # Whatever the app made of the cut-off body (FastAPI turns it into a 400), the answer is 413.
                return
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        async def respond(status: int, body: bytes) -> None:
            await send_with_id({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        try:
            declared = headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                await respond(413, _problem_bytes(413, "payload-too-large", "Request body too large",
                                                  f"the body may be at most {limit} bytes", path))
                return
            received = 0

            async def counting_receive() -> Message:
                nonlocal received, exceeded
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        exceeded = True
                        raise BodyTooLarge
                return message

            with contextlib.suppress(BodyTooLarge):
                await self.app(scope, counting_receive, send_with_id)
            if exceeded and not status_holder["started"]:
                exceeded = False
                await respond(413, _problem_bytes(413, "payload-too-large", "Request body too large",
                                                      f"the body may be at most {limit} bytes", path))
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or ("unmatched" if status_holder["status"] == 404 else path)
            REQUESTS.labels(scope["method"], template, str(status_holder["status"])).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            access_log.info("request", extra={
                "method": scope["method"], "path": path, "status": status_holder["status"],
                "duration_ms": round(elapsed * 1000, 2),
                "client": (scope.get("client") or ("", 0))[0],
            })
            request_id_var.reset(token)
