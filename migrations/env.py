from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cpip.db import make_sync_engine
from cpip.settings import get_settings
from migrations.registry import metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    url = context.config.attributes.get("url") or get_settings().database_url
    engine = make_sync_engine(url=url)
    try:
        with engine.connect() as conn:
            run_with(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run `cpip db upgrade` against a database")
run_online()
