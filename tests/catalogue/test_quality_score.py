"""The quality score an entry publishes: set by quality through catalogue.service.set_quality_score, shown in
DCAT-AP (W3C DQV) and the CSV export, never a metadata version; and migration 0005a, which adds it and copies
scores computed before it."""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import bindparam, create_engine, func, select, text
from sqlalchemy.engine import make_url

from catalogue.dcat import catalog
from catalogue.export import csv_chunks
from catalogue.models import CatalogueEntryVersion
from catalogue.schemas import EntryCreate
from catalogue.service import create_entry, find_entry, set_quality_score, system_actor, transition, visible_entries
from catalogue.visibility import Scope, Viewer
from cpip.db import UTCDateTime
from cpip.errors import ValidationFailed
from cpip.migrate import alembic_config, upgrade
from cpip.settings import sync_url
from tests.catalogue.conftest import metadata

pytestmark = pytest.mark.usefixtures("departments")

SCORED_AT = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)
AT = bindparam("at", type_=UTCDateTime())  # stored as the ORM stores it, on both back ends


def _entry(db: Callable[[], Any], name: str, *, open_type: str = "无条件开放", source_key: str | None = None,
           publish: bool = True) -> str:
    with db() as session:
        entry = create_entry(session, system_actor("test"), EntryCreate.model_validate({
            **metadata(name, open_type=open_type), "department": "hurd"}), source_key=source_key)
        if publish:
            transition(session, system_actor("test"), entry.code, "submit")
            transition(session, system_actor("test"), entry.code, "approve")
        return entry.code


def test_a_score_is_found_by_code_or_resource_key_and_makes_no_version(db: Callable[[], Any]) -> None:
    by_code = _entry(db, "公交线路站点")
    by_key = _entry(db, "建筑物轮廓", source_key="buildings")
    with db() as session:
        before = find_entry(session, by_code)
        assert before is not None
        version, updated_at = before.version, before.updated_at
        versions = session.scalar(select(func.count()).select_from(CatalogueEntryVersion))
        assert set_quality_score(session, by_code, 87.5, SCORED_AT) is not None
        assert set_quality_score(session, "buildings", 99.25, SCORED_AT) is not None
        assert set_quality_score(session, "economy_indicators", 50.0, SCORED_AT) is None  # no such entry
    with db() as session:
        first, second = find_entry(session, by_code), find_entry(session, by_key)
        assert first is not None
        assert second is not None
        assert (first.quality_score, first.quality_scored_at) == (87.5, SCORED_AT)
        assert (second.quality_score, second.quality_scored_at) == (99.25, SCORED_AT)
        # Not metadata: no new version, the ETag and modification date stay.
        assert (first.version, first.updated_at) == (version, updated_at)
        assert session.scalar(select(func.count()).select_from(CatalogueEntryVersion)) == versions


def test_an_older_score_never_replaces_a_newer_one(db: Callable[[], Any]) -> None:
    code = _entry(db, "公交线路站点")
    with db() as session:
        set_quality_score(session, code, 90.0, SCORED_AT)
        set_quality_score(session, code, 40.0, SCORED_AT - timedelta(hours=1))  # a run that finished late
    with db() as session:
        entry = find_entry(session, code)
        assert entry is not None
        assert (entry.quality_score, entry.quality_scored_at) == (90.0, SCORED_AT)
        set_quality_score(session, code, 80.0, SCORED_AT + timedelta(hours=1))
    with db() as session:
        entry = find_entry(session, code)
        assert entry is not None
        assert entry.quality_score == 80.0


@pytest.mark.parametrize(("score", "at", "field"), [
    (100.01, SCORED_AT, "score"), (-1.0, SCORED_AT, "score"), (float("nan"), SCORED_AT, "score"),
    (50.0, datetime(2025, 6, 1, 8, 30), "scored_at"),
])
def test_an_impossible_score_is_refused_naming_the_field(db: Callable[[], Any], score: float, at: datetime,
                                                        field: str) -> None:
    code = _entry(db, "公交线路站点")
    with db() as session, pytest.raises(ValidationFailed) as refused:
        set_quality_score(session, code, score, at)
    assert refused.value.extensions["field"] == field
    with db() as session:
        entry = find_entry(session, code)
        assert entry is not None
        assert entry.quality_score is None


