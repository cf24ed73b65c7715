"""The base databases register themselves; the CLI commands and the worker's start hook run the same code."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select
from typer.testing import CliRunner

from basebases import catalogue_resources
from catalogue.basebase_sync import sync_basebases
from catalogue.cli import app as catalogue_cli
from catalogue.jobs import on_worker_start
from catalogue.models import CatalogueEntry, CatalogueSearchDoc, Department
from catalogue.service import find_entry, list_versions, system_actor, update_entry
from catalogue.visibility import Scope, Viewer


def test_every_base_resource_is_registered_once_with_its_items(db: Callable[[], Any], departments: None) -> None:
    resources = catalogue_resources()
    with db() as session:
        first = sync_basebases(session)
    assert first.created == len(resources)
    assert first.skipped == {}
    with db() as session:
        again = sync_basebases(session)
        assert (again.created, again.updated, again.unchanged) == (0, 0, len(resources))
        assert session.scalar(select(func.count()).select_from(CatalogueEntry)) == len(resources)
        population = find_entry(session, first.codes["population"])
        assert population is not None
        assert population.status == "published"
        assert population.source == "basebase"
        assert population.source_key == "population"
        assert population.department_code == "psb"
        assert population.code.startswith("101001/")  # 基础信息资源 / 人口
        model_items = {i.name: i for i in next(r for r in resources if r.key == "population").items}
        stored = {i["key"]: i for i in population.items}
        assert set(stored) == set(model_items)
        for key, item in model_items.items():
            assert stored[key]["sensitivity"] == item.sensitivity
            assert stored[key]["name"] == item.label
            assert stored[key]["data_type"] == item.data_type


def test_a_changed_model_updates_the_entry_but_not_the_providers_decisions(db: Callable[[], Any],
                                                                          departments: None) -> None:
    with db() as session:
        code = sync_basebases(session).codes["legal_entities"]
        # The provider tightens sharing; the next sync must not undo it.
        update_entry(session, system_actor("samr"), code,
                     {"share_type": "有条件共享", "share_conditions": "审批后使用"})
    changed = [dataclasses.replace(r, abstract=r.abstract + "（含吊销企业）") if r.key == "legal_entities" else r
               for r in catalogue_resources()]
    with db() as session:
        report = sync_basebases(session, changed)
        assert (report.updated, report.unchanged) == (1, len(changed) - 1)
        entry = find_entry(session, code)
        assert entry is not None
        assert entry.abstract.endswith("（含吊销企业）")
        assert entry.share_type == "有条件共享"
        latest = list_versions(session, Viewer(Scope.catalogue, "samr"), code)[0]
        assert latest.actor == "system:basebases"
        assert set(latest.changes) == {"abstract"}


def test_a_missing_department_is_reported_not_dropped(db: Callable[[], Any]) -> None:
    with db() as session:
        report = sync_basebases(session)
    assert report.created == 0
    assert set(report.skipped) == {r.key for r in catalogue_resources()}
    assert "psb" in report.skipped["population"]


def test_worker_start_registers_the_base_resources(sync_engine: Engine, db: Callable[[], Any],
                                                   departments: None) -> None:
    on_worker_start(sync_engine)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(CatalogueEntry)) == len(catalogue_resources())


@pytest.mark.usefixtures("settings")
def test_cli_commands(db: Callable[[], Any]) -> None:
    runner = CliRunner()
    seeded = runner.invoke(catalogue_cli, ["seed-departments"])
    assert seeded.exit_code == 0, seeded.output
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Department)) == 6
    synced = runner.invoke(catalogue_cli, ["sync-basebases"])
    assert synced.exit_code == 0, synced.output
    assert f"{len(catalogue_resources())} registered" in synced.output
    with db() as session:
        session.execute(delete(CatalogueSearchDoc))  # an index lost or out of step
    rebuilt = runner.invoke(catalogue_cli, ["reindex"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"reindexed {len(catalogue_resources())} entries into the embedded index" in rebuilt.output
    with db() as session:
        assert session.scalar(select(func.count()).select_from(CatalogueSearchDoc)) == len(catalogue_resources())
