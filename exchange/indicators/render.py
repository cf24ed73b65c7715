"""Report outputs: CSV, and a self-contained HTML page with inline SVG charts (no scripts, no CDN)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from catalogue.models import Department
from cpip.settings import Settings
from exchange.indicators import service
from exchange.indicators.periods import parse_period

CSV_COLUMNS = ["set", "version", "period", "department", "cutoff", "code", "name_zh", "name_en", "parent", "weight",
               "numerator_count", "numerator", "denominator_count", "denominator", "ratio", "score", "max_score",
               "status", "verified", "source"]


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for i in report["indicators"]:
        num, den = i["numerator"] or {}, i["denominator"] or {}
        writer.writerow([report["set"], report["version"], report["period"], report["department"] or "",
                         report["cutoff"], i["code"], i["name_zh"], i["name_en"], i["parent"] or "", i["weight"],
                         num.get("count", ""), num.get("value", ""), den.get("count", ""), den.get("value", ""),
                         i["ratio"] or "", i["score"], i["max_score"], i["status"], i["verified"], i["source"]])
    for m in report["measures"]:
        writer.writerow([report["set"], report["version"], report["period"], report["department"] or "",
                         report["cutoff"], m["code"], m["name_zh"], m["name_en"], "", "", m["count"], m["value"],
                         "", "", "", "", "", "measure", m["verified"], m["source"]])
    return out.getvalue()


def trend(session: Session, settings: Settings, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The same set computed for each month of the period (each day of a month)."""
    parts = parse_period(report["period"]).trend()
    return [service.compute(session, settings, period=p.code, set_name=report["set"],
                            department=report["department"]) for p in parts]


def by_department(session: Session, settings: Settings, report: dict[str, Any]) -> list[dict[str, Any]]:
    codes = [d.code for d in session.query(Department).order_by(Department.code)]
    return [service.compute(session, settings, period=report["period"], set_name=report["set"], department=c,
                            cutoff=report["cutoff"]) for c in codes]


def _line_chart(title: str, labels: list[str], values: list[Decimal], top: Decimal) -> str:
    width, height, pad = 320, 120, 24
    top = top if top > 0 else Decimal(1)
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    points = [(pad + k * step, height - pad - float(v / top) * (height - 2 * pad)) for k, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(lab)}: {v}</title></circle>'
                   for (x, y), lab, v in zip(points, labels, values, strict=True))
    ticks = "".join(f'<text x="{x:.1f}" y="{height - 6}" font-size="9" text-anchor="middle">{escape(lab[-2:])}</text>'
                    for (x, _), lab in zip(points, labels, strict=True))
    return (f'<figure><svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><line x1="{pad}" y1="{height - pad}" x2="{width - pad}" '
            f'y2="{height - pad}" stroke="#999"/><polyline fill="none" stroke="#1f6fb2" stroke-width="2" '
            f'points="{path}"/>{dots}{ticks}</svg><figcaption>{escape(title)} (max {top})</figcaption></figure>')


def _bar_chart(title: str, labels: list[str], values: list[Decimal], top: Decimal) -> str:
    bar, gap, width = 18, 6, 420
    height = len(values) * (bar + gap) + 10
    top = top if top > 0 else Decimal(1)
    rows = "".join(
        f'<text x="0" y="{k * (bar + gap) + 13}" font-size="11">{escape(lab)}</text>'
        f'<rect x="90" y="{k * (bar + gap)}" width="{float(v / top) * (width - 150):.1f}" height="{bar}" '
        f'fill="#2e8b57"><title>{escape(lab)}: {v}</title></rect>'
        f'<text x="{95 + float(v / top) * (width - 150):.1f}" y="{k * (bar + gap) + 13}" font-size="11">{v}</text>'
        for k, (lab, v) in enumerate(zip(labels, values, strict=True)))
    return (f'<figure><svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{rows}</svg><figcaption>{escape(title)}</figcaption></figure>')


