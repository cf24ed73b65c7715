"""Composition root: builds the FastAPI application from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cpip import __version__
from cpip.db import make_async_engine, make_async_sessionmaker
from cpip.migrate import head_revisions
from cpip.settings import Settings, get_settings
from exchange.workdays import current_calendar
from gateway.audit import install_audit
from gateway.auth import install_auth
from gateway.graphql.router import graphql_router
from gateway.logs import configure_logging
from gateway.middleware import GatewayMiddleware
from gateway.problems import install_problem_handlers
from gateway.routers import apikeys, audit, exchange_exports, exchange_submissions, exchange_webhooks, health, open_data
from gateway.routers import basebases as basebase_routes
from gateway.routers import catalogue as catalogue_routes
from gateway.routers import exchange as exchange_routes
from gateway.routers import indicators as indicator_routes
from gateway.routers import quality as quality_routes

DESCRIPTION = """CPIP — 城市公共信息平台, the city's public information platform: the five base databases behind an
authenticated exchange gateway, a resource catalogue, data-quality checks, a tamper-evident access audit log and
数据资源开放共享 indicators. Every error is `application/problem+json` (RFC 9457); see `/problems/{type}`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check_safe_to_start()
    current_calendar(settings)  # a supplement that contradicts the official calendar stops the start here
    configure_logging(settings.log_level)
    engine = make_async_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.audit_writer.close()
        await engine.dispose()

    app = FastAPI(title="CPIP 城市公共信息平台", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_async_sessionmaker(engine)
    app.state.migration_heads = head_revisions()
    install_problem_handlers(app)
    install_auth(app)
    install_audit(app)
    app.add_middleware(GatewayMiddleware, max_body_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(apikeys.router)
    app.include_router(apikeys.admin_router)
    app.include_router(audit.router)
    app.include_router(basebase_routes.router)
    app.include_router(catalogue_routes.router)
    app.include_router(exchange_routes.router)
    app.include_router(exchange_webhooks.router)
    app.include_router(exchange_exports.router)
    app.include_router(exchange_submissions.router)
    app.include_router(open_data.router)
    app.include_router(quality_routes.router)
    app.include_router(indicator_routes.router)
    app.include_router(graphql_router(settings), prefix="/graphql", include_in_schema=False)
    return app