def test_dcat_carries_the_score_as_a_dqv_quality_measurement(db: Callable[[], Any]) -> None:
    scored = _entry(db, "公交线路站点")
    unscored = _entry(db, "公共停车场")
    with db() as session:
        set_quality_score(session, scored, 96.43, SCORED_AT)
    with db() as session:
        doc = catalog(visible_entries(session, Viewer(Scope.open)), base_url="https://cpip.example/",
                      default_license="https://creativecommons.org/licenses/by/4.0/")
    assert doc["@context"]["dqv"] == "http://www.w3.org/ns/dqv#"
    assert doc["@context"]["prov"] == "http://www.w3.org/ns/prov#"
    datasets = {d["dct:identifier"]: d for d in doc["dcat:dataset"]}
    measurement = datasets[scored]["dqv:hasQualityMeasurement"]
    landing = datasets[scored]["@id"]
    assert measurement["@type"] == "dqv:QualityMeasurement"
    assert measurement["dqv:computedOn"] == {"@id": landing}
    assert measurement["dqv:value"] == {"@value": 96.43, "@type": "xsd:double"}
    assert measurement["prov:generatedAtTime"] == {"@value": "2025-06-01T08:30:00+00:00", "@type": "xsd:dateTime"}
    assert measurement["dqv:isMeasurementOf"]["@type"] == "dqv:Metric"
    # Every dataset's measurement is of the same metric.
    assert measurement["dqv:isMeasurementOf"]["@id"] == "https://cpip.example/api/v1/catalogue/dcat#quality-score-metric"
    assert "dqv:hasQualityMeasurement" not in datasets[unscored]  # never scored: nothing claimed


def test_csv_has_the_score_and_leaves_it_empty_until_scored(db: Callable[[], Any]) -> None:
    scored = _entry(db, "公交线路站点")
    unscored = _entry(db, "公共停车场")
    with db() as session:
        set_quality_score(session, scored, 72.0, SCORED_AT)
    with db() as session:
        text_ = b"".join(csv_chunks(visible_entries(session, Viewer(Scope.open)))).decode("utf-8")
    rows = {r["信息资源代码"]: r for r in csv.DictReader(io.StringIO(text_))}
    assert (rows[scored]["数据质量评分"], rows[scored]["质量评分时间"]) == ("72.0", "2025-06-01T08:30:00+00:00")
    assert (rows[unscored]["数据质量评分"], rows[unscored]["质量评分时间"]) == ("", "")


# --------------------------------------------------------------------------------------------- migration


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the migration is run down and up on it, not on the shared one)."""
    base = os.environ.get("CPIP_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"cpip_scratch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(sync_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migration_0005a_copies_earlier_scores_and_downgrades_without_losing_versions(scratch_url: str) -> None:
    from catalogue.departments import seed_demo_departments
    from cpip.db import make_sync_engine, make_sync_sessionmaker, sync_transaction

    upgrade(scratch_url, "0005a")
    engine = make_sync_engine(url=scratch_url)
    try:
        with sync_transaction(make_sync_sessionmaker(engine)) as session:
            seed_demo_departments(session)
            entry = create_entry(session, system_actor("test"), EntryCreate.model_validate({
                **metadata("人口基础信息"), "department": "psb"}), source_key="population")
            code = entry.code
        command.downgrade(alembic_config(scratch_url), "0005")
        with engine.begin() as conn:
            # Versions survive the downgrade (a table copy on SQLite would have cascaded them away).
            assert conn.scalar(text("SELECT count(*) FROM catalogue_entry_versions")) == 1
            # Quality scored the resource before the catalogue could show it.
            conn.execute(text("INSERT INTO quality_runs (id, resource, suite, suite_version, trigger, engine, status,"
                              " row_count, expectations, failed_expectations, score, started_at) VALUES (1, "
                              "'population', 'cpip.population', '1', 'cli', 'pandas', 'succeeded', 10, 5, 1, 93.1, "
                              ":at)").bindparams(AT), {"at": SCORED_AT})
            conn.execute(text("INSERT INTO quality_scores (resource, score, run_id, row_count, failed_expectations,"
                              " computed_at) VALUES ('population', 93.1, 1, 10, 1, :at)").bindparams(AT),
                         {"at": SCORED_AT})
        upgrade(scratch_url, "0005a")
        with sync_transaction(make_sync_sessionmaker(engine)) as session:
            found = find_entry(session, code)
            assert found is not None
            assert (found.quality_score, found.quality_scored_at) == (93.1, SCORED_AT)
    finally:
        engine.dispose()
