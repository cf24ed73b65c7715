"""Every error leaves as application/problem+json (RFC 9457) with a stable `type`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cpip.errors import PROBLEM_BASE, ProblemError, all_problem_types

log = logging.getLogger("cpip.gateway")

PROBLEM_JSON = "application/problem+json"

_HTTP_SLUGS = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 406: "not-acceptable", 409: "conflict", 413: "payload-too-large",
    415: "unsupported-media-type", 422: "validation-failed", 429: "too-many-requests",
    503: "service-unavailable",
}


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=int(body["status"]), media_type=PROBLEM_JSON, headers=headers)


async def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    headers = exc.extensions.pop("headers", None)
    return problem_response(exc.to_problem(instance=request.url.path), headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", ""),
         "rule": err.get("type", "")}
        for err in exc.errors()
    ]
    malformed = any(e["rule"] == "json_invalid" for e in errors)
    body = {
        "type": PROBLEM_BASE + ("malformed-json" if malformed else "validation-failed"),
        "title": "Malformed JSON body" if malformed else "The request is not valid",
        "status": 400 if malformed else 422,
        "detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors)[:2000],
        "instance": request.url.path,
        "errors": errors,
    }
    return problem_response(body)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
    body = {"type": PROBLEM_BASE + slug, "title": slug.replace("-", " ").capitalize(),
            "status": exc.status_code, "detail": str(exc.detail), "instance": request.url.path}
    return problem_response(body, dict(exc.headers) if exc.headers else None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The detail stays generic: internals (SQL, paths, personal data) never reach the client.
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response({"type": PROBLEM_BASE + "internal-error", "title": "Internal error", "status": 500,
                             "detail": "An unexpected error occurred; quote the request id when reporting it.",
                             "instance": request.url.path})


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


def problem_catalogue() -> dict[str, dict[str, Any]]:
    """What each stable problem type means; served at /problems/{slug}."""
    types: dict[str, dict[str, Any]] = {
        slug: {"title": cls.title, "status": cls.status, "doc": (cls.__doc__ or "").strip()}
        for slug, cls in all_problem_types().items()
    }
    for status, slug in _HTTP_SLUGS.items():
        types.setdefault(slug, {"title": slug.replace("-", " ").capitalize(), "status": status, "doc": ""})
    types["malformed-json"] = {"title": "Malformed JSON body", "status": 400, "doc": "The body is not JSON."}
    return types
