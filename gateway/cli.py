"""The `cpip` command: assembles each package's own Typer commands."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cpip import __version__
from cpip.settings import get_settings

app = typer.Typer(help="CPIP — 城市公共信息平台: the city's public information platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema: upgrade to the newest migration, or show where it is.",
                     no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs: list them and see their status.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
console = Console()


@app.command()
def version() -> None:
    """Print the CPIP version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default CPIP_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default CPIP_PORT, 8000).")] = None,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development only).")] = False,
) -> None:
    """Run the exchange gateway (REST, GraphQL, probes, metrics) with uvicorn."""
    import uvicorn

    settings = get_settings()
    settings.check_safe_to_start()
    uvicorn.run("gateway.app:create_app", factory=True, host=host or settings.host, port=port or settings.port,
                workers=workers, reload=reload, access_log=False, log_config=None, proxy_headers=True)


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once (default CPIP_WORKER_CONCURRENCY).")] = None,
    burst: Annotated[bool, typer.Option(help="Exit when no job is due instead of waiting for more.")] = False,
) -> None:
    """Run durable background jobs; several workers may run at once against the same database."""
    from cpip.db import make_sync_engine
    from cpip.jobs import run_workers
    from gateway.logs import configure_logging
    from gateway.registry import load_job_handlers, on_worker_start

    settings = get_settings()
    settings.check_safe_to_start()
    configure_logging(settings.log_level)
    load_job_handlers()
    logging.getLogger("cpip.jobs").info("worker starting", extra={"concurrency": concurrency})
    engine = make_sync_engine(settings)
    on_worker_start(engine)
    run_workers(engine, concurrency or settings.worker_concurrency,
                lease_seconds=settings.job_lease_seconds, burst=burst)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from cpip.migrate import upgrade

    upgrade(revision=revision)
    typer.echo(f"database upgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's migration revision and whether it is the newest."""
    from cpip.db import make_sync_engine
    from cpip.migrate import current_revisions, head_revisions

    engine = make_sync_engine()
    with engine.connect() as conn:
        current = current_revisions(conn)
    heads = head_revisions()
    typer.echo(f"current: {', '.join(sorted(current)) or '(empty database)'}")
    typer.echo(f"head:    {', '.join(sorted(heads))}")
    typer.echo("at head" if current == heads else "behind: run `cpip db upgrade`")
    if current != heads:
        raise typer.Exit(1)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only jobs in this status (queued, running, succeeded, dead).")]
    = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """List background jobs with their status, attempts and last error."""
    from sqlalchemy.orm import Session

    from cpip.db import make_sync_engine
    from cpip.jobs import list_jobs

    with Session(make_sync_engine()) as session:
        jobs = list_jobs(session, status, limit)
        table = Table("id", "kind", "status", "attempts", "run after", "last error")
        for job in jobs:
            table.add_row(str(job.id), job.kind, job.status, f"{job.attempts}/{job.max_attempts}",
                          job.run_after.isoformat(timespec="seconds"), (job.last_error or "")[:60])
    console.print(table)


@app.command("api-docs")
def api_docs() -> None:
    """Write docs/openapi.json and docs/schema.graphql from the code (a test fails when they are stale)."""
    from gateway.apidocs import write_all

    for path in write_all():
        typer.echo(f"wrote {path}")


def main() -> None:
    from gateway.registry import register_cli

    # The first argument that is not an option names the command (`cpip --help` has none).
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    register_cli(app, command)
    app()
