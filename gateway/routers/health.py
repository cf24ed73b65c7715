"""Probes: liveness says the process answers; readiness says it can serve (database, schema at head)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import Response

from cpip import __version__
from cpip.migrate import current_revisions
from gateway.problems import PROBLEM_JSON, problem_catalogue

PUBLIC = {"x-cpip-permission": "public"}

router = APIRouter(tags=["platform"])


@router.get("/healthz", openapi_extra=PUBLIC, summary="Liveness: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", openapi_extra=PUBLIC, summary="Readiness: database reachable, migrations at head",
            responses={503: {"content": {PROBLEM_JSON: {}}}})
async def readyz(request: Request) -> Any:
    expected: set[str] = request.app.state.migration_heads
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(current_revisions)
    except Exception as exc:  # any failure to reach the database means not ready
        return JSONResponse({"type": "/problems/service-unavailable", "title": "Database unreachable",
                             "status": 503, "detail": type(exc).__name__}, 503, media_type=PROBLEM_JSON)
    if current != expected:
        return JSONResponse({"type": "/problems/migrations-pending", "title": "Migrations not at head",
                             "status": 503, "detail": f"database at {sorted(current)}, code at {sorted(expected)}",
                             "current": sorted(current), "head": sorted(expected)}, 503, media_type=PROBLEM_JSON)
    return {"status": "ready", "database": request.app.state.engine.dialect.name, "revision": sorted(current)}


@router.get("/metrics", openapi_extra=PUBLIC, summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/problems/{slug}", openapi_extra=PUBLIC, summary="What a problem type means")
async def problem_type(slug: str) -> dict[str, Any]:
    from cpip.errors import NotFound

    catalogue = problem_catalogue()
    if slug not in catalogue:
        raise NotFound(f"no problem type {slug!r}")
    return {"type": f"/problems/{slug}", **catalogue[slug]}
