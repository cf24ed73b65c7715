"""The indicators over REST, GraphQL and the CLI: the evaluator role only, the same numbers on every path, the
HTML report self-contained with its charts, each read audited."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from cpip.settings import Settings
from exchange.indicators.cli import app as cli_app
from exchange.indicators.manual import enter_input
from security.audit.models import AuditEvent
from tests.exchange.indicator_history import build
from tests.support.auth_fixtures import bearer
from tests.support.exchange_world import db, pin_clock

__all__ = ["db", "pin_clock"]


async def test_rest_graphql_and_cli_give_the_evaluator_the_same_numbers(
        client: httpx.AsyncClient, token_for: Callable[[str], str], db: Callable[[], Any], settings: Settings,
        tmp_path: Path) -> None:
    history = build(db)
    with db() as s:
        enter_input(s, settings, name="departments_total", value=Decimal(8), entered_by="张评估")
    evaluator = bearer(token_for("zhao.lei"))

    # A consumer department may not read the indicators; nobody anonymous either.
    refused = await client.get("/api/v1/indicators/report", params={"period": "2026Q3"},
                               headers=bearer(token_for("zhang.wei")))
    assert refused.status_code == 403
    assert (await client.get("/api/v1/indicators/report", params={"period": "2026Q3"})).status_code == 401

    bad = await client.get("/api/v1/indicators/report", params={"period": "2026Q5"}, headers=evaluator)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "period"

    rest = (await client.get("/api/v1/indicators/report", params={"period": "2026Q3"}, headers=evaluator)).json()
    assert rest["total"] == "61.30"
    assert rest["stored"]["consistent"] is True

    explained = await client.get("/api/v1/indicators/S2.4-A2/explain",
                                 params={"period": "2026Q3", "part": "numerator"}, headers=evaluator)
    assert explained.status_code == 200
    assert sorted(explained.json()["numerator"]["records"]["items"]) == sorted(history.apps[k] for k in "FDA")
    unknown = await client.get("/api/v1/indicators/X9/explain", params={"period": "2026Q3"}, headers=evaluator)
    assert unknown.status_code == 404

    query = """query($p: String!) { indicatorReport(period: $p) { total official
                 indicators { code score numerator denominator verified } } }"""
    gql = (await client.post("/graphql", json={"query": query, "variables": {"p": "2026Q3"}},
                             headers=evaluator)).json()
    assert "errors" not in gql
    scores = {i["code"]: i["score"] for i in gql["data"]["indicatorReport"]["indicators"]}
    assert scores == {i["code"]: i["score"] for i in rest["indicators"]}
    assert gql["data"]["indicatorReport"]["official"] is False
    denied = (await client.post("/graphql", json={"query": query, "variables": {"p": "2026Q3"}},
                                headers=bearer(token_for("zhang.wei")))).json()
    assert denied["data"] is None
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    table = (await client.get("/api/v1/indicators/report", params={"period": "2026Q3", "format": "csv"},
                              headers=evaluator)).text
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(table))}
    assert rows["S2.3"]["numerator"] == "10"
    assert rows["S2.3"]["denominator"] == "11"
    assert rows["S2.3"]["score"] == "7.27"

    with db() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.resource == "indicators")))
    assert actions.count("indicators.report") >= 3
    assert "indicators.explain" in actions

    runner = CliRunner()
    out = tmp_path / "q3.html"
    result = runner.invoke(cli_app, ["report", "--period", "2026Q3", "--format", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    # Self-contained: inline SVG charts (a trend line per indicator over Jul–Sep, a bar per department), no
    # scripts or external resources.
    assert page.count("<polyline") == len(rest["indicators"])
    assert "2026-07" in page
    assert "2026-09" in page
    assert all(f">{d}</text>" in page for d in ("civil", "hurd", "nrb", "psb", "samr", "stats"))
    assert "<script" not in page
    assert "http://" not in page.replace("https://creativecommons.org", "")
    assert "Not an official evaluation" in page
    as_json = runner.invoke(cli_app, ["report", "--period", "2026Q3", "--department", "civil"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["counts"]["calls_total"] == 4
    wrong = runner.invoke(cli_app, ["report", "--period", "2026Q3", "--department", "nobody"])
    assert wrong.exit_code == 2
