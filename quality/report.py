"""A run as one self-contained HTML page (inline CSS, no scripts, nothing fetched): `cpip quality report RUN_ID`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from cpip.errors import NotFound
from quality import repository
from quality.models import QualityResult, QualityRun
from quality.service import masked_samples
from quality.suites import suites


def _environment() -> Environment:
    return Environment(loader=PackageLoader("quality", "templates"), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


def render_run(run: QualityRun, results: list[QualityResult]) -> str:
    suite = suites().get(run.resource)
    described = {r.name: r.description for r in suite.rules} if suite else {}
    rows: list[dict[str, Any]] = []
    for result in results:
        rows.append({
            "rule": result.rule, "description": described.get(result.rule, ""), "columns": ", ".join(result.columns),
            "expectation": result.expectation_type, "success": result.success, "element_count": result.element_count,
            "unexpected_count": result.unexpected_count, "unexpected_percent": result.unexpected_percent,
            "samples": masked_samples(run.resource, result.samples), "error": result.error, "note": result.note,
        })
    order = {False: 0, None: 1, True: 2}
    rows.sort(key=lambda r: (order[r["success"]], r["rule"]))
    return _environment().get_template("report.html").render(run=run, results=rows,
                                                              failed=sum(r["success"] is False for r in rows),
                                                              description=suite.description if suite else "")


def write_report(session: Session, run_id: int, path: Path) -> Path:
    run = session.get(QualityRun, run_id)
    if run is None:
        raise NotFound(f"quality run {run_id} does not exist")
    results = list(session.scalars(repository.results_of(run_id)))
    path.write_text(render_run(run, results), encoding="utf-8")
    return path
