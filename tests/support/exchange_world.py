"""Exchange fixtures: the demo departments, catalogue resources of every share type backed by real base-database
rows in two districts, and a pinned clock. Test modules import the fixtures they use from here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from basebases.demo_people import id_number
from basebases.models import LegalEntity, Person
from catalogue.departments import seed_demo_departments
from catalogue.domains import EntrySource, EntryStatus
from catalogue.schemas import EntryCreate
from catalogue.service import create_entry, system_actor
from cpip.clock import set_clock
from cpip.db import make_sync_sessionmaker, sync_transaction
from exchange.workdays import LOCAL_TZ

# Two districts of one city (GB/T 2260): the grant in the acceptance test is scoped to the first.
DISTRICT_A = "320102"  # 玄武区
DISTRICT_B = "320104"  # 秦淮区

PERSON_ITEMS = [
    {"name": "公民身份号码", "key": "id_number", "data_type": "C", "length": 18, "sensitivity": 4},
    {"name": "姓名", "key": "name", "data_type": "C", "length": 50, "sensitivity": 3},
    {"name": "性别", "key": "sex", "data_type": "C", "length": 1, "sensitivity": 2},
    {"name": "出生日期", "key": "birth_date", "data_type": "D", "sensitivity": 3},
    {"name": "户籍地行政区划代码", "key": "hukou_region_code", "data_type": "C", "length": 6, "sensitivity": 2},
    {"name": "居住地址", "key": "residence_address", "data_type": "C", "length": 200, "sensitivity": 3},
    {"name": "联系电话", "key": "phone", "data_type": "C", "length": 20, "sensitivity": 3},
]
ENTITY_ITEMS = [
    {"name": "统一社会信用代码", "key": "uscc", "data_type": "C", "length": 18, "sensitivity": 1},
    {"name": "名称", "key": "name", "data_type": "C", "length": 200, "sensitivity": 1},
    {"name": "主体类型", "key": "entity_type", "data_type": "C", "length": 30, "sensitivity": 1},
    {"name": "登记地行政区划代码", "key": "region_code", "data_type": "C", "length": 6, "sensitivity": 1},
]


def entry_doc(name: str, items: list[dict[str, Any]], share_type: str, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "classification": {"category": "1", "item": "01", "catalog": "001"},
        "name": name, "abstract": f"{name}。", "formats": [{"category": "数据库"}], "items": items,
        "share_type": share_type, "share_method": {"channel": "共享平台", "mode": "接口"},
        "open_type": "不予开放", "update_cycle": "每日",
    }
    if share_type == "有条件共享":
        doc["share_conditions"] = "依法履职需要, 经提供部门审核同意"
    if share_type == "不予共享":
        doc["share_method"] = None
        doc["no_share_basis"] = "《中华人民共和国保守国家秘密法》第十条"
    doc.update(overrides)
    return doc


def register(session: Session, department: str, doc: dict[str, Any], *, status: EntryStatus = EntryStatus.published,
             source_key: str | None = None) -> str:
    entry = create_entry(session, system_actor("tests"), EntryCreate.model_validate({**doc, "department": department}),
                         source=EntrySource.basebase if source_key else EntrySource.department,
                         source_key=source_key, status=status)
    return entry.code


@dataclass(frozen=True)
class World:
    population: str      # psb, 有条件共享, published, backed by persons
    entities: str        # samr, 无条件共享, published, backed by legal_entities
    secret: str          # psb, 不予共享
    unpublished: str     # psb, 有条件共享, under review (not yet published), backed by persons too
    open_entities: str   # samr, 无条件开放 (open data), backed by legal_entities
    people: dict[str, list[str]]  # district -> ID numbers of the people registered there


NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊"]


def make_people(session: Session, now: datetime) -> dict[str, list[str]]:
    people: dict[str, list[str]] = {DISTRICT_A: [], DISTRICT_B: []}
    for d, district in enumerate((DISTRICT_A, DISTRICT_B)):
        for i, name in enumerate(NAMES):
            born = date(1990 + i, 1 + d, 10 + i)
            number = id_number(district, born, 100 + 2 * i + 1)
            session.add(Person(
                id_number=number, name=name, sex="1", birth_date=born,
                hukou_region_code=district, residence_address=f"江苏省南京市某区某街道{i + 1}号",
                phone=f"1380000{d}{i:03d}", status="normal", created_at=now, updated_at=now))
            people[district].append(number)
    session.add(LegalEntity(uscc="91320102MA1X00000X", name="南京某某科技有限公司", entity_type="limited_company",
                            legal_representative="张伟", region_code=DISTRICT_A, created_at=now, updated_at=now))
    return people


@pytest.fixture
def db(sync_engine: Engine) -> Callable[[], Any]:
    """`with db() as session:` — one committed unit of work on the test database."""
    factory = make_sync_sessionmaker(sync_engine)
    return lambda: sync_transaction(factory)


@pytest.fixture
def world(db: Callable[[], Any]) -> World:
    now = datetime.now(UTC)
    with db() as session:
        seed_demo_departments(session)
        population = register(session, "psb", entry_doc("常住人口基本信息", PERSON_ITEMS, "有条件共享"),
                              source_key="population")
        entities = register(session, "samr", entry_doc(
            "法人基本信息", ENTITY_ITEMS, "无条件共享",
            classification={"category": "1", "item": "02", "catalog": "001"}), source_key="legal_entities")
        secret = register(session, "psb", entry_doc("涉密人口信息", PERSON_ITEMS[:2], "不予共享"))
        unpublished = register(session, "psb", entry_doc("流动人口信息", PERSON_ITEMS, "有条件共享"),
                               status=EntryStatus.under_review, source_key="basebases:population")
        open_items = [*ENTITY_ITEMS, {"name": "法定代表人", "key": "legal_representative", "data_type": "C",
                                      "length": 50, "sensitivity": 2}]
        open_entities = register(session, "samr", entry_doc(
            "法人公开信息", open_items, "无条件共享", open_type="无条件开放",
            classification={"category": "1", "item": "02", "catalog": "002"}), source_key="basebase/legal_entities")
        people = make_people(session, now)
    return World(population, entities, secret, unpublished, open_entities, people)


@pytest.fixture
def pin_clock() -> Iterator[Callable[[datetime], None]]:
    """`pin_clock(moment)` fixes cpip.clock.utcnow() for the rest of the test."""
    def pin(moment: datetime) -> None:
        set_clock(lambda: moment)

    yield pin
    set_clock(None)


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A local (Asia/Shanghai) wall-clock time as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ)


def run_jobs(engine: Engine, kind: str, *, limit: int = 20) -> int:
    """Run the due jobs of `kind` with a real worker, as `cpip worker` would; returns how many ran."""
    from cpip.jobs import Job, JobStatus, Worker

    worker = Worker(engine, lease_seconds=30, name=f"test-{kind}")
    ran = 0
    for _ in range(limit):
        with Session(engine) as session:
            due = session.scalar(select(Job.id).where(Job.kind == kind, Job.status == JobStatus.queued))
        if due is None or not worker.run_one():
            return ran
        ran += 1
    return ran
