"""Large population loads: the batch path and the row path give the same result, whatever the file holds.

On PostgreSQL a CSV of persons goes through Arrow batches (basebases/columnar.py) and, into an empty table,
straight into `persons` with its indexes built at the end; on SQLite, and for anything the batch path does not
handle exactly, row by row. These tests run on both back ends with the same expectations.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from basebases import columnar
from basebases.demo_city import DemoCity
from basebases.ingest import load_file

pytestmark = pytest.mark.usefixtures("settings")

COLUMNS = ["id_number", "name", "sex", "birth_date", "ethnicity", "hukou_region_code", "residence_address",
           "building_code", "phone", "status"]


def _canonical(person: dict[str, Any]) -> list[str]:
    return ["" if person[c] is None else str(person[c]) for c in COLUMNS]


def _write(path: Path, lines: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(lines)
    return path


def _stored(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {', '.join(COLUMNS)} FROM persons")).mappings()
        return {r["id_number"]: {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                for r in rows}


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Many Arrow batches from a small file, so duplicates and rejects straddle batch boundaries.
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 2_048)


@pytest.mark.usefixtures("small_batches")
def test_canonical_and_other_rows_mixed_land_as_the_row_cleaner_says(sync_engine: Engine, with_buildings: DemoCity,
                                                                      tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="basebases.ingest")
    people = [p for _, p in zip(range(60), with_buildings.persons(), strict=False)]
    lines = [_canonical(p) for p in people]
    lines[2][2] = "男" if people[2]["sex"] == "1" else "女"          # a label, not the code
    lines[4][0] = lines[4][0].lower()                                # a lower-case check character, if any
    lines[6][3] = lines[6][3].replace("-", "")                       # YYYYMMDD
    lines[8][1] = f' {lines[8][1]}, "小{lines[8][1]}" '               # spaces, a comma and quotes in the name
    lines[10][6] = "南京市\n玄武区"                                   # a line break inside a quoted field
    lines[12][0] = lines[12][0][:17] + ("1" if lines[12][0][17] != "1" else "2")  # a bad check character
    lines.append(list(lines[2]))                                     # repeats a row that took the row cleaner
    lines.append(_canonical(people[30]))                             # repeats a canonical row, batches later
    report = load_file(sync_engine, "population", _write(tmp_path / "mixed.csv", lines))

    assert (report.rows_read, report.inserted, report.rejected) == (62, 59, 3)
    assert {r.row: [i.rule for i in r.issues] for r in report.rejections} == {
        13: ["id_number_checksum"], 61: ["duplicate_key"], 62: ["duplicate_key"]}
    assert "row 3" in report.rejections[1].issues[0].message
    assert "row 31" in report.rejections[2].issues[0].message
    stored = _stored(sync_engine)
    assert len(stored) == 59
    expected = {p["id_number"]: {c: (p[c].isoformat() if hasattr(p[c], "isoformat") else p[c]) for c in COLUMNS}
                for i, p in enumerate(people) if i != 12}
    expected[people[8]["id_number"]]["name"] = f'{people[8]["name"]}, "小{people[8]["name"]}"'
    expected[people[10]["id_number"]]["residence_address"] = "南京市\n玄武区"
    assert stored == expected
    assert "row by row" not in caplog.text  # on PostgreSQL this file took the batch path throughout


def test_a_malformed_row_is_rejected_and_the_rest_load(sync_engine: Engine, with_buildings: DemoCity,
                                                      tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="basebases.ingest")
    people = [p for _, p in zip(range(5), with_buildings.persons(), strict=False)]
    lines = [_canonical(p) for p in people]
    lines[3] = [*lines[3], "an extra field"]
    report = load_file(sync_engine, "population", _write(tmp_path / "malformed.csv", lines))
    assert (report.rows_read, report.inserted, report.rejected) == (5, 4, 1)
    assert [(r.row, r.issues[0].rule) for r in report.rejections] == [(4, "csv_columns")]
    assert people[3]["id_number"] not in _stored(sync_engine)
    if sync_engine.dialect.name == "postgresql":  # the batch path gave up on the row and started again
        assert "row by row: a row has 11 fields, the header 10" in caplog.text


def test_a_first_load_leaves_the_table_as_defined(sync_engine: Engine, with_buildings: DemoCity,
                                                 tmp_path: Path) -> None:
    """Into an empty table the rows go straight in; afterwards nothing of the table's definition has changed."""
    if sync_engine.dialect.name != "postgresql":
        pytest.skip("indexes and defaults are set aside only on PostgreSQL; SQLite loads row by row")

    def definition() -> list[tuple[Any, ...]]:
        with sync_engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE tablename = 'persons' UNION ALL "
                "SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'persons'::regclass UNION ALL "
                "SELECT 'default', a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
                "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                "WHERE d.adrelid = 'persons'::regclass ORDER BY 1, 2"))]

    before = definition()
    people = [p for _, p in zip(range(50), with_buildings.persons(), strict=False)]
    report = load_file(sync_engine, "population", _write(tmp_path / "first.csv", [_canonical(p) for p in people]))
    assert report.inserted == 50
    assert definition() == before
    assert any(kind == "index" and "UNIQUE" in sql for kind, _, sql in before)
    with sync_engine.connect() as conn:
        stamps = conn.execute(text("SELECT count(DISTINCT created_at), count(DISTINCT updated_at), "
                                   "bool_and(created_at = updated_at) FROM persons")).one()
        assert tuple(stamps) == (1, 1, True)
    # The unique index is back and working: a second row with a loaded number is refused.
    with pytest.raises(Exception, match="uq_persons_id_number"), sync_engine.begin() as conn:
            conn.execute(text("INSERT INTO persons (id_number, name, sex, birth_date, hukou_region_code, status, "
                              "created_at, updated_at) SELECT id_number, name, sex, birth_date, hukou_region_code, "
                              "status, now(), now() FROM persons LIMIT 1"))


@pytest.mark.parametrize(("online", "buildings_locked"), [(False, True), (True, False)])
def test_an_online_first_load_leaves_buildings_readable(
        sync_engine: Engine, with_buildings: DemoCity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        online: bool, buildings_locked: bool) -> None:
    if sync_engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL's first load sets foreign keys aside")
    from basebases import ingest

    held: list[str] = []

    def locks_on_buildings(conn: Any, _loaded: ingest.Loaded) -> None:  # runs inside the load's transaction
        held.extend(conn.scalars(text(
            "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'buildings'::regclass")))

    monkeypatch.setattr(ingest, "_loaded_hooks", {"locks": locks_on_buildings})
    people = [p for _, p in zip(range(20), with_buildings.persons(), strict=False)]
    report = load_file(sync_engine, "population", _write(tmp_path / "p.csv", [_canonical(p) for p in people]),
                       online=online)
    assert report.inserted == 20
    # AccessExclusiveLock on buildings blocks every reader of buildings until the load commits.
    assert ("AccessExclusiveLock" in held) is buildings_locked
    with sync_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM pg_constraint WHERE conrelid = 'persons'::regclass "
                                "AND contype = 'f'")) == 1
