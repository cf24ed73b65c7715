"""Catalogue fixtures: sessions, the demo departments, and a small corpus with every visibility case."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from catalogue.departments import seed_demo_departments
from catalogue.domains import EntryStatus
from catalogue.schemas import EntryCreate
from catalogue.service import create_entry, system_actor, transition
from cpip.db import make_async_engine, make_async_sessionmaker, make_sync_sessionmaker, sync_transaction
from cpip.settings import Settings


def metadata(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid metadata document; overrides replace top-level fields."""
    doc: dict[str, Any] = {
        "classification": {"category": "3", "item": "01", "catalog": "001"},
        "name": name,
        "abstract": f"{name}。",
        "formats": [{"category": "电子表格", "detail": "CSV"}],
        "items": [{"name": "编号", "key": "id", "data_type": "C", "length": 32, "sensitivity": 1}],
        "share_type": "无条件共享",
        "share_method": {"channel": "共享平台", "mode": "接口"},
        "open_type": "不予开放",
        "update_cycle": "每月",
    }
    doc.update(overrides)
    return doc


@pytest.fixture
def db(sync_engine: Engine) -> Callable[[], Any]:
    """`with db() as session:` — one committed unit of work on the test database."""
    factory = make_sync_sessionmaker(sync_engine)
    return lambda: sync_transaction(factory)


@pytest.fixture(scope="session")
async def async_factory(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_async_engine(settings)
    yield make_async_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def asession(async_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with async_factory() as session:
        yield session


@pytest.fixture
def departments(db: Callable[[], Any]) -> None:
    with db() as session:
        seed_demo_departments(session)


@dataclass(frozen=True)
class Spec:
    key: str
    department: str
    status: EntryStatus
    meta: dict[str, Any]

    @property
    def text(self) -> str:
        """Everything searchable, as the oracle sees it (the department name is added by the caller)."""
        m = self.meta
        return "\n".join([m["name"], m["abstract"], " ".join(m.get("keywords", [])),
                          " ".join(i["name"] for i in m["items"])])


CLOSED = {"share_type": "不予共享", "share_method": None, "no_share_basis": "《中华人民共和国保守国家秘密法》第十条",
          "open_type": "不予开放"}

CORPUS: tuple[Spec, ...] = (
    Spec("population", "psb", EntryStatus.published, metadata(
        "常住人口基本信息", abstract="全市常住人口的姓名、性别与出生日期。",
        classification={"category": "1", "item": "01", "catalog": "001"}, open_type="无条件开放",
        formats=[{"category": "电子表格", "detail": "CSV"}, {"category": "服务接口", "detail": "JSON"}])),
    Spec("legal", "samr", EntryStatus.published, metadata(
        "法人单位登记信息", abstract="企业法人与事业单位法人的统一社会信用代码。", update_cycle="每日",
        classification={"category": "1", "item": "02", "catalog": "001"}, share_type="有条件共享",
        share_conditions="仅用于行政审批", formats=[{"category": "数据库", "detail": None}])),
    Spec("watchlist", "psb", EntryStatus.published, metadata(
        "重点管控名单", abstract="涉及人口安全的管控对象。", keywords=["管控"], **CLOSED)),
    Spec("marriage", "civil", EntryStatus.draft, metadata(
        "婚姻登记人口统计", abstract="按年度统计的婚姻登记情况。", update_cycle="每年")),
    Spec("gdp", "stats", EntryStatus.published, metadata(
        "GDP季度核算数据", abstract="地区生产总值 GDP quarterly accounts。", update_cycle="每季度",
        classification={"category": "1", "item": "07", "catalog": "001"}, open_type="有条件开放",
        open_conditions="注册后申请", formats=[{"category": "电子表格", "detail": "XLSX"}])),
    Spec("land", "nrb", EntryStatus.withdrawn, metadata(
        "土地利用现状", abstract="土地利用现状调查成果。", update_cycle="每年",
        formats=[{"category": "图形图像", "detail": "SHP"}])),
    Spec("buildings", "hurd", EntryStatus.published, metadata(
        "房屋建筑物基础信息", abstract="建筑物的楼层、结构与用途。", open_type="无条件开放", update_cycle="不定期",
        classification={"category": "1", "item": "06", "catalog": "001"},
        formats=[{"category": "自描述格式", "detail": "GeoJSON"}])),
)


def build(session: Session, spec: Spec) -> str:
    """Create an entry through the service and walk it to its state; returns its code."""
    actor = system_actor("test")
    entry = create_entry(session, actor, EntryCreate.model_validate({**spec.meta, "department": spec.department}))
    if spec.status is not EntryStatus.draft:
        transition(session, actor, entry.code, "submit")
        transition(session, actor, entry.code, "approve")
        if spec.status is EntryStatus.withdrawn:
            transition(session, actor, entry.code, "withdraw", "superseded")
    return entry.code


@pytest.fixture
def corpus(db: Callable[[], Any], departments: None) -> dict[str, str]:
    """key → resource code of every CORPUS entry, committed."""
    with db() as session:
        return {spec.key: build(session, spec) for spec in CORPUS}