def to_html(report: dict[str, Any], trend_reports: list[dict[str, Any]],
            department_reports: list[dict[str, Any]]) -> str:
    banner = ""
    if not report["official"]:
        banner = f'<p class="warn"><strong>Not an official evaluation.</strong> {escape(report["notice"] or "")}</p>'
    rows = []
    for i in report["indicators"]:
        num, den = i["numerator"], i["denominator"]
        ratio = f'{num["value"]} / {den["value"]}' if num else ""
        rows.append(f'<tr><td style="padding-left:{i["depth"]}em">{escape(i["code"])}</td><td>{escape(i["name_zh"])}'
                    f'<br><small>{escape(i["name_en"])}</small></td><td>{i["weight"]}</td><td>{escape(ratio)}</td>'
                    f'<td>{i["ratio"] or ""}</td><td><b>{i["score"]}</b> / {i["max_score"]}</td>'
                    f'<td>{"verified" if i["verified"] else "unverified"}</td><td><small>{escape(i["source"])}</small>'
                    f'</td></tr>')
    measures = "".join(f'<tr><td>{escape(m["code"])}</td><td>{escape(m["name_zh"])}</td><td>{m["value"]}</td>'
                       f'<td>{escape(m["unit"])}</td></tr>' for m in report["measures"])
    charts = []
    labels = [t["period"] for t in trend_reports]
    for i in report["indicators"]:
        values = [Decimal(next(x["score"] for x in t["indicators"] if x["code"] == i["code"])) for t in trend_reports]
        charts.append(_line_chart(f'{i["code"]} {i["name_zh"]}', labels, values, Decimal(i["max_score"])))
    comparison = ""
    if department_reports:
        root = report["indicators"][0]
        comparison = "<h2>部门对比 · Departments</h2>" + _bar_chart(
            f'{root["name_zh"]} by department', [d["department"] for d in department_reports],
            [Decimal(d["total"]) for d in department_reports], Decimal(root["max_score"]))
        for i in report["indicators"][1:]:
            if i["numerator"] is None:
                continue
            comparison += _bar_chart(
                f'{i["code"]} {i["name_zh"]}', [d["department"] for d in department_reports],
                [Decimal(next(x["score"] for x in d["indicators"] if x["code"] == i["code"]))
                 for d in department_reports], Decimal(i["max_score"]))
    scope = escape(report["department"] or "全市 city-wide")
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>{escape(report["title_zh"])} {escape(report["period"])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:4px;text-align:left;vertical-align:top}}.warn{{background:#fff3cd;
padding:.6em;border:1px solid #e0c060}}figure{{display:inline-block;margin:.5em}}figcaption{{font-size:11px}}</style>
</head><body>
<h1>{escape(report["title_zh"])} · {escape(report["title_en"])}</h1>
{banner}
<p>Set <code>{escape(report["set"])}</code> v{escape(report["version"])} · period <b>{escape(report["period"])}</b>
· scope {scope} · data cut-off {escape(report["cutoff"])} · total <b>{report["total"]}</b><br>
<small>{escape(report["method"])} · definitions sha256 {report["definitions_digest"]} · inputs fingerprint
{report["fingerprint"]}</small></p>
<table><thead><tr><th>code</th><th>indicator</th><th>weight</th><th>numerator / denominator</th><th>ratio</th>
<th>score</th><th>formula</th><th>source</th></tr></thead><tbody>{"".join(rows)}</tbody></table>
<h2>Measures</h2><table><tbody>{measures}</tbody></table>
<h2>趋势 · Trend</h2>{"".join(charts)}
{comparison}
</body></html>
"""


def render(session: Session, settings: Settings, report: dict[str, Any], fmt: str) -> str:
    if fmt == "csv":
        return to_csv(report)
    if fmt == "html":
        departments = [] if report["department"] else by_department(session, settings, report)
        return to_html(report, trend(session, settings, report), departments)
    import json

    return json.dumps(report, ensure_ascii=False, indent=2, default=str)
