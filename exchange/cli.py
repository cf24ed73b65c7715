"""`cpip exchange …`: the exchange's maintenance from the command line."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Exchange: overdue applications, change-feed retention, expired exports.",
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
