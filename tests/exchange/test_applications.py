"""Applications and approvals: share-type rules, working-day deadlines on the official calendar, overdue
flags, refusals with reasons, approvals that can only narrow, and the recorded steps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from cpip.errors import ValidationFailed
from exchange.applications import service
from exchange.applications.models import Application
from exchange.applications.schemas import ApplicationCreate, Approval, Refusal
from exchange.errors import (
    ApplicationNotFound,
    ApplicationStateConflict,
    NotShareable,
    NotYourDepartment,
    ResourceNotFound,
)
from exchange.grants.models import Grant
from exchange.workdays import LOCAL_TZ, HolidayCalendarOutdated, add_working_days, deadline, is_working_day
from security.principals import Principal, PrincipalKind, Role
from tests.support.exchange_world import DISTRICT_A, World, local

# The realm's department service accounts (security/realm/cpip-realm.json): civil consumes, psb provides.
CIVIL = Principal(PrincipalKind.service_account, "sa-civil", client_id="dept-civil", department="civil",
                  roles=frozenset({Role.consumer}))
PSB = Principal(PrincipalKind.service_account, "sa-psb", client_id="dept-psb", department="psb",
                roles=frozenset({Role.provider, Role.consumer}))
SAMR = Principal(PrincipalKind.service_account, "sa-samr", client_id="dept-samr", department="samr",
                 roles=frozenset({Role.provider, Role.consumer}))


def request(resource: str, **overrides: Any) -> ApplicationCreate:
    body: dict[str, Any] = {
        "resource": resource, "fields": ["id_number", "name", "sex", "hukou_region_code"],
        "purpose": "最低生活保障资格核验", "legal_basis": "《社会救助暂行办法》第十一条",
        "period": {"start": "2026-03-01", "end": "2026-12-31"}, "row_scope": {"region_prefix": "3201"},
    }
    body.update(overrides)
    return ApplicationCreate.model_validate(body)


# ------------------------------------------------------------------------------------ the holiday calendar


def test_deadline_crosses_spring_festival_and_adjusted_working_weekends() -> None:
    # 国务院办公厅关于2026年部分节假日安排的通知: 春节 2月15日至23日放假, 2月14日(星期六)、2月28日(星期六)上班.
    assert is_working_day(date(2026, 2, 14))
    assert is_working_day(date(2026, 2, 28))
    assert not any(is_working_day(date(2026, 2, d)) for d in range(15, 24))
    submitted = local(2026, 2, 13, 16, 30)  # a Friday afternoon
    # 5 working days: Sat 14 (adjusted), then Tue 24, Wed 25, Thu 26, Fri 27.
    due, late_from = deadline(submitted, 5)
    assert due == date(2026, 2, 27)
    assert late_from == datetime(2026, 2, 28, tzinfo=LOCAL_TZ)
    # 10 working days continue through Sat 28 (adjusted) to Thu 5 March.
    assert deadline(submitted, 10)[0] == date(2026, 3, 5)


def test_deadline_crosses_labour_day_and_its_adjusted_saturday() -> None:
    # 劳动节 5月1日至5日放假, 5月9日(星期六)上班: Wed 6, Thu 7, Fri 8, Sat 9, Mon 11.
    assert add_working_days(date(2026, 4, 30), 5) == date(2026, 5, 11)
    # 国庆 10月1日至7日, 9月20日(星期日)、10月10日(星期六)上班.
    assert add_working_days(date(2026, 9, 18), 1) == date(2026, 9, 20)
    assert add_working_days(date(2026, 9, 30), 2) == date(2026, 10, 9)
    assert add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_a_deadline_beyond_the_known_calendar_is_refused_not_guessed() -> None:
    with pytest.raises(HolidayCalendarOutdated) as caught:
        deadline(local(2026, 12, 28), 5)  # would need 2027, whose notice the package does not hold
    assert caught.value.status == 503
    assert "2027-01-01" in caught.value.detail


def test_an_application_whose_deadline_needs_an_unknown_year_is_not_filed(
        world: World, db: Callable[[], Any], pin_clock: Callable[[datetime], None]) -> None:
    pin_clock(local(2026, 12, 28))
    with pytest.raises(HolidayCalendarOutdated), db() as session:
        service.apply(session, CIVIL, request(world.population, period={"start": "2026-12-29", "end": "2026-12-31"}))
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Application)) == 0


# ------------------------------------------------------------------------------------ share types


def test_conditional_application_goes_to_the_provider_with_a_working_day_deadline(
        world: World, db: Callable[[], Any], pin_clock: Callable[[datetime], None]) -> None:
    pin_clock(local(2026, 2, 13, 16, 30))
    with db() as session:
        decision = service.apply(session, CIVIL, request(world.population))
        app = decision.application
        assert decision.grant is None
        assert (app.status, app.provider_department, app.consumer_department) == ("pending", "psb", "civil")
        assert (app.reply_days, app.due_on) == (5, date(2026, 2, 27))
        app_id = app.id
    with db() as session:
        listed = service.list_applications(session, PSB, role="provider")
        assert [a.id for a in listed] == [app_id]
        assert service.list_applications(session, SAMR, role="provider") == []


def test_unpublished_resource_gets_ten_working_days(
        world: World, db: Callable[[], Any], pin_clock: Callable[[datetime], None]) -> None:
    pin_clock(local(2026, 2, 13, 9))
    with db() as session:
        app = service.apply(session, CIVIL, request(world.unpublished)).application
        assert (app.data_published, app.reply_days, app.due_on) == (False, 10, date(2026, 3, 5))


def test_unconditional_resource_is_approved_at_once_with_a_grant(
        world: World, db: Callable[[], Any]) -> None:
    with db() as session:
        decision = service.apply(session, CIVIL, request(
            world.entities, fields=["uscc", "name"], row_scope={}, period={"start": "2026-01-01",
                                                                             "end": "2099-12-31"}))
        app, grant = decision.application, decision.grant
        assert app.status == "approved"
        assert grant is not None
        assert (app.due_on, app.decided_by, app.grant_id) == (None, "system:exchange", grant.id)
        assert grant.fields == ["uscc", "name"]
        assert grant.masking == {}
        assert grant.consumer_department == "civil"
        steps = [e.action for e in service.events_of(session, app)]
        assert steps == ["submitted", "approved"]


def test_not_shareable_resource_cannot_be_applied_for(world: World, db: Callable[[], Any]) -> None:
    with pytest.raises(NotShareable) as caught, db() as session:
        service.apply(session, CIVIL, request(world.secret, fields=["id_number"]))
    problem = caught.value.to_problem()
    assert problem["status"] == 422
    assert problem["type"] == "/problems/exchange-not-shareable"
    assert problem["errors"][0]["field"] == "body.resource"
    assert problem["errors"][0]["rule"] == "share_type_not_shareable"
    assert "保守国家秘密法" in problem["detail"]


def test_unknown_fields_and_regionless_scopes_are_named(world: World, db: Callable[[], Any]) -> None:
    with pytest.raises(ValidationFailed) as caught, db() as session:
        service.apply(session, CIVIL, request(world.population, fields=["id_number", "salary"]))
    assert caught.value.extensions["errors"][0]["field"] == "body.fields"
    assert "salary" in caught.value.detail


def test_drafts_of_other_departments_cannot_be_applied_for(world: World, db: Callable[[], Any]) -> None:
    with pytest.raises(ResourceNotFound), db() as session:
        service.apply(session, CIVIL, request("101001/999999"))


# ------------------------------------------------------------------------------------ deciding


def _pending(db: Callable[[], Any], world: World) -> str:
    with db() as session:
        return service.apply(session, CIVIL, request(world.population)).application.id


def test_refusal_requires_reasons(world: World, db: Callable[[], Any]) -> None:
    with pytest.raises(ValidationError):
        Refusal.model_validate({"reasons": "   "})
    with pytest.raises(ValidationError):
        Refusal.model_validate({})
    app_id = _pending(db, world)
    with db() as session:
        app = service.refuse(session, PSB, app_id, Refusal(reasons="用途与申请数据项不匹配")).application
        assert (app.status, app.refusal_reasons, app.decided_on_time) == ("refused", "用途与申请数据项不匹配", True)
    with db() as session, pytest.raises(ApplicationStateConflict):
        service.approve(session, PSB, app_id, Approval())


def test_only_the_provider_department_decides(world: World, db: Callable[[], Any]) -> None:
    app_id = _pending(db, world)
    with db() as session, pytest.raises(NotYourDepartment):
        service.approve(session, CIVIL, app_id, Approval())
    with db() as session, pytest.raises(ApplicationNotFound):  # samr may not even see it
        service.approve(session, SAMR, app_id, Approval())


def test_approval_can_only_narrow_what_was_applied_for(world: World, db: Callable[[], Any]) -> None:
    app_id = _pending(db, world)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"fields": ["id_number", "phone"]}, "body.fields"),
        ({"row_scope": {"region_prefix": "32"}}, "body.row_scope.region_prefix"),
        ({"row_scope": {}}, "body.row_scope.region_prefix"),
        ({"masking": {"phone": "phone"}}, "body.masking"),
        ({"valid_until": "2027-06-30"}, "body.valid_until"),
    ]
    for terms, field in cases:
        with pytest.raises(ValidationFailed) as caught, db() as session:
            service.approve(session, PSB, app_id, Approval.model_validate(terms))
        assert caught.value.extensions["errors"][0]["field"] == field, terms
    with db() as session:
        decision = service.approve(session, PSB, app_id, Approval.model_validate({
            "fields": ["id_number", "name", "hukou_region_code"],
            "masking": {"id_number": "id-number", "name": "name"},
            "row_scope": {"region_prefix": DISTRICT_A}, "records_per_day": 500}))
        grant = decision.grant
        assert grant is not None
        assert grant.masking == {"id_number": "id-number", "name": "name"}
        assert (grant.region_prefix, grant.records_per_day) == (DISTRICT_A, 500)
        assert grant.valid_until == datetime(2027, 1, 1, tzinfo=LOCAL_TZ)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Grant)) == 1


def test_overdue_applications_are_flagged_once_and_late_decisions_recorded(
        world: World, db: Callable[[], Any], pin_clock: Callable[[datetime], None]) -> None:
    pin_clock(local(2026, 2, 13, 16, 30))
    app_id = _pending(db, world)
    last_moment = datetime(2026, 2, 28, tzinfo=LOCAL_TZ) - timedelta(microseconds=1)
    pin_clock(last_moment)
    with db() as session:
        assert service.flag_overdue(session) == []
        assert not service.is_overdue(session.get(Application, app_id))
    pin_clock(datetime(2026, 2, 28, tzinfo=LOCAL_TZ))
    with db() as session:
        assert [a.id for a in service.flag_overdue(session)] == [app_id]
        assert service.is_overdue(session.get(Application, app_id))
        assert [a.id for a in service.list_applications(session, PSB, role="provider", overdue=True)] == [app_id]
    with db() as session:
        assert service.flag_overdue(session) == []  # once
        app = service.approve(session, PSB, app_id, Approval()).application
        assert app.decided_on_time is False
        steps = [(e.action, e.actor_department) for e in service.events_of(session, app)]
        assert steps == [("submitted", "civil"), ("overdue", None), ("approved", "psb")]
        assert all(e.at is not None for e in service.events_of(session, app))


def test_withdrawal_by_the_applicant_only(world: World, db: Callable[[], Any]) -> None:
    app_id = _pending(db, world)
    with db() as session, pytest.raises(NotYourDepartment):
        service.withdraw(session, PSB, app_id, None)
    with db() as session:
        assert service.withdraw(session, CIVIL, app_id, "不再需要").application.status == "withdrawn"


def test_a_grant_works_only_within_its_validity(world: World, db: Callable[[], Any],
                                                pin_clock: Callable[[datetime], None]) -> None:
    from exchange.errors import GrantNotEffective
    from exchange.grants.service import effective_grant

    pin_clock(local(2026, 2, 13, 9))
    with db() as session:
        app_id = service.apply(session, CIVIL, request(world.population)).application.id  # period 1 Mar – 31 Dec
        service.approve(session, PSB, app_id, Approval())
    with db() as session, pytest.raises(GrantNotEffective) as caught:
        effective_grant(session, CIVIL, world.population)
    assert "valid only from 2026-02-28T16:00:00+00:00" in caught.value.detail  # 1 March, local midnight
    pin_clock(local(2026, 3, 1, 0, 0))
    with db() as session:
        assert effective_grant(session, CIVIL, world.population).consumer_department == "civil"
    pin_clock(local(2027, 1, 1, 0, 0))
    with db() as session, pytest.raises(GrantNotEffective) as caught:
        effective_grant(session, CIVIL, world.population)
    assert "expired" in caught.value.detail
