"""`cpip indicators report|explain|rollup|input|inputs|sets`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from cpip.db import make_sync_engine
from cpip.errors import ProblemError
from cpip.settings import get_settings
from exchange.indicators import service
from exchange.indicators.definitions import available
from exchange.indicators.manual import enter_input, key_id, list_inputs, signing_key_known, verify
from exchange.indicators.render import render
from exchange.indicators.rollups import roll_missing

app = typer.Typer(help="数据资源开放共享 indicators from the platform's own records", no_args_is_help=True)
_err = Console(stderr=True)


def _fail(exc: ProblemError) -> typer.Exit:
    _err.print(f"[red]{exc.title}[/red]: {exc.detail}")
    for error in exc.extensions.get("errors", []):
        _err.print(f"  {error.get('field')}: {error.get('message')}")
    return typer.Exit(2)


@app.command()
def report(
    period: Annotated[str, typer.Option(help="2026, 2026H2, 2026Q3, 2026-09 or 2026-09-15")],
    department: Annotated[str | None, typer.Option(help="Only this department's share")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json | csv | html")] = "json",
    set_name: Annotated[str, typer.Option("--set", help="Indicator set")] = service.DEFAULT_SET,
    cutoff: Annotated[str | None, typer.Option(help="Data cut-off (date or ISO time)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")] = None,
) -> None:
    """Compute a set for a period; a closed period is stored and later runs are checked against it."""
    if fmt not in ("json", "csv", "html"):
        _err.print("--format must be json, csv or html")
        raise typer.Exit(2)
    settings = get_settings()
    try:
        with Session(make_sync_engine(settings)) as session, session.begin():
            result = service.report(session, settings, period=period, set_name=set_name, department=department,
                                    cutoff=cutoff, actor="cli")
            text = render(session, settings, result, fmt)
    except ProblemError as exc:
        raise _fail(exc) from exc
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        _err.print(f"wrote {output}")


@app.command()
def explain(
    period: Annotated[str, typer.Option()],
    indicator: Annotated[str, typer.Option(help="Indicator or measure code, e.g. S2.3")],
    department: Annotated[str | None, typer.Option()] = None,
    set_name: Annotated[str, typer.Option("--set")] = service.DEFAULT_SET,
    after: Annotated[str | None, typer.Option(help="Cursor from the previous page")] = None,
    limit: Annotated[int, typer.Option()] = 100,
) -> None:
    """Numerator and denominator of one indicator, their SQL and the records behind them (paged)."""
    import json

    settings = get_settings()
    try:
        with Session(make_sync_engine(settings)) as session:
            out = service.explain(session, settings, period=period, indicator=indicator, set_name=set_name,
                                  department=department, after=after, limit=limit)
    except ProblemError as exc:
        raise _fail(exc) from exc
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))


@app.command()
def rollup() -> None:
    """Roll up every finished day of the audit log that has no rollup yet (what the job does)."""
    with Session(make_sync_engine()) as session, session.begin():
        days = roll_missing(session)
    _err.print(f"rolled up {len(days)} day(s)" + (f": {days[0]} … {days[-1]}" if days else ""))


@app.command("input")
def manual_input(
    name: Annotated[str, typer.Option(help="e.g. departments_total")],
    value: Annotated[str, typer.Option()],
    entered_by: Annotated[str, typer.Option(help="Who vouches for the value")],
    period: Annotated[str, typer.Option(help='Period code, or "*" for every period')] = "*",
    note: Annotated[str | None, typer.Option(help="Where the value comes from")] = None,
) -> None:
    """Enter a signed manual input (a denominator the logs cannot know)."""
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        _err.print(f"--value {value!r} is not a number")
        raise typer.Exit(2) from exc
    settings = get_settings()
    try:
        with Session(make_sync_engine(settings)) as session, session.begin():
            row = enter_input(session, settings, name=name, value=number, entered_by=entered_by, period=period,
                              note=note)
            _err.print(f"input {row.id}: {name} = {number} for {period}, signed {row.signature[:16]}…")
    except ProblemError as exc:
        raise _fail(exc) from exc


@app.command("inputs")
def manual_inputs(
    name: Annotated[str | None, typer.Option(help="Only this input, e.g. departments_total")] = None,
) -> None:
    """Every manual input, newest first, with the key it is signed under: before a previous secret key is dropped
    from CPIP_PREVIOUS_SECRET_KEYS, re-enter (`cpip indicators input`) the ones still in use under it."""
    settings = get_settings()
    current = key_id(settings)
    with Session(make_sync_engine(settings)) as session:
        rows = list_inputs(session, name)
        for row in rows:
            if row.key_id == current:
                state = "current key" if verify(row, settings) else "SIGNATURE BROKEN"
            elif signing_key_known(row, settings):
                state = "previous key: re-enter" if verify(row, settings) else "SIGNATURE BROKEN"
            else:
                state = "UNKNOWN KEY: refused"
            typer.echo(f"{row.id}\t{row.name}\t{row.period}\t{row.department or '-'}\t{row.value}\t"
                       f"{row.entered_at.isoformat(timespec='seconds')}\t{row.entered_by}\t{state}")
    if not rows:
        _err.print("no manual inputs")


@app.command()
def sets() -> None:
    """The indicator sets shipped (definitions/*.yaml)."""
    for name, loaded in sorted(available().items()):
        d = loaded.definitions
        typer.echo(f"{name}\tv{d.version}\t{'official' if d.official else 'NOT OFFICIAL'}\t{d.title.zh}")
