"""A known usage history of 2026Q3 for the indicator tests, written through the real services where practical
(catalogue entries, applications and decisions) and directly into the tables where a service would need the
whole HTTP or Great Expectations flow (audit events with chosen times and latencies, landed batches, issues)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from catalogue.departments import seed_demo_departments
from catalogue.domains import EntryStatus
from cpip.clock import set_clock
from exchange.applications import service as applications
from exchange.applications.schemas import ApplicationCreate, Approval, Refusal
from exchange.submissions.models import Submission
from quality.models import QualityIssue
from security.audit.events import build_event
from security.audit.models import AuditEvent
from security.principals import Principal, PrincipalKind, Role
from tests.support.exchange_world import ENTITY_ITEMS, PERSON_ITEMS, entry_doc, local, register

CIVIL = Principal(PrincipalKind.service_account, "sa-civil", client_id="dept-civil", department="civil",
                  roles=frozenset({Role.consumer}))
SAMR = Principal(PrincipalKind.service_account, "sa-samr", client_id="dept-samr", department="samr",
                 roles=frozenset({Role.provider, Role.consumer}))
PSB = Principal(PrincipalKind.service_account, "sa-psb", client_id="dept-psb", department="psb",
                roles=frozenset({Role.provider, Role.consumer}))
PSB_OFFICER = Principal(PrincipalKind.person, "u-psb-1", username="zhang", department="psb",
                        roles=frozenset({Role.consumer}))
EVALUATOR = Principal(PrincipalKind.person, "u-eval", username="eval", roles=frozenset({Role.evaluator}))
KEY1 = Principal(PrincipalKind.api_key, "key:k1", api_key_id="k1", roles=frozenset({Role.open_data_developer}))
KEY2 = Principal(PrincipalKind.api_key, "key:k2", api_key_id="k2", roles=frozenset({Role.open_data_developer}))
ANON = Principal(PrincipalKind.anonymous, "anonymous")
_EVENTS = cast(Table, AuditEvent.__table__)


@dataclass
class History:
    pop: str = ""      # psb 有条件共享, 接口, 每日, never updated in Q3
    ent: str = ""      # samr 无条件共享, 接口, 每月, updated with a 47-day gap (late)
    secret: str = ""   # psb 不予共享, 不定期
    open: str = ""     # samr 无条件共享 + 无条件开放, CSV, licensed, downloadable, 每月, updated on time
    addr: str = ""     # nrb 有条件共享 by 邮件或介质 (not mounted), 无条件开放, PDF, 每季度
    house: str = ""    # hurd 有条件共享, 库表, 每年
    draft: str = ""    # stats, draft only
    apps: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # label -> audit event id
    issues: dict[str, int] = field(default_factory=dict)


def audit(session: Session, principal: Principal, at: datetime, resource: str, *, action: str, api: str,
          outcome: str = "allowed", latency_ms: float | None = None) -> int:
    event = build_event(principal, hmac_key=b"k" * 32, action=action, resource=resource, api=api, outcome=outcome,
                        status_code={"allowed": 200, "denied": 403, "error": 500}[outcome], latency_ms=latency_ms)
    event["occurred_at"] = at
    return int(session.execute(insert(_EVENTS).returning(_EVENTS.c.id), [event]).scalar_one())


def _app(resource: str, fields: list[str], **extra: Any) -> ApplicationCreate:
    return ApplicationCreate.model_validate({
        "resource": resource, "fields": fields, "purpose": "依法履职", "legal_basis": "《某某条例》第十条",
        "period": {"start": "2026-03-01", "end": "2026-12-31"}, **extra})


def _landed(session: Session, code: str, department: str, at: datetime, status: str = "landed") -> None:
    batch = f"{code}@{at.isoformat()}"
    session.add(Submission(id="sub_" + hashlib.sha256(batch.encode()).hexdigest()[:12], batch_id=batch,
                           department=department, resource_code=code, base="legal_entities", format="ndjson",
                           content_sha256="0" * 64, submitted_by={}, status=status, rows_total=1,
                           landed=1 if status == "landed" else None, created_at=at, finished_at=at))


def _issue(session: Session, raised: datetime, *, fixed: datetime | None = None,
           closed: datetime | None = None) -> int:
    status = "closed" if closed else "fixed" if fixed else "raised"
    issue = QualityIssue(resource="legal_entities", title="统一社会信用代码校验位错误", status=status,
                         department="samr", raised_by="system:quality", raised_at=raised, fixed_at=fixed,
                         closed_at=closed, updated_at=closed or fixed or raised)
    session.add(issue)
    session.flush()
    return issue.id


def build(db: Callable[[], Any]) -> History:
    h = History()

    def at(moment: datetime) -> None:
        set_clock(lambda: moment)

    try:
        at(local(2026, 6, 15))
        with db() as s:
            seed_demo_departments(s)  # psb samr nrb hurd stats civil: 6 registered departments
            h.pop = register(s, "psb", entry_doc("常住人口基本信息", PERSON_ITEMS, "有条件共享"),
                             source_key="population")
            h.ent = register(s, "samr", entry_doc("法人基本信息", ENTITY_ITEMS, "无条件共享", update_cycle="每月",
                             classification={"category": "1", "item": "02", "catalog": "001"}),
                             source_key="legal_entities")
            h.secret = register(s, "psb", entry_doc("涉密人口信息", PERSON_ITEMS[:2], "不予共享",
                                                    update_cycle="不定期"))
            h.open = register(s, "samr", entry_doc(
                "法人公开信息", ENTITY_ITEMS, "无条件共享", open_type="无条件开放", update_cycle="每月",
                formats=[{"category": "电子表格", "detail": "CSV"}],
                license="https://creativecommons.org/licenses/by/4.0/",
                download_url="https://data.example.gov.cn/entities.csv",
                classification={"category": "1", "item": "02", "catalog": "002"}), source_key="basebase/legal_entities")
            h.addr = register(s, "nrb", entry_doc(
                "地名地址信息", [{"name": "地名", "key": "place_name", "data_type": "C", "sensitivity": 1}],
                "有条件共享", share_method={"channel": "邮件或介质"}, open_type="无条件开放", update_cycle="每季度",
                formats=[{"category": "电子文件", "detail": "PDF"}],
                classification={"category": "1", "item": "03", "catalog": "001"}))
            h.house = register(s, "hurd", entry_doc(
                "房屋基本信息", [{"name": "房屋编码", "key": "building_code", "data_type": "C", "sensitivity": 1}],
                "有条件共享", share_method={"channel": "共享平台", "mode": "库表"}, update_cycle="每年",
                classification={"category": "1", "item": "06", "catalog": "001"}))
            h.draft = register(s, "stats", entry_doc(
                "统计公报", [{"name": "指标", "key": "indicator", "data_type": "C", "sensitivity": 1}], "无条件共享",
                classification={"category": "1", "item": "07", "catalog": "001"}), status=EntryStatus.draft)
            _issue(s, local(2026, 6, 20), closed=local(2026, 7, 2))  # raised in Q2: not counted in Q3

        # F: applied in Q2, approved in Q3 before its deadline (due Mon 6 July).
        at(local(2026, 6, 29, 10))
        with db() as s:
            h.apps["F"] = applications.apply(s, SAMR, _app(h.pop, ["id_number", "name"])).application.id
        at(local(2026, 7, 2, 10))
        with db() as s:
            applications.approve(s, PSB, h.apps["F"], Approval())
        # D: 无条件共享, approved at once (no deadline).
        at(local(2026, 8, 3, 10))
        with db() as s:
            h.apps["D"] = applications.apply(s, CIVIL, _app(h.ent, ["uscc", "name"])).application.id
        # E: withdrawn the next day: neither submitted nor decided for the indicators.
        at(local(2026, 8, 10, 10))
        with db() as s:
            h.apps["E"] = applications.apply(s, CIVIL, _app(h.addr, ["place_name"])).application.id
        at(local(2026, 8, 11, 10))
        with db() as s:
            applications.withdraw(s, CIVIL, h.apps["E"], "不再需要")
        # B: Mon 14 Sep; 5 working days are 15–18 Sep and Sun 20 Sep (an adjusted working day for 国庆), so it
        # is due Sun 20 Sep; refused Mon 21 Sep: late (counting weekends only would wrongly call it on time).
        at(local(2026, 9, 14, 10))
        with db() as s:
            h.apps["B"] = applications.apply(s, SAMR, _app(h.pop, ["name"])).application.id
        at(local(2026, 9, 21, 9))
        with db() as s:
            applications.refuse(s, PSB, h.apps["B"], Refusal(reasons="申请用途与所申请字段不相符"))
        # A: Mon 21 Sep; 22, 23, 24 Sep, then 中秋 25–27 Sep off, 28 and 29 Sep: due Tue 29 Sep; approved that
        # afternoon: on time (counting weekends only would have made it due Mon 28 and late).
        at(local(2026, 9, 21, 10))
        with db() as s:
            h.apps["A"] = applications.apply(s, CIVIL, _app(h.pop, ["id_number", "name"])).application.id
        at(local(2026, 9, 29, 16))
        with db() as s:
            applications.approve(s, PSB, h.apps["A"], Approval())
        # C: Mon 28 Sep, still pending at the end of the quarter.
        at(local(2026, 9, 28, 10))
        with db() as s:
            h.apps["C"] = applications.apply(s, CIVIL, _app(h.house, ["building_code"])).application.id

        with db() as s:
            c = h.calls
            c["civil-ent-rest"] = audit(s, CIVIL, local(2026, 7, 10), h.ent, action="exchange.records.read",
                                        api="rest", latency_ms=12)
            c["civil-ent-graphql"] = audit(s, CIVIL, local(2026, 7, 11), h.ent, action="graphql records",
                                           api="graphql", latency_ms=40)
            c["civil-pop-denied"] = audit(s, CIVIL, local(2026, 7, 12), h.pop, action="exchange.records.read",
                                          api="rest", outcome="denied", latency_ms=3)
            c["civil-pop-rest"] = audit(s, CIVIL, local(2026, 9, 30, 12), h.pop, action="exchange.records.read",
                                        api="rest", latency_ms=80)
            c["samr-pop-error"] = audit(s, SAMR, local(2026, 8, 20), h.pop, action="exchange.changes.read",
                                        api="feed", outcome="error", latency_ms=5000)
            c["samr-ent-export"] = audit(s, SAMR, local(2026, 8, 21), h.ent, action="exchange.export.request",
                                         api="export", latency_ms=900)
            c["psb-house-rest"] = audit(s, PSB_OFFICER, local(2026, 9, 2), h.house, action="exchange.records.read",
                                        api="rest", latency_ms=150)
            c["k1-open-read"] = audit(s, KEY1, local(2026, 9, 3), h.open, action="open-data.records.read",
                                      api="rest", latency_ms=20)
            c["k1-open-download"] = audit(s, KEY1, local(2026, 9, 4), h.open, action="open-data.download",
                                          api="export", latency_ms=200)
            c["k2-open-download"] = audit(s, KEY2, local(2026, 9, 5), h.open, action="open-data.download",
                                          api="export", latency_ms=30)
            c["anon-open-denied"] = audit(s, ANON, local(2026, 9, 6), h.open, action="open-data.records.read",
                                          api="rest", outcome="denied", latency_ms=1)
            # Outside the quarter, or not a data call: never counted.
            audit(s, CIVIL, local(2026, 6, 30, 23, 30), h.ent, action="exchange.records.read", api="rest",
                  latency_ms=10)
            audit(s, CIVIL, local(2026, 10, 1, 0, 0), h.ent, action="exchange.records.read", api="rest",
                  latency_ms=10)
            audit(s, EVALUATOR, local(2026, 8, 1), "audit-log", action="audit.search", api="rest", latency_ms=10)
            audit(s, PSB, local(2026, 8, 2), h.pop, action="catalogue.entry.update", api="admin")

            # Landed batches: `ent` (每月) 30 Jun, 25 Jul, then 10 Sep: 47 days without an update (late);
            # `open` (每月) 5 Jul, 3 Aug, 1 Sep, 28 Sep: never more than 31 days (on time).
            for moment in (local(2026, 6, 30), local(2026, 7, 25), local(2026, 9, 10)):
                _landed(s, h.ent, "samr", moment)
            for moment in (local(2026, 7, 5), local(2026, 8, 3), local(2026, 9, 1), local(2026, 9, 28)):
                _landed(s, h.open, "samr", moment)
            _landed(s, h.pop, "psb", local(2026, 8, 1), status="failed")  # a failed batch is no update

            h.issues["closed"] = _issue(s, local(2026, 7, 5), fixed=local(2026, 7, 15), closed=local(2026, 7, 20))
            h.issues["fixed"] = _issue(s, local(2026, 8, 1), fixed=local(2026, 8, 10))
            h.issues["closed-late"] = _issue(s, local(2026, 9, 15), fixed=local(2026, 9, 29),
                                             closed=local(2026, 10, 3))
    finally:
        set_clock(None)
    return h
