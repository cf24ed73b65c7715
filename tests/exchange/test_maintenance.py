"""Hourly maintenance: overdue applications flagged, the feed pruned past retention, expired export files gone;
and the migration creates exactly the tables the models describe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cpip.clock import utcnow
from cpip.jobs import Job
from cpip.settings import get_settings
from exchange import jobs as maintenance
from exchange.applications import service as applications
from exchange.applications.models import Application
from exchange.cli import app as exchange_cli
from exchange.delivery.models import Export
from exchange.feed import service as feed
from migrations.registry import metadata
from tests.exchange.test_applications import CIVIL, request
from tests.support.exchange_world import DISTRICT_A, World, local


def test_maintenance_flags_prunes_and_expires(world: World, db: Callable[[], Any],
                                              pin_clock: Callable[[datetime], None]) -> None:
    pin_clock(local(2026, 2, 13, 16))
    with db() as session:
        app_id = applications.apply(session, CIVIL, request(world.population)).application.id
        feed.record_changes(session, "population", [feed.Change("update", "k", DISTRICT_A, {})], "old")
    export_dir = Path(get_settings().export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    (export_dir / "exp_old.ndjson").write_text("{}\n")
    with db() as session:
        session.add(Export(id="exp_old", grant_id="g", resource_code=world.population, department="civil",
                           requested_by={}, format="ndjson", bom=False, fields=[], status="ready",
                           file_name="exp_old.ndjson", created_at=utcnow(), finished_at=utcnow(),
                           expires_at=utcnow() + timedelta(days=1)))
    pin_clock(local(2026, 6, 1, 9))
    with db() as session:
        result = maintenance.maintain(session)
        maintenance.schedule_next(session)
        maintenance.schedule_next(session)  # idempotent per hour
    assert result == {"overdue_flagged": 1, "feed_pruned": 1, "exports_expired": 1}
    assert not (export_dir / "exp_old.ndjson").exists()
    with db() as session:
        app = session.get(Application, app_id)
        assert app is not None
        assert app.overdue_flagged_at is not None
        export = session.get(Export, "exp_old")
        assert export is not None
        assert export.status == "expired"
        assert len(list(session.scalars(select(Job.id).where(Job.kind == "exchange.maintain")))) == 1


def test_cli_lists_overdue_applications(world: World, db: Callable[[], Any],
                                        pin_clock: Callable[[datetime], None]) -> None:
    pin_clock(local(2026, 2, 13, 16))
    with db() as session:
        app_id = applications.apply(session, CIVIL, request(world.population)).application.id
    pin_clock(local(2026, 3, 2, 9))
    result = CliRunner().invoke(exchange_cli, ["overdue"])
    assert result.exit_code == 0, result.output
    assert app_id in result.output
    assert "due 2026-02-27" in result.output


def _exchange_only(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return bool(getattr(table, "name", name or "").startswith("exchange_"))


def test_migration_matches_the_models(sync_engine: Engine) -> None:
    with sync_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _exchange_only})
        diff = compare_metadata(context, metadata)
    assert diff == []
