"""App factories the benchmarks serve: the real gateway, plus a route that reads one row through the kernel."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from cpip.jobs import Job
from gateway.app import create_app
from gateway.deps import SessionDep


def kernel_read_app() -> FastAPI:
    app = create_app()

    @app.get("/bench/one-row", openapi_extra={"x-cpip-permission": "public"})
    async def one_row(session: SessionDep) -> dict[str, object]:
        job = await session.scalar(select(Job).where(Job.id == 1))
        return {"id": job.id if job else None, "kind": job.kind if job else None}

    return app
