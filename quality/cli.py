"""`cpip quality …`: run suites over whole tables, write HTML reports, schedule runs, list suites and runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Data quality (Great Expectations): run suites, reports, schedules.", no_args_is_help=True)
console = Console()


@app.command("run")
def run_command(
    resource: Annotated[str | None, typer.Argument(help="Base resource (population, legal_entities, buildings, "
                                                        "spatial_features, economy_indicators, "
                                                        "economy_observations); all when omitted.")] = None,
    engine: Annotated[str, typer.Option(help="auto: in the database on PostgreSQL, pandas otherwise; "
                                             "or force sql / pandas.")] = "auto",
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report (a directory for several runs).")]
    = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when any expectation fails.")] = False,
) -> None:
    """Validate whole tables with their suites; record results, scores and quality issues."""
    from cpip.db import make_sync_engine
    from cpip.errors import ProblemError
    from quality.runner import run_resource
    from quality.suites import get_suite, suites

    if engine not in ("auto", "sql", "pandas"):
        raise typer.BadParameter("choose auto, sql or pandas", param_hint="--engine")
    names = [resource] if resource else sorted(suites())
    try:
        for name in names:
            get_suite(name)
    except ProblemError as exc:
        raise typer.BadParameter(exc.detail, param_hint="RESOURCE") from exc
    db = make_sync_engine()
    any_failed = False
    for name in names:
        summary = run_resource(db, name, mode=engine)
        table = Table("rule", "result", "rows", "failing", "%", title=(
            f"{name}: run {summary.run_id}, {summary.row_count:,} rows, {summary.engine}, "
            f"{summary.seconds:.2f} s, score {summary.score if summary.score is not None else '—'}"))
        for o in summary.outcomes:
            state = {True: "[green]pass[/green]", False: "[red]fail[/red]", None: "[yellow]n/a[/yellow]"}[o.success]
            table.add_row(o.rule, state, f"{o.element_count:,}", f"{o.unexpected_count:,}",
                          f"{o.unexpected_percent:.2f}")
        console.print(table)
        any_failed = any_failed or bool(summary.failed)
        if report is not None:
            target = report / f"quality-run-{summary.run_id}.html" if len(names) > 1 or report.is_dir() else report
            _write(summary.run_id, target)
    if strict and any_failed:
        raise typer.Exit(1)


def _write(run_id: int, path: Path) -> None:
    from cpip.db import make_sync_engine, make_sync_sessionmaker, sync_transaction
    from quality.report import write_report

    with sync_transaction(make_sync_sessionmaker(make_sync_engine())) as session:
        write_report(session, run_id, path)
    console.print(f"wrote {path}")


@app.command("report")
def report_command(
    run_id: Annotated[int, typer.Argument(help="The run to report on (see `cpip quality runs`).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write "
                                                "(default quality-run-RUN_ID.html).")] = None,
) -> None:
    """Write one run as a self-contained HTML page."""
    from cpip.errors import NotFound

    try:
        _write(run_id, output or Path(f"quality-run-{run_id}.html"))
    except NotFound as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc


@app.command("runs")
def runs_command(
    resource: Annotated[str | None, typer.Option(help="Only this resource's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """List recent runs with their status and score."""
    from sqlalchemy.orm import Session

    from cpip.db import make_sync_engine
    from quality.repository import runs_query

    with Session(make_sync_engine()) as session:
        runs = list(session.scalars(runs_query(resource).limit(limit)))
        table = Table("id", "resource", "trigger", "engine", "status", "rows", "failed", "score", "started")
        for run in runs:
            table.add_row(str(run.id), run.resource, run.trigger, run.engine, run.status, f"{run.row_count:,}",
                          f"{run.failed_expectations}/{run.expectations}",
                          f"{run.score:.2f}" if run.score is not None else "—",
                          run.started_at.isoformat(timespec="seconds"))
    console.print(table)


@app.command("schedule")
def schedule_command(
    resource: Annotated[str | None, typer.Argument(help="One resource; all when omitted.")] = None,
    every: Annotated[int | None, typer.Option(help="Seconds between runs (default "
                                                   "CPIP_QUALITY_RUN_INTERVAL_SECONDS).")] = None,
) -> None:
    """Start the periodic whole-table run (a `quality.run` job that re-enqueues itself; `cpip worker` runs it)."""
    from cpip.db import make_sync_engine, make_sync_sessionmaker, sync_transaction
    from quality.jobs import schedule

    with sync_transaction(make_sync_sessionmaker(make_sync_engine())) as session:
        key = schedule(session, resource, every)
    console.print(f"scheduled {key}")


@app.command("suites")
def suites_command() -> None:
    """List every suite's rules."""
    from quality.suites import suites

    for suite in suites().values():
        table = Table("rule", "kind", "columns", "checks", title=f"{suite.resource} ({suite.table.name}) "
                                                                  f"version {suite.version}")
        for rule in suite.rules:
            table.add_row(rule.name, rule.kind.value, ", ".join(rule.columns), rule.description)
        console.print(table)
