"""The 申请 → 审批 → 授权 workflow.

* 无条件共享: approved at once, as applied for; the grant is issued in the same transaction.
* 有条件共享: goes to the provider department, which must reply within 5 working days — 10 when the resource is
  not yet published (its catalogue entry is still under review) — on the official holiday calendar
  (exchange.workdays). A pending application past its deadline is overdue; `flag_overdue` records that.
  A refusal states its reasons. An approval can only narrow what was applied for.
* 不予共享: no application can be made (422 naming the rule).

Every step is kept as an ApplicationEvent with its time and actor; the gateway also audits each one.
Functions take a synchronous Session, flush, and never commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.domains import EntryStatus, ShareType
from cpip.clock import utcnow
from cpip.errors import Forbidden, ValidationFailed
from cpip.settings import Settings, get_settings
from exchange.applications.models import Application, ApplicationEvent
from exchange.applications.schemas import (
    ApplicationCreate,
    ApplicationOut,
    Approval,
    EventOut,
    Period,
    Refusal,
    RowScope,
)
from exchange.errors import (
    ApplicationNotFound,
    ApplicationStateConflict,
    NotShareable,
    NotYourDepartment,
    ResourceNotFound,
)
from exchange.grants import service as grants
from exchange.grants.models import Grant
from exchange.resources import Resource, load_resource
from exchange.webhooks.outbox import emit
from exchange.workdays import LOCAL_TZ, deadline, local_date
from security.masking import MaskingRule
from security.permissions import Permission, has_permission
from security.principals import Principal


class ApplicationStatus:
    pending = "pending"
    approved = "approved"
    refused = "refused"
    withdrawn = "withdrawn"


@dataclass(frozen=True)
class Decision:
    application: Application
    grant: Grant | None


def _problem(field: str, rule: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field, "message": message, "rule": rule}])


def new_application_id() -> str:
    return "app_" + secrets.token_hex(10)


def _event(session: Session, application: Application, action: str, principal: Principal | None, at: datetime,
           **detail: object) -> None:
    session.add(ApplicationEvent(
        application_id=application.id, action=action,
        actor=grants.actor_name(principal) if principal else "system:exchange",
        actor_department=principal.department if principal else None, at=at, detail=dict(detail)))


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LOCAL_TZ).astimezone(UTC)


def _notify(session: Session, application: Application, event_type: str, **extra: object) -> None:
    """Queue the workflow event for the department it concerns (provider or consumer)."""
    to_provider = event_type in ("application.submitted", "application.withdrawn", "application.overdue")
    emit(session, application.provider_department if to_provider else application.consumer_department,
         event_type, {"application": application.id, "resource": application.resource_code,
                      "consumer": application.consumer_department, "provider": application.provider_department,
                      "status": application.status,
                      "due_on": application.due_on.isoformat() if application.due_on else None, **extra})


def is_overdue(application: Application, now: datetime | None = None) -> bool:
    if application.status != ApplicationStatus.pending or application.due_at is None:
        return False
    return (now or utcnow()) >= application.due_at


# ------------------------------------------------------------------------------------------------ applying


def _applicable(session: Session, principal: Principal, code: str) -> Resource:
    try:
        resource = load_resource(session, code)
    except ResourceNotFound:
        resource = None
    own = resource is not None and resource.department == principal.department
    # Drafts and withdrawn entries are invisible to other departments; under review means "not yet
    # published", which may be applied for with the longer reply limit.
    if resource is None or (not own and resource.status not in (EntryStatus.published, EntryStatus.under_review)):
        raise ResourceNotFound(f"no catalogue resource {code!r} that you may apply for", resource=code)
    if resource.share_type == ShareType.none:
        basis = f" (不予共享依据: {resource.no_share_basis})" if resource.no_share_basis else ""
        raise NotShareable(
            f"resource {code} is 不予共享 and cannot be applied for{basis}", resource=code,
            errors=[{"field": "body.resource", "rule": "share_type_not_shareable",
                     "message": f"{code} is 不予共享 (share type 3): no application is possible{basis}"}])
    if own:
        raise _problem("body.resource", "own_resource",
                       f"resource {code} is your own department's; no application is needed")
    return resource


def _check_fields(resource: Resource, fields: list[str], location: str) -> None:
    known = resource.field_keys()
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise _problem(location, "unknown_field",
                       f"resource {resource.code} has no field(s) {', '.join(unknown)}; its fields are "
                       f"{', '.join(known)}")


def _check_scope(resource: Resource, prefix: str | None, location: str) -> None:
    if prefix is not None and resource.source is not None and resource.source.region_column is None:
        raise _problem(location, "no_region_column",
                       f"resource {resource.code} has no region-code column, so it cannot be filtered by region")


def apply(session: Session, principal: Principal, data: ApplicationCreate,
          settings: Settings | None = None) -> Decision:
    """File an application; 无条件共享 is approved (and its grant issued) at once."""
    settings = settings or get_settings()
    if principal.department is None or not has_permission(principal, Permission.exchange_apply):
        raise Forbidden("applying for access needs a department account holding exchange:apply",
                        required_permission=Permission.exchange_apply.value)
    resource = _applicable(session, principal, data.resource)
    _check_fields(resource, data.fields, "body.fields")
    _check_scope(resource, data.row_scope.region_prefix, "body.row_scope.region_prefix")
    now = utcnow()
    if data.period.end < local_date(now):
        raise _problem("body.period.end", "in_past", "the period ends before today")
    application = Application(
        id=new_application_id(), resource_code=resource.code, resource_name=resource.name,
        provider_department=resource.department, consumer_department=principal.department,
        applicant=grants.actor_name(principal), share_type=resource.share_type,
        data_published=resource.published, fields=list(data.fields), purpose=data.purpose,
        legal_basis=data.legal_basis, period_start=data.period.start, period_end=data.period.end,
        region_prefix=data.row_scope.region_prefix, status=ApplicationStatus.pending, submitted_at=now,
        updated_at=now)
    if resource.share_type == ShareType.conditional:
        days = settings.exchange_reply_days if resource.published else settings.exchange_reply_days_unpublished
        # Refused (503) before anything is written when the holiday calendar does not reach the deadline.
        application.reply_days = days
        application.due_on, application.due_at = deadline(now, days)
    session.add(application)
    session.flush()
    _event(session, application, "submitted", principal, now, fields=list(data.fields),
           region_prefix=data.row_scope.region_prefix, due_on=str(application.due_on) if application.due_on else None)
    if resource.share_type == ShareType.unconditional:
        grant = _grant_for(session, application, Approval(), None, settings, now)
        _decide(application, ApplicationStatus.approved, None, now)
        application.grant_id = grant.id
        _event(session, application, "approved", None, now, automatic=True, grant_id=grant.id)
        _notify(session, application, "application.approved", grant_id=grant.id)
        session.flush()
        return Decision(application, grant)
    _notify(session, application, "application.submitted")
    session.flush()
    return Decision(application, None)


# ------------------------------------------------------------------------------------------------ deciding


def _decide(application: Application, status: str, principal: Principal | None, now: datetime) -> None:
    application.status = status
    application.decided_at = application.updated_at = now
    application.decided_by = grants.actor_name(principal) if principal else "system:exchange"
    application.decided_on_time = application.due_at is None or now < application.due_at


def _for_provider(session: Session, principal: Principal, application_id: str) -> Application:
    application = get_application(session, principal, application_id)
    if application.provider_department != principal.department or not has_permission(
            principal, Permission.exchange_review):
        raise NotYourDepartment(f"only the provider department {application.provider_department!r} decides on "
                                f"this application", application_id=application.id)
    locked = session.scalar(select(Application).where(Application.id == application.id).with_for_update())
    assert locked is not None
    if locked.status != ApplicationStatus.pending:
        raise ApplicationStateConflict(f"application {locked.id} is already {locked.status}", status=locked.status)
    return locked


def _validity(application: Application, approval: Approval, now: datetime) -> tuple[datetime, datetime]:
    last_day = approval.valid_until or application.period_end
    if last_day > application.period_end:
        raise _problem("body.valid_until", "beyond_period",
                       f"valid_until {last_day} is after the period applied for (ends {application.period_end})")
    if last_day < local_date(now):
        raise _problem("body.valid_until", "in_past", f"valid_until {last_day} is in the past")
    return max(now, _start_of(application.period_start)), _start_of(last_day + timedelta(days=1))


def _grant_for(session: Session, application: Application, approval: Approval, principal: Principal | None,
               settings: Settings, now: datetime) -> Grant:
    resource = load_resource(session, application.resource_code)
    fields = approval.fields if approval.fields is not None else list(application.fields)
    beyond = [f for f in fields if f not in application.fields]
    if beyond:
        raise _problem("body.fields", "not_applied_for",
                       f"field(s) {', '.join(beyond)} were not applied for; an approval can only narrow")
    _check_fields(resource, fields, "body.fields")
    not_granted = [f for f in approval.masking if f not in fields]
    if not_granted:
        raise _problem("body.masking", "not_granted",
                       f"masking names field(s) {', '.join(not_granted)} that the grant does not include")
    geometric = [f for f in approval.masking
                 if resource.source is not None and f in resource.source.fields and resource.source.fields[f].geometry]
    if geometric:
        raise _problem("body.masking", "not_maskable",
                       f"geometry field(s) {', '.join(geometric)} cannot be masked; grant them or leave them out")
    scope = approval.row_scope.region_prefix if approval.row_scope is not None else application.region_prefix
    wanted = application.region_prefix
    if wanted is not None and (scope is None or not scope.startswith(wanted)):
        raise _problem("body.row_scope.region_prefix", "wider_than_applied",
                       f"the row scope must lie within the region {wanted} applied for")
    _check_scope(resource, scope, "body.row_scope.region_prefix")
    valid_from, valid_until = _validity(application, approval, now)
    masking: dict[str, MaskingRule] = dict(approval.masking)
    return grants.issue(
        session, application_id=application.id, resource_code=application.resource_code,
        provider=application.provider_department, consumer=application.consumer_department, fields=fields,
        masking=masking, region_prefix=scope,
        requests_per_day=approval.requests_per_day or settings.exchange_default_requests_per_day,
        records_per_day=approval.records_per_day or settings.exchange_default_records_per_day,
        valid_from=valid_from, valid_until=valid_until, purpose=application.purpose,
        actor=grants.actor_name(principal) if principal else "system:exchange")


def approve(session: Session, principal: Principal, application_id: str, approval: Approval,
            settings: Settings | None = None) -> Decision:
    settings = settings or get_settings()
    application = _for_provider(session, principal, application_id)
    now = utcnow()
    grant = _grant_for(session, application, approval, principal, settings, now)
    _decide(application, ApplicationStatus.approved, principal, now)
    application.grant_id = grant.id
    _event(session, application, "approved", principal, now, grant_id=grant.id, note=approval.note,
           on_time=application.decided_on_time)
    _notify(session, application, "application.approved", grant_id=grant.id)
    session.flush()
    return Decision(application, grant)


def refuse(session: Session, principal: Principal, application_id: str, refusal: Refusal) -> Decision:
    application = _for_provider(session, principal, application_id)
    now = utcnow()
    _decide(application, ApplicationStatus.refused, principal, now)
    application.refusal_reasons = refusal.reasons
    _event(session, application, "refused", principal, now, reasons=refusal.reasons,
           on_time=application.decided_on_time)
    _notify(session, application, "application.refused", reasons=refusal.reasons)
    session.flush()
    return Decision(application, None)


def withdraw(session: Session, principal: Principal, application_id: str, reason: str | None) -> Decision:
    application = get_application(session, principal, application_id)
    if application.consumer_department != principal.department:
        raise NotYourDepartment("only the applying department can withdraw its application",
                                application_id=application.id)
    if application.status != ApplicationStatus.pending:
        raise ApplicationStateConflict(f"application {application.id} is already {application.status}",
                                       status=application.status)
    now = utcnow()
    application.status = ApplicationStatus.withdrawn
    application.updated_at = now
    _event(session, application, "withdrawn", principal, now, reason=reason)
    _notify(session, application, "application.withdrawn")
    session.flush()
    return Decision(application, None)


def flag_overdue(session: Session, now: datetime | None = None) -> list[Application]:
    """Mark pending applications past their deadline (once each), so providers and evaluators see them."""
    now = now or utcnow()
    late = list(session.scalars(select(Application).where(
        Application.status == ApplicationStatus.pending, Application.due_at <= now,
        Application.overdue_flagged_at.is_(None)).order_by(Application.due_at)))
    for application in late:
        application.overdue_flagged_at = now
        _event(session, application, "overdue", None, now, due_on=str(application.due_on))
        _notify(session, application, "application.overdue")
    session.flush()
    return late


# ------------------------------------------------------------------------------------------------ reading


def get_application(session: Session, principal: Principal, application_id: str) -> Application:
    """The application, for its consumer or provider department; 404 for anyone else."""
    application = session.get(Application, application_id)
    if application is None or principal.department not in (application.consumer_department,
                                                            application.provider_department):
        raise ApplicationNotFound(f"no application {application_id!r} of your department",
                                  application_id=application_id)
    return application


def list_applications(session: Session, principal: Principal, *, role: str, status: str | None = None,
                      overdue: bool | None = None, limit: int = 100, offset: int = 0) -> list[Application]:
    if principal.department is None:
        return []
    column = Application.provider_department if role == "provider" else Application.consumer_department
    query = select(Application).where(column == principal.department)
    if status:
        query = query.where(Application.status == status)
    if overdue is not None:
        late = (Application.status == ApplicationStatus.pending) & (Application.due_at <= utcnow())
        query = query.where(late if overdue else ~late | Application.due_at.is_(None))
    query = query.order_by(Application.submitted_at.desc(), Application.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def events_of(session: Session, application: Application) -> list[EventOut]:
    rows = session.scalars(select(ApplicationEvent).where(ApplicationEvent.application_id == application.id)
                           .order_by(ApplicationEvent.id))
    return [EventOut(action=e.action, actor=e.actor, actor_department=e.actor_department, at=e.at,
                     detail=e.detail) for e in rows]


def application_out(application: Application, events: list[EventOut] | None = None,
                    now: datetime | None = None) -> ApplicationOut:
    return ApplicationOut(
        id=application.id, resource=application.resource_code, resource_name=application.resource_name,
        provider_department=application.provider_department,
        consumer_department=application.consumer_department, applicant=application.applicant,
        share_type=application.share_type, data_published=application.data_published,
        fields=list(application.fields), purpose=application.purpose, legal_basis=application.legal_basis,
        period=Period(start=application.period_start, end=application.period_end),
        row_scope=RowScope(region_prefix=application.region_prefix), status=application.status,
        submitted_at=application.submitted_at, reply_days=application.reply_days, due_on=application.due_on,
        due_at=application.due_at, overdue=is_overdue(application, now),
        overdue_flagged_at=application.overdue_flagged_at, decided_at=application.decided_at,
        decided_by=application.decided_by, decided_on_time=application.decided_on_time,
        refusal_reasons=application.refusal_reasons, grant_id=application.grant_id, events=events)
