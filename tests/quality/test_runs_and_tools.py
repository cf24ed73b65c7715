"""Scheduled runs through the real worker, `cpip quality` commands and the HTML report, the schema, and the
promise that API processes never load Great Expectations."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import typer
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from basebases.models import Person
from cpip.jobs import Job, JobStatus, Worker, enqueue_sync
from migrations.registry import metadata
from quality.jobs import RUN_JOB, schedule
from quality.models import QualityRun
from tests.quality.conftest import insert_rows, person, ric, wrong_check

ROOT = Path(__file__).resolve().parents[2]


def cli() -> typer.Typer:
    from gateway.cli import app
    from gateway.registry import register_cli

    register_cli(app)
    return app


def test_the_scheduled_run_records_a_run_and_schedules_the_next(sync_engine: Engine) -> None:
    insert_rows(sync_engine, Person, [person(ric(date(1990, 1, 1), seq=1))])
    with Session(sync_engine) as session:
        first_key = schedule(session, "population", every_seconds=3600)
        assert schedule(session, "population", every_seconds=3600) == first_key  # one job per slot
        session.commit()
    worker = Worker(sync_engine, lease_seconds=30)
    assert worker.run_one()

    with Session(sync_engine) as session:
        done = session.scalar(select(Job).where(Job.idempotency_key == first_key))
        assert done is not None
        assert done.status == JobStatus.succeeded, done.last_error
        run_id = done.result["runs"]["population"]["run_id"]  # type: ignore[index]
        run = session.get(QualityRun, run_id)
        assert run is not None
        assert (run.trigger, run.status, run.row_count) == ("schedule", "succeeded", 1)
        following = session.scalars(select(Job).where(Job.kind == RUN_JOB, Job.status == JobStatus.queued)).all()
        assert len(following) == 1
        assert following[0].run_after > done.finished_at  # type: ignore[operator]
        assert following[0].payload == {"resource": "population", "every": 3600}


def test_a_run_job_for_an_unknown_resource_dies_at_once(sync_engine: Engine) -> None:
    with Session(sync_engine) as session:
        job = enqueue_sync(session, RUN_JOB, {"resource": "nope"})
        session.commit()
        job_id = job.id
    import quality.jobs  # noqa: F401

    Worker(sync_engine, lease_seconds=30).run_one()
    with Session(sync_engine) as session:
        dead = session.get(Job, job_id)
        assert dead is not None
        assert dead.status == JobStatus.dead
        assert dead.attempts == 1


def test_cli_run_and_report(sync_engine: Engine, tmp_path: Path) -> None:
    bad = wrong_check(ric(date(1990, 1, 1), seq=3))
    insert_rows(sync_engine, Person, [person(ric(date(1990, 1, 1), seq=1)), person(bad)])
    runner = CliRunner()
    report = tmp_path / "population.html"

    ran = runner.invoke(cli(), ["quality", "run", "population", "--report", str(report), "--strict"])

    assert ran.exit_code == 1, ran.output  # --strict: an expectation failed
    assert "id_number.valid" in ran.output
    with sync_engine.connect() as conn:
        run_id = conn.scalar(select(func.max(QualityRun.id)))
    page = report.read_text(encoding="utf-8")
    assert "<style>" in page
    assert "<script" not in page
    assert "src=" not in page
    assert "数据质量报告 — population" in page
    assert "id_number.valid" in page
    assert f"#{run_id}" in page
    assert bad not in page
    assert f"{bad[:6]}********{bad[-4:]}" in page

    again = tmp_path / "again.html"
    reported = runner.invoke(cli(), ["quality", "report", str(run_id), "--output", str(again)])
    assert reported.exit_code == 0, reported.output
    assert again.read_text(encoding="utf-8") == page
    missing = runner.invoke(cli(), ["quality", "report", "999999"])
    assert missing.exit_code == 1
    assert "does not exist" in missing.output
    unknown = runner.invoke(cli(), ["quality", "run", "persons_typo"])
    assert unknown.exit_code == 2


def test_api_processes_never_import_great_expectations() -> None:
    code = ("import sys\n"
            "from gateway.app import create_app\n"
            "import quality, quality.service, quality.gate, quality.jobs, gateway.routers.quality\n"
            "create_app()\n"
            "print('great_expectations' in sys.modules)\n")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                           check=True)
    assert found.stdout.strip().splitlines()[-1] == "False", found.stderr


def test_the_migration_builds_exactly_the_quality_models(sync_engine: Engine) -> None:
    with sync_engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)

    def touched(diff: Any) -> str:
        item = diff[0] if isinstance(diff, list) else diff  # modify_* diffs come as lists
        if item[0] in ("add_table", "remove_table"):
            return str(item[1].name)
        if item[0] in ("add_index", "remove_index", "add_fk", "remove_fk", "add_constraint", "remove_constraint"):
            return str(item[1].table.name)
        return str(item[2])  # (kind, schema, table, column, …)

    assert [d for d in diffs if touched(d).startswith("quality_")] == []
