"""`cpip exchange …`: the exchange's maintenance from the command line."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from cpip.holidays import HolidayCalendar

app = typer.Typer(help="Exchange: overdue applications, change-feed retention, expired exports, holiday calendar, "
                       "webhook secrets after a key rotation.",
                  no_args_is_help=True)


@app.command()
def maintain() -> None:
    """Flag overdue applications, prune the change feed past CPIP_EXCHANGE_FEED_RETENTION_DAYS and delete expired
    export files, now (the worker also does this every hour)."""
    from sqlalchemy.orm import Session

    from cpip.db import make_sync_engine
    from exchange.jobs import maintain as run

    with Session(make_sync_engine()) as session, session.begin():
        typer.echo(json.dumps(run(session)))


@app.command()
def overdue() -> None:
    """List pending applications past their reply deadline."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from cpip.clock import utcnow
    from cpip.db import make_sync_engine
    from exchange.applications.models import Application

    with Session(make_sync_engine()) as session:
        late = session.scalars(select(Application).where(Application.status == "pending",
                                                         Application.due_at <= utcnow()).order_by(Application.due_at))
        for a in late:
            typer.echo(f"{a.id}\t{a.resource_code}\t{a.provider_department} ← {a.consumer_department}\tdue {a.due_on}")


@app.command("reencrypt-webhook-secrets")
def reencrypt_webhook_secrets() -> None:
    """After a CPIP_SECRET_KEY rotation: seal every webhook signing secret stored under a key from
    CPIP_PREVIOUS_SECRET_KEYS again under CPIP_SECRET_KEY, in one transaction, and print the counts. Subscribers
    keep their secrets. Exits 1 if some secret opens under no known key (those rows are listed and left as they
    are; the others are still re-encrypted)."""
    from sqlalchemy.orm import Session

    from cpip.db import make_sync_engine
    from cpip.settings import get_settings
    from exchange.webhooks.service import reencrypt_secrets

    settings = get_settings()
    with Session(make_sync_engine(settings)) as session, session.begin():
        report = reencrypt_secrets(session, settings)
    typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    if report.unreadable:
        raise typer.Exit(1)


@app.command()
def calendar() -> None:
    """Show which years the official holiday calendar covers, and from where (the chinesecalendar package or the
    CPIP_HOLIDAY_CALENDAR_FILE supplement with its notice and who entered it). Exits 1 if the supplement cannot
    be used (the gateway and worker then refuse to start)."""
    from rich.console import Console
    from rich.table import Table

    from cpip.holidays import CalendarConflict
    from cpip.settings import get_settings
    from exchange.workdays import current_calendar

    settings = get_settings()
    try:
        known = current_calendar(settings)
    except CalendarConflict as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    table = Table("years", "source", "notice", "entered by")
    for first, last in known.covered_spans():
        # Consecutive years of one origin share a row; each supplement year has its own notice.
        run: list[int] = []
        for year in range(first, last + 1):
            src = known.years[year]
            if run and (src.notice is not None or known.years[run[0]].origin != src.origin):
                _row(table, known, run)
                run = []
            run.append(year)
        _row(table, known, run)
    Console().print(table)
    typer.echo(f"covered: {known.describe_coverage()}; supplement: {settings.holiday_calendar_file or '(none)'}")


def _row(table: Table, known: HolidayCalendar, years: list[int]) -> None:
    src = known.years[years[0]]
    label = str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"
    notice = f"{src.notice} {src.url}" if src.notice else ""
    table.add_row(label, src.origin, notice, src.entered_by or "")
