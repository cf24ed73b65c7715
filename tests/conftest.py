"""Test harness: real migrations once per test process, every test isolated, SQLite or PostgreSQL.

`CPIP_TEST_DATABASE_URL` picks PostgreSQL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test); each xdist
worker then gets a fresh database of its own, created from it. Without it, each worker uses a fresh SQLite file.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from basebases.demo import write_city
from basebases.demo_city import DemoCity, generate
from cpip.db import make_sync_engine
from cpip.migrate import upgrade
from cpip.settings import Environment, Settings, get_settings, sync_url
from migrations.registry import metadata
from security.audit.maintenance import audit_maintenance
from tests.support.idp import RunningIdp

os.environ.setdefault("CPIP_ENV", "test")
# The webhook tests deliver to a receiver on 127.0.0.1 over plain http (refused in production).
os.environ.setdefault("CPIP_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")

pytest_plugins = ["tests.support.auth_fixtures"]


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _postgres_database(base_url: str, name: str, *, create: bool) -> None:
    admin = create_engine(sync_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _dialect_line() -> str:
    url = os.environ.get("CPIP_TEST_DATABASE_URL")
    dialect = make_url(url).get_backend_name() if url else "sqlite"
    return f"CPIP test database dialect: {dialect}"


def pytest_report_header(config: pytest.Config) -> str:
    return _dialect_line()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Printed even under -q, so a CI log always shows which back end the suite ran on.
    terminalreporter.write_line(_dialect_line())


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("CPIP_TEST_DATABASE_URL")
    if not base:
        path: Path = tmp_path_factory.mktemp("db") / f"cpip-{_worker_id()}.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    # Unique per test process, so concurrent runs on one server never drop each other's databases.
    name = f"cpip_test_{os.getpid()}_{_worker_id()}"
    _postgres_database(base, name, create=True)
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    _postgres_database(base, name, create=False)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory, idp: RunningIdp) -> Iterator[Settings]:
    os.environ["CPIP_DATABASE_URL"] = database_url
    os.environ["CPIP_EXPORT_DIR"] = str(tmp_path_factory.mktemp("exports"))
    get_settings.cache_clear()
    upgrade(database_url)
    yield Settings(env=Environment.test, database_url=database_url,
                   export_dir=Path(os.environ["CPIP_EXPORT_DIR"]), oidc_server_url=idp.base_url)
    get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _production_wiring() -> None:
    # As `cpip load` and the worker do: loads and landed quarantine records write the change feed. Every test
    # runs with it, so none depends on whether an earlier test happened to attach it.
    from gateway.registry import register_change_hooks

    register_change_hooks()


@pytest.fixture(scope="session")
def sync_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_sync_engine(settings)
    yield engine
    engine.dispose()


def _reset(engine: Engine) -> None:
    """Empty every table except reference data that migrations seed (tables with info['seeded'])."""
    # The audit tables are append-only (triggers); the harness is the one user of their maintenance escape.
    with engine.begin() as conn, audit_maintenance(conn):
        for table in reversed(metadata.sorted_tables):
            if not table.info.get("seeded"):
                conn.execute(delete(table))


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest) -> Iterator[None]:
    if "settings" not in request.fixturenames and "database_url" not in request.fixturenames:
        yield
        return
    engine: Engine = request.getfixturevalue("sync_engine")
    yield
    _reset(engine)


@pytest.fixture(scope="session")
def small_city() -> DemoCity:
    """The deterministic small demo city (seed 7), generated once per test process."""
    return generate(7, "small")


@pytest.fixture
def with_buildings(sync_engine: Engine, small_city: DemoCity) -> DemoCity:
    """Only the city's spatial features and buildings, so files of persons and entities have homes."""
    write_city(sync_engine, small_city, tables=("spatial_features", "buildings"))
    return small_city


@pytest.fixture(scope="session")
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from gateway.app import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def sessionmaker(app) -> async_sessionmaker[AsyncSession]:  # type: ignore[no-untyped-def]
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return factory


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
