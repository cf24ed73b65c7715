"""`cpip load` changes reach the change feed: a subscriber following population misses nothing a file changed."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from basebases.demo_city import DemoCity
from basebases.ingest import load_file
from exchange.feed import service as feed

pytestmark = pytest.mark.usefixtures("settings")

COLUMNS = ["id_number", "name", "sex", "birth_date", "ethnicity", "hukou_region_code", "residence_address",
           "building_code", "phone", "status"]


def _write(path: Path, people: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows([["" if p[c] is None else str(p[c]) for c in COLUMNS] for p in people])
    return path


def _changes(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT position, op, record_key, origin FROM exchange_feed_changes WHERE stream = 'population' "
            "ORDER BY position"))]


def test_a_load_appends_exactly_what_it_changed(sync_engine: Engine, with_buildings: DemoCity,
                                                tmp_path: Path) -> None:
    people = [p for _, p in zip(range(8), with_buildings.persons(), strict=False)]
    first = load_file(sync_engine, "population", _write(tmp_path / "first.csv", people[:5]))
    with Session(sync_engine) as session:
        # Into an empty table: one position, and everything up to it counts as pruned, so a consumer behind it
        # gets 410 with resume_after=1 and re-reads the resource (the retention contract, test_feed.py).
        assert feed.head(session, "population") == (1, 1)
    assert first.inserted == 5
    assert _changes(sync_engine) == []

    renamed = {**people[1], "name": "改名"}
    second = load_file(sync_engine, "population", _write(tmp_path / "second.csv",
                                                         [people[0], renamed, *people[2:]]))
    assert (second.inserted, second.updated, second.unchanged) == (3, 1, 4)
    changes = _changes(sync_engine)
    assert [(p, op, key) for p, op, key, _ in changes] == [
        (2, "update", people[1]["id_number"]), (3, "insert", people[5]["id_number"]),
        (4, "insert", people[6]["id_number"]), (5, "insert", people[7]["id_number"])]
    assert {origin for *_, origin in changes} == {f"load:{second.load_id}"}
    with sync_engine.connect() as conn:
        data = conn.scalar(text("SELECT data FROM exchange_feed_changes WHERE position = 2"))
    assert (data if isinstance(data, dict) else json.loads(data))["name"] == "改名"

    again = load_file(sync_engine, "population", _write(tmp_path / "third.csv", [people[0], renamed, *people[2:]]))
    assert again.unchanged == 8
    assert len(_changes(sync_engine)) == 4  # an unchanged reload adds nothing


def test_the_cpip_load_command_writes_the_feed(sync_engine: Engine, with_buildings: DemoCity, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from basebases import ingest
    from gateway.registry import register_cli

    monkeypatch.setattr(ingest, "_loaded_hooks", {})  # only what the command attaches by itself
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so the command is named as on the real CLI
    register_cli(app, "load")
    people = [p for _, p in zip(range(4), with_buildings.persons(), strict=False)]
    runner = CliRunner()
    for name, rows in (("a.csv", people[:2]), ("b.csv", people)):
        result = runner.invoke(app, ["load", "population", str(_write(tmp_path / name, rows)), "--json"])
        assert result.exit_code == 0, result.output
    assert [(op, key) for _, op, key, _ in _changes(sync_engine)] == [
        ("insert", people[2]["id_number"]), ("insert", people[3]["id_number"])]
    assert len(ingest._loaded_hooks) == 1
