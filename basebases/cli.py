"""`cpip demo` and `cpip load`: the base databases' commands, attached to the top-level CLI by the gateway."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from basebases.demo_city import SCALES
from basebases.progress import StageProgress
from cpip.errors import ProblemError

console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=False)


class _RichStages(StageProgress):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    @contextmanager
    def stage(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        task = self.progress.add_task(description, total=total)
        yield lambda n: self.progress.advance(task, n)
        self.progress.update(task, completed=total if total is not None else 1, total=total or 1)


def demo(
    scale: Annotated[str, typer.Option(help=f"How big a city: {', '.join(SCALES)} "
                                            "(small ≈ 2k persons; city ≈ 120k; mega = 1M).")] = "small",
    seed: Annotated[int, typer.Option(help="The same seed always gives the same city.")] = 20240601,
    replace: Annotated[bool, typer.Option(help="Empty the base databases first (destroys their data).")] = False,
    if_empty: Annotated[bool, typer.Option(help="Do nothing, successfully, if the base databases hold data.")]
    = False,
) -> None:
    """Seed the five base databases with a synthetic city (南京市, GB/T 2260 3201xx), deterministic by seed."""
    from basebases.demo import run_demo
    from cpip.db import make_sync_engine

    if scale not in SCALES:
        raise typer.BadParameter(f"choose one of {', '.join(SCALES)}", param_hint="--scale")
    with _progress() as progress:
        try:
            summary = run_demo(make_sync_engine(), seed=seed, scale=scale, replace=replace, if_empty=if_empty,
                               progress=_RichStages(progress))
        except ProblemError as exc:
            console.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(1) from exc
    if summary.skipped:
        console.print("the base databases already hold data; left as they are (--if-empty)")
        return
    table = Table("table", "rows", title=f"demo city, scale {summary.scale}, seed {summary.seed}")
    for name, count in summary.counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)


def load(
    base: Annotated[str, typer.Argument(help="population, legal_entities, buildings, spatial_features, "
                                             "economy_indicators or economy_observations.")],
    file: Annotated[Path, typer.Argument(help="CSV, NDJSON or GeoJSON file.", exists=True, dir_okay=False)],
    format: Annotated[str | None, typer.Option("--format", help="csv, ndjson or geojson (default: from the "
                                                                 "extension).")] = None,
    encoding: Annotated[str | None, typer.Option(help="Force a text encoding (default: detect UTF-8, UTF-8 "
                                                      "with BOM, GB18030/GBK).")] = None,
    srid: Annotated[int | None, typer.Option(help="Coordinate system of the geometries: 4490 (CGCS2000) or "
                                                  "4326 (WGS84). Default: 4490 for CSV/NDJSON; GeoJSON's crs "
                                                  "member, else 4326.")] = None,
    rejects: Annotated[Path | None, typer.Option(help="Where rejected rows go (default: FILE.rejects.csv or "
                                                      ".ndjson beside the file).")] = None,
    layer: Annotated[str | None, typer.Option(help="spatial_features: the layer for rows that name none.")]
    = None,
    json_report: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    online: Annotated[bool, typer.Option(
        "--online", help="First load into an empty table while the platform serves: keep its foreign keys, so the "
                         "tables they reference (buildings) stay readable; ~3.6 s more per million rows.")] = False,
) -> None:
    """Load a file into a base database: validate, upsert by natural key, quarantine rejected rows.

    Exit status: 0 every row loaded; 3 loaded, with rejected rows (see the reject file); 2 the file was refused.
    """
    import json

    from basebases.ingest import count_records, load_file
    from basebases.readers import detect_format
    from basebases.specs import resolve_base
    from cpip.db import make_sync_engine

    base = resolve_base(base)
    defaults: dict[str, Any] = {"layer_code": layer} if layer else {}
    try:
        total = count_records(file, detect_format(file, format))
        with _progress() as progress:
            task = progress.add_task(f"loading {file.name} into {base}", total=total)
            report = load_file(make_sync_engine(), base, file, fmt=format, encoding=encoding, srid=srid,
                               reject_path=rejects, defaults=defaults, online=online,
                               progress=lambda n: progress.advance(task, n))
            progress.update(task, completed=report.rows_read, total=report.rows_read)
    except ProblemError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    if json_report:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        summary = Table("read", "inserted", "updated", "unchanged", "rejected",
                        title=f"{report.base} ← {file.name} ({report.format}, {report.encoding}, "
                              f"EPSG:{report.srid})")
        summary.add_row(*(f"{n:,}" for n in (report.rows_read, report.inserted, report.updated, report.unchanged,
                                             report.rejected)))
        console.print(summary)
        if report.ignored_columns:
            console.print(f"ignored columns (not part of {report.base}): {', '.join(report.ignored_columns)}")
        for rejection in report.rejections:
            for line in rejection.lines(report.format):
                console.print(f"  [yellow]rejected[/yellow] {line}", markup=True, highlight=False)
        if report.rejected > len(report.rejections):
            console.print(f"  … and {report.rejected - len(report.rejections)} more")
        if report.reject_file:
            console.print(f"rejected rows: {report.reject_file} and table basebase_quarantine "
                          f"(load_id {report.load_id})")
    if report.rejected:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    """Attach `demo` and `load` to the top-level `cpip` command."""
    app.command("demo")(demo)
    app.command("load")(load)
