"""`cpip catalogue …`: rebuild the search index, register the base databases' resources, seed departments."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from cpip.settings import SearchBackend as BackendChoice

app = typer.Typer(help="Resource catalogue: search index, base-database registration, departments.",
                  no_args_is_help=True)


@app.command()
def reindex(
    backend: Annotated[BackendChoice | None, typer.Option(
        help="Which index to rebuild (default: CPIP_SEARCH_BACKEND).")] = None,
) -> None:
    """Rebuild the search index from the catalogue (embedded tables, or a fresh Elasticsearch index swapped in
    behind the alias)."""
    from catalogue.search.embedded import EmbeddedBackend
    from catalogue.search.indexer import backend_for
    from cpip.db import make_sync_engine, make_sync_sessionmaker, sync_transaction
    from cpip.settings import get_settings

    settings = get_settings()
    if backend is not None:
        settings = settings.model_copy(update={"search_backend": backend})
    target = EmbeddedBackend() if settings.search_backend is BackendChoice.embedded else backend_for(settings)
    started = time.perf_counter()
    with sync_transaction(make_sync_sessionmaker(make_sync_engine(settings))) as session:
        count = target.reindex(session)
    elapsed = time.perf_counter() - started
    rate = count / elapsed if elapsed > 0 else 0.0
    typer.echo(f"reindexed {count} entries into the {target.name} index in {elapsed:.2f} s ({rate:,.0f} entries/s)")


@app.command("sync-basebases")
def sync_basebases_command(
    demo_departments: Annotated[bool, typer.Option(
        help="Register the demo city's departments first (psb, samr, nrb, hurd, stats, civil).")] = False,
) -> None:
    """Register (or update) the base databases' resources in the catalogue; running it twice changes nothing."""
    from catalogue.basebase_sync import sync_basebases
    from catalogue.departments import seed_demo_departments
    from cpip.db import make_sync_engine, make_sync_sessionmaker, sync_transaction

    with sync_transaction(make_sync_sessionmaker(make_sync_engine())) as session:
        if demo_departments:
            seed_demo_departments(session)
        report = sync_basebases(session)
    typer.echo(f"base-database resources: {report.created} registered, {report.updated} updated, "
               f"{report.unchanged} unchanged")
    for key, reason in report.skipped.items():
        typer.echo(f"not registered: {key}: {reason}", err=True)
    if report.skipped:
        raise typer.Exit(1)


@app.command("seed-departments")
def seed_departments_command() -> None:
    """Register the demo city's departments (psb, samr, nrb, hurd, stats, civil) if missing."""
    from catalogue.departments import seed_demo_departments
    from cpip.db import make_sync_engine, make_sync_sessionmaker, sync_transaction

    with sync_transaction(make_sync_sessionmaker(make_sync_engine())) as session:
        created = seed_demo_departments(session)
    typer.echo(f"departments: {created} registered")
