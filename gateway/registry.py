"""Where the composition root learns each package's CLI commands and job handlers."""

from __future__ import annotations

import functools
import importlib
import threading
from typing import Any

import typer
from sqlalchemy import Connection, Engine


def _register_demo_catalogue() -> None:
    """The demo city's departments and its base databases' catalogue entries (idempotent).

    Lives here because base databases may not import the catalogue (imports flow one way)."""
    from rich.console import Console
    from sqlalchemy.orm import Session

    from catalogue.basebase_sync import sync_basebases
    from catalogue.departments import seed_demo_departments
    from cpip.db import make_sync_engine

    with Session(make_sync_engine()) as session, session.begin():
        new_departments = seed_demo_departments(session)
        report = sync_basebases(session)
    Console().print(f"catalogue: {new_departments} new departments; base-database entries {report.created} new, "
                    f"{report.updated} updated, {report.unchanged} unchanged"
                    + (f"; skipped {report.skipped}" if report.skipped else ""))


def register_change_hooks() -> None:
    """Loads and landed quarantine records reach the exchange's change feed (see exchange/feed/hooks.py)."""
    from exchange.feed.hooks import register

    register()


def _feed_for_loads() -> None:
    """`cpip load` writes the change feed (exchange/feed/hooks.py) without waiting for the exchange to import.

    Importing the exchange costs ~0.25 s, 5% of a million-row load. A thread imports it while the file loads
    (the load mostly waits on Arrow and PostgreSQL, which release the GIL); the hook, called last in the load's
    transaction, waits for that import only if it is still running. A failed import fails the load there."""
    from basebases.ingest import Loaded, on_loaded

    importer = threading.Thread(target=importlib.import_module, args=("exchange.feed.hooks",), daemon=True)
    importer.start()

    def record_load(conn: Connection, loaded: Loaded) -> None:
        importer.join()
        from exchange.feed.hooks import record_load as record

        record(conn, loaded)

    on_loaded(record_load, name="exchange.feed.hooks.record_load")  # stands in for that hook, never beside it


def _basebases_cli(app: typer.Typer) -> None:
    from basebases.cli import demo as basebases_demo
    from basebases.cli import load as basebases_load

    @functools.wraps(basebases_load)
    def load(**options: Any) -> None:
        _feed_for_loads()  # what a load changes, subscribers follow
        basebases_load(**options)

    app.command("load")(load)

    @functools.wraps(basebases_demo)
    def demo(**options: Any) -> None:
        basebases_demo(**options)
        _register_demo_catalogue()

    app.command("demo")(demo)


def _audit_cli(app: typer.Typer) -> None:
    from security.audit.cli import app as audit_app

    app.add_typer(audit_app, name="audit")  # `cpip audit seal|verify|anchor|public-key`


def _quality_cli(app: typer.Typer) -> None:
    from quality.cli import app as quality_app

    app.add_typer(quality_app, name="quality")  # `cpip quality run|report|runs|schedule|suites`


def _catalogue_cli(app: typer.Typer) -> None:
    from catalogue.cli import app as catalogue_app

    app.add_typer(catalogue_app, name="catalogue")  # `cpip catalogue reindex|sync-basebases|seed-departments`


def _exchange_cli(app: typer.Typer) -> None:
    from exchange.cli import app as exchange_app

    app.add_typer(exchange_app, name="exchange")  # `cpip exchange maintain|overdue`


def _indicators_cli(app: typer.Typer) -> None:
    from exchange.indicators.cli import app as indicators_app

    app.add_typer(indicators_app, name="indicators")  # `cpip indicators report|explain|rollup|input|sets`


_DOMAIN_CLIS = {"load": _basebases_cli, "demo": _basebases_cli, "audit": _audit_cli, "quality": _quality_cli,
                "catalogue": _catalogue_cli, "exchange": _exchange_cli, "indicators": _indicators_cli}


def register_cli(app: typer.Typer, command: str | None = None) -> None:
    """Attach each domain package's Typer sub-commands.

    Given the command being run, only its own domain is attached: importing every domain costs ~0.5 s, a tenth
    of a million-row `cpip load`. Help and unknown commands still see them all."""
    chosen = _DOMAIN_CLIS.get(command or "")
    for register in [chosen] if chosen else list(dict.fromkeys(_DOMAIN_CLIS.values())):
        register(app)


def load_job_handlers() -> None:
    """Import the modules whose `@job_handler` functions the worker runs."""
    register_change_hooks()  # quality.resubmit lands corrected records
    import catalogue.jobs  # noqa: F401  (catalogue.es-index)
    import exchange.indicators.rollups  # (indicators.rollup)
    import exchange.jobs  # noqa: F401  (exchange.export.build, .submission.check, .webhook.deliver, .maintain)
    import quality.jobs  # noqa: F401  (quality.run, quality.resubmit)
    import security.audit.sealer  # noqa: F401  (audit.seal)


def on_worker_start(engine: Engine) -> None:
    """Work each package does once when a worker starts, before it takes jobs."""
    from catalogue.jobs import on_worker_start as catalogue_start

    catalogue_start(engine)  # register the base databases' resources in the catalogue (idempotent)
    from exchange.jobs import on_worker_start as exchange_start

    exchange_start(engine)  # queue the hourly exchange maintenance (idempotent per hour)
    from exchange.indicators.rollups import on_worker_start as indicators_start

    indicators_start(engine)  # queue the daily audit rollups for the indicators (idempotent per day)
