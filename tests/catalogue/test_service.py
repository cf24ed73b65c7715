"""Catalogue rules: codes, ownership, lifecycle, versions, census counters, the department register."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalogue.departments import seed_demo_departments, upsert_department
from catalogue.domains import RESOURCE_CODE_PATTERN
from catalogue.models import CatalogueEntry, CatalogueSearchDoc
from catalogue.schemas import CensusUpdate, DepartmentIn, EntryCreate
from catalogue.service import (
    Actor,
    EntryNotFound,
    LifecycleConflict,
    NotYourDepartment,
    VersionMismatch,
    add_usage,
    create_entry,
    find_entry,
    get_version,
    list_versions,
    set_census,
    transition,
    update_entry,
)
from catalogue.visibility import Scope, Viewer
from cpip.db import async_transaction
from cpip.errors import Forbidden, ValidationFailed
from security.principals import Principal, PrincipalKind, Role
from tests.catalogue.conftest import metadata

pytestmark = pytest.mark.usefixtures("departments")


def person(username: str, department: str | None, *roles: Role) -> Actor:
    return Actor.of(Principal(kind=PrincipalKind.person, subject=f"sub-{username}", username=username,
                              department=department, roles=frozenset(roles)))


PSB = person("li.na", "psb", Role.provider)
SAMR = person("samr.user", "samr", Role.provider)
CIVIL_CONSUMER = person("zhang.wei", "civil", Role.consumer)
ADMIN = person("admin", None, Role.platform_admin)


def create(session: Any, actor: Actor, name: str, **overrides: Any) -> CatalogueEntry:
    return create_entry(session, actor, EntryCreate.model_validate(metadata(name, **overrides)))


def field_of(error: ValidationFailed) -> list[str]:
    return [e["field"] for e in error.extensions["errors"]]


def test_codes_are_classification_plus_sequence(db: Callable[[], Any]) -> None:
    with db() as session:
        first = create(session, PSB, "甲")
        second = create(session, PSB, "乙")
        other = create(session, PSB, "丙", classification={"category": "3", "item": "01", "catalog": "002",
                                                           "detail": "7"})
    assert (first.code, second.code) == ("301001/000001", "301001/000002")
    assert other.code == "3010027/000001"
    assert all(re.match(RESOURCE_CODE_PATTERN, e.code) for e in (first, second, other))


def test_a_department_registers_and_changes_only_its_own_entries(db: Callable[[], Any]) -> None:
    with db() as session:
        entry = create(session, PSB, "户籍迁移记录")
        with pytest.raises(NotYourDepartment) as refused:
            update_entry(session, SAMR, entry.code, {"name": "改名"})
        assert refused.value.status == 403
        with pytest.raises(NotYourDepartment):
            create_entry(session, PSB, EntryCreate.model_validate({**metadata("冒名"), "department": "samr"}))
        with pytest.raises(Forbidden):  # a consumer holds no catalogue:write
            create(session, CIVIL_CONSUMER, "民政数据")
        assert create(session, PSB, "默认部门").department_code == "psb"


def test_lifecycle_draft_review_published_withdrawn(db: Callable[[], Any]) -> None:
    with db() as session:
        code = create(session, PSB, "出入境记录").code
        with pytest.raises(LifecycleConflict):
            transition(session, PSB, code, "withdraw", "too early")
        transition(session, PSB, code, "submit")
        with pytest.raises(LifecycleConflict):
            update_entry(session, PSB, code, {"name": "审核中改名"})
        with pytest.raises(Forbidden):
            transition(session, PSB, code, "approve")  # providers do not approve their own entries
        with pytest.raises(ValidationFailed) as refused:
            transition(session, ADMIN, code, "reject")
        assert field_of(refused.value) == ["body.note"]
        transition(session, ADMIN, code, "reject", "摘要不完整")
        transition(session, PSB, code, "submit")
        published = transition(session, ADMIN, code, "approve")
        assert published.status == "published"
        assert published.published_on is not None
        withdrawn = transition(session, PSB, code, "withdraw", "数据停止更新")
        assert withdrawn.status == "withdrawn"
        assert transition(session, PSB, code, "reopen").status == "draft"


def test_every_change_is_a_version_with_a_field_diff(db: Callable[[], Any]) -> None:
    viewer = Viewer(Scope.catalogue, "psb")
    with db() as session:
        code = create(session, PSB, "旅馆住宿登记").code
        update_entry(session, PSB, code, {"name": "旅馆住宿登记信息", "update_cycle": "每日"})
        unchanged = update_entry(session, PSB, code, {"name": "旅馆住宿登记信息"})
        assert unchanged.version == 2  # nothing changed, no version
        transition(session, PSB, code, "submit")
        versions = list_versions(session, viewer, code)
        first = get_version(session, viewer, code, 1)
    assert [(v.version, v.action) for v in versions] == [(3, "submit"), (2, "update"), (1, "create")]
    assert versions[1].changes == {"name": {"old": "旅馆住宿登记", "new": "旅馆住宿登记信息"},
                                   "update_cycle": {"old": "每月", "new": "每日"}}
    assert versions[1].actor == "li.na"
    assert versions[1].actor_department == "psb"
    assert versions[0].changes == {"status": {"old": "draft", "new": "under_review"}}
    assert first.snapshot["name"] == "旅馆住宿登记"
    assert first.snapshot["status"] == "draft"
    assert versions[2].at <= versions[1].at <= versions[0].at


def test_a_change_must_leave_the_metadata_valid_and_current(db: Callable[[], Any]) -> None:
    with db() as session:
        code = create(session, PSB, "案件信息").code
        with pytest.raises(ValidationFailed) as refused:
            update_entry(session, PSB, code, {"share_type": "不予共享", "share_method": None})
        assert field_of(refused.value) == ["body.no_share_basis"]
        with pytest.raises(ValidationFailed) as refused:
            update_entry(session, PSB, code, {"related_codes": ["101001/999999"]})
        assert field_of(refused.value) == ["body.related_codes"]
        with pytest.raises(ValidationFailed) as refused:
            update_entry(session, PSB, code, {"classification": {"category": "3", "item": "02", "catalog": "001"}})
        assert field_of(refused.value) == ["body.classification"]
        with pytest.raises(VersionMismatch):
            update_entry(session, PSB, code, {"name": "案件"}, expected_version=7)
        assert update_entry(session, PSB, code, {"name": "案件"}, expected_version=1).version == 2


async def test_census_counters_are_set_by_the_owner_and_incremented_atomically(
        db: Callable[[], Any], async_factory: async_sessionmaker[AsyncSession]) -> None:
    with db() as session:
        code = create(session, PSB, "机动车登记").code
        set_census(session, PSB, code, CensusUpdate(storage_bytes=5_000_000_000, record_count=1_200_000))
        with pytest.raises(NotYourDepartment):
            set_census(session, SAMR, code, CensusUpdate(record_count=1))

    async def deliver() -> None:
        async with async_transaction(async_factory) as s:
            await add_usage(s, code, shared_records=10, shared_bytes=1000, open_records=1)

    await asyncio.gather(*(deliver() for _ in range(8)))
    with db() as session:
        entry = find_entry(session, code)
        assert entry is not None
        assert (entry.storage_bytes, entry.record_count) == (5_000_000_000, 1_200_000)
        assert (entry.shared_records, entry.shared_bytes, entry.open_records, entry.open_bytes) == (80, 8000, 8, 0)
        assert entry.version == 1  # counters are not metadata versions
    with pytest.raises(EntryNotFound):
        async with async_transaction(async_factory) as s:
            await add_usage(s, "301001/999999", shared_records=1)


def test_department_register(db: Callable[[], Any]) -> None:
    with db() as session:
        assert seed_demo_departments(session) == 0  # the fixture seeded them already: idempotent
        with pytest.raises(ValidationFailed) as refused:
            upsert_department(session, DepartmentIn(code="fin", name="市财政局", region="320100",
                                                    credit_code="11320100MB0000000X"))
        assert field_of(refused.value) == ["body.credit_code"]
        with pytest.raises(ValidationFailed) as refused:
            upsert_department(session, DepartmentIn(code="psb", name="市公安局", region="320100", parent="psb"))
        assert field_of(refused.value) == ["body.parent"]
        branch, created = upsert_department(session, DepartmentIn(code="psb-xh", name="鼓楼分局", region="320106",
                                                                  parent="psb"))
        assert created
        assert branch.parent_code == "psb"
        entry = create(session, PSB, "警情")
        upsert_department(session, DepartmentIn(code="psb", name="市公安警务局", region="320100"))
        # The provider's name is searchable: a rename re-indexes the department's entries.
        tokens = session.scalar(select(CatalogueSearchDoc.tokens).where(CatalogueSearchDoc.entry_id == entry.id))
        assert tokens is not None
        assert "警务" in tokens.split(" ")
