"""Computing the named counts (exchange.indicators.counts) for a window and an optional department.

Every count yields its value, the rule in words, the SQL of the records behind it and a way to list those
records' ids page by page. Audit counts are computed from monthly and daily rollups where available (calls.py); their
records query reads the raw log, whose count is exactly the rolled-up value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from catalogue.models import CatalogueEntry, Department
from cpip.settings import Settings
from exchange.applications.models import Application, ApplicationEvent
from exchange.indicators import calls as C
from exchange.indicators.calls import AnySelect
from exchange.indicators.manual import chosen_input
from exchange.indicators.periods import local_midnight
from exchange.submissions.models import Submission
from exchange.workdays import local_date
from quality.models import QualityIssue
from security.audit.models import AuditEvent

SHAREABLE = ("无条件共享", "有条件共享")
MOUNTED_MODES = ("接口", "库表")
OPEN_TYPES = ("无条件开放", "有条件开放")
MACHINE_READABLE = frozenset({"电子表格", "数据库", "自描述格式", "服务接口"})
CYCLE_DAYS = {"实时": 1, "每日": 1, "每周": 7, "每月": 31, "每季度": 92, "每半年": 183, "每年": 366}

Value = int | Decimal | None


@dataclass(frozen=True)
class Scope:
    start: datetime
    upto: datetime  # the cut-off (never after the period's end): nothing at or after it counts
    department: str | None = None
    use_rollups: bool = True
    period_code: str = ""


@dataclass
class Found:
    value: Value
    record_kind: str
    query: AnySelect | None = None         # the records behind the value, one key per row
    records: list[str] | None = None          # when the rule is applied in Python over `query`'s rows
    detail: dict[str, Any] = field(default_factory=dict)


class Evaluator:
    def __init__(self, session: Session, scope: Scope, settings: Settings) -> None:
        self.session, self.scope, self.settings = session, scope, settings
        self._found: dict[str, Found] = {}
        self._calls: list[C.CallRow] | None = None
        self._cover: C.Coverage | None = None
        self._codes: dict[str, str] | None = None

    def get(self, name: str) -> Found:
        if name not in self._found:
            method: Callable[[], Found] = getattr(self, f"_{name}")
            self._found[name] = method()
        return self._found[name]

    # ------------------------------------------------------------------------------------------ helpers

    def _count(self, query: AnySelect) -> int:
        return int(self.session.scalar(select(func.count()).select_from(query.subquery())) or 0)

    def _sql_found(self, query: AnySelect, kind: str) -> Found:
        return Found(self._count(query), kind, query)

    @property
    def _last_day(self) -> Any:
        return local_date(self.scope.upto - timedelta(microseconds=1))

    def _published(self) -> list[ColumnElement[bool]]:
        """Entries published before the cut-off (as the catalogue now records them)."""
        conds: list[ColumnElement[bool]] = [
            CatalogueEntry.status == "published", CatalogueEntry.published_on.is_not(None),
            CatalogueEntry.published_on <= self._last_day, CatalogueEntry.created_at < self.scope.upto]
        if self.scope.department:
            conds.append(CatalogueEntry.department_code == self.scope.department)
        return conds

    def _entries(self, *conds: ColumnElement[bool]) -> AnySelect:
        return select(CatalogueEntry.code).where(*self._published(), *conds).order_by(CatalogueEntry.code)

    def _entry_codes(self) -> dict[str, str]:
        """Every catalogue code (any status) -> its department: what makes an audit event a data call."""
        if self._codes is None:
            self._codes = {str(c): str(d) for c, d in self.session.execute(
                select(CatalogueEntry.code, CatalogueEntry.department_code))}
        return self._codes

    def _call_rows(self) -> list[C.CallRow]:
        if self._calls is None:
            self._cover = C.coverage(self.session, self.scope.start, self.scope.upto, self.scope.use_rollups)
            codes = self._entry_codes()
            self._calls = [r for r in C.call_rows(self.session, self._cover)
                           if r.api in C.DATA_APIS and r.resource in codes]
        return self._calls

    def _coverage_detail(self) -> dict[str, Any]:
        self._call_rows()
        assert self._cover is not None
        return {"rolled_up_days": len(self._cover.rolled_days),
                "rolled_up_months": [m.isoformat()[:7] for m in self._cover.months],
                "raw_intervals": [[a.isoformat(), b.isoformat()] for a, b in self._cover.raw_intervals]}

    def _raw_calls(self, *conds: ColumnElement[bool]) -> list[ColumnElement[bool]]:
        return [C.in_window(self.scope.start, self.scope.upto), AuditEvent.api.in_(C.DATA_APIS),
                AuditEvent.resource.in_(select(CatalogueEntry.code)), *conds]

    def _share_raw(self) -> list[ColumnElement[bool]]:
        return [AuditEvent.principal_kind.in_(C.SHARE_KINDS), AuditEvent.department.is_not(None),
                AuditEvent.department != "", not_(AuditEvent.action.startswith(C.OPEN_DATA_PREFIX))]

    def _by_caller(self) -> list[ColumnElement[bool]]:
        return [AuditEvent.department == self.scope.department] if self.scope.department else []

    def _by_provider(self) -> list[ColumnElement[bool]]:
        if not self.scope.department:
            return []
        return [AuditEvent.resource.in_(select(CatalogueEntry.code).where(
            CatalogueEntry.department_code == self.scope.department))]

    def _mine_as_caller(self, row: C.CallRow) -> bool:
        return not self.scope.department or row.department == self.scope.department

    def _mine_as_provider(self, row: C.CallRow) -> bool:
        return not self.scope.department or self._entry_codes().get(row.resource) == self.scope.department

    def _event_count(self, keep: Callable[[C.CallRow], bool], *raw: ColumnElement[bool]) -> Found:
        total = sum(r.events for r in self._call_rows() if keep(r))
        query = select(AuditEvent.id).where(*self._raw_calls(*raw)).order_by(AuditEvent.id)
        return Found(total, "audit_event", query, detail=self._coverage_detail())

    # ------------------------------------------------------------------------------------------ manual

    def _departments_total(self) -> Found:
        if self.scope.department:
            query = select(Department.code).where(Department.code == self.scope.department)
            return Found(1, "department", query, detail={"source": "the department itself (department scope)"})
        manual = chosen_input(self.session, self.settings, "departments_total", self.scope)
        if manual is not None:
            return Found(manual.value.normalize() if manual.value % 1 else int(manual.value), "manual_input",
                         select(manual.__class__.id).where(manual.__class__.id == manual.id),
                         detail={"source": "signed manual input", "input_id": manual.id,
                                 "entered_by": manual.entered_by, "entered_at": manual.entered_at.isoformat(),
                                 "signature": manual.signature, "key_id": manual.key_id})
        query = select(Department.code).where(Department.created_at < self.scope.upto).order_by(Department.code)
        found = self._sql_found(query, "department")
        found.detail = {"source": "department register: no signed manual input `departments_total` was entered"}
        return found

    # ------------------------------------------------------------------------------------------ catalogue

    def _departments_cataloguing(self) -> Found:
        query = (select(CatalogueEntry.department_code).where(*self._published()).distinct()
                 .order_by(CatalogueEntry.department_code))
        return self._sql_found(query, "department")

    def _entries_shareable(self) -> Found:
        return self._sql_found(self._entries(CatalogueEntry.share_type.in_(SHAREABLE)), "catalogue_entry")

    def _entries_mounted(self) -> Found:
        return self._sql_found(self._entries(
            CatalogueEntry.share_type.in_(SHAREABLE), CatalogueEntry.share_channel == "共享平台",
            CatalogueEntry.share_mode.in_(MOUNTED_MODES)), "catalogue_entry")

    def _entries_unconditional(self) -> Found:
        return self._sql_found(self._entries(CatalogueEntry.share_type == "无条件共享"), "catalogue_entry")

    def _entries_with_cycle(self) -> Found:
        return self._sql_found(self._entries(CatalogueEntry.update_cycle.in_(tuple(CYCLE_DAYS))), "catalogue_entry")

    def _open_entries(self) -> Found:
        return self._sql_found(self._entries(CatalogueEntry.open_type.in_(OPEN_TYPES)), "catalogue_entry")

    def _open_licensed(self) -> Found:
        default = (self.settings.open_data_license or "").strip()
        if default:
            # The DCAT export publishes the platform's default licence for an open entry that names none.
            found = self._sql_found(self._entries(CatalogueEntry.open_type.in_(OPEN_TYPES)), "catalogue_entry")
            found.detail = {"rule": f"entries naming no licence are published under CPIP_OPEN_DATA_LICENSE {default}"}
            return found
        return self._sql_found(self._entries(CatalogueEntry.open_type.in_(OPEN_TYPES),
                                             func.length(func.trim(CatalogueEntry.license)) > 0), "catalogue_entry")

    def _open_downloadable(self) -> Found:
        url = or_(func.length(func.trim(CatalogueEntry.download_url)) > 0,
                  func.length(func.trim(CatalogueEntry.access_url)) > 0)
        return self._sql_found(self._entries(CatalogueEntry.open_type.in_(OPEN_TYPES), url), "catalogue_entry")

    def _open_machine_readable(self) -> Found:
        query = (select(CatalogueEntry.code, CatalogueEntry.formats)
                 .where(*self._published(), CatalogueEntry.open_type.in_(OPEN_TYPES)).order_by(CatalogueEntry.code))
        rows: list[tuple[str, Any]] = [(str(r[0]), r[1]) for r in self.session.execute(query)]
        codes = [code for code, formats in rows
                 if any(isinstance(f, dict) and f.get("category") in MACHINE_READABLE for f in formats or [])]
        return Found(len(codes), "catalogue_entry", query, codes,
                     detail={"rule": f"a format whose category is one of {sorted(MACHINE_READABLE)}"})

    # ------------------------------------------------------------------------------------------ audit log

    def _share_calls(self) -> Found:
        return self._event_count(lambda r: r.is_share and r.outcome == "allowed" and self._mine_as_caller(r),
                                 *self._share_raw(), AuditEvent.outcome == "allowed", *self._by_caller())

    def _calls_total(self) -> Found:
        return self._event_count(self._mine_as_caller, *self._by_caller())

    def _calls_not_failed(self) -> Found:
        return self._event_count(lambda r: r.outcome != "error" and self._mine_as_caller(r),
                                 AuditEvent.outcome != "error", *self._by_caller())

    def _calls_denied(self) -> Found:
        return self._event_count(lambda r: r.outcome == "denied" and self._mine_as_caller(r),
                                 AuditEvent.outcome == "denied", *self._by_caller())

    def _calls_failed(self) -> Found:
        return self._event_count(lambda r: r.outcome == "error" and self._mine_as_caller(r),
                                 AuditEvent.outcome == "error", *self._by_caller())

    def _open_downloads(self) -> Found:
        return self._event_count(
            lambda r: r.action == "open-data.download" and r.outcome == "allowed" and self._mine_as_provider(r),
            AuditEvent.action == "open-data.download", AuditEvent.outcome == "allowed", *self._by_provider())

    def _open_api_calls(self) -> Found:
        return self._event_count(
            lambda r: r.action == "open-data.records.read" and r.outcome == "allowed" and self._mine_as_provider(r),
            AuditEvent.action == "open-data.records.read", AuditEvent.outcome == "allowed", *self._by_provider())

    def _open_apps(self) -> Found:
        clients = sorted({r.client_id for r in self._call_rows() if r.is_open_data and r.outcome == "allowed"
                          and r.client_id and self._mine_as_provider(r)})
        query = (select(AuditEvent.client_id).where(*self._raw_calls(
            AuditEvent.action.startswith(C.OPEN_DATA_PREFIX), AuditEvent.outcome == "allowed",
            AuditEvent.client_id.is_not(None), *self._by_provider())).distinct().order_by(AuditEvent.client_id))
        return Found(len(clients), "client", query, clients, detail=self._coverage_detail())

    def _latency_p95_ms(self) -> Found:
        histogram: dict[int, int] = {}
        for r in self._call_rows():
            if r.outcome == "allowed" and r.bucket != C.NO_LATENCY and self._mine_as_caller(r):
                histogram[r.bucket] = histogram.get(r.bucket, 0) + r.events
        total = sum(histogram.values())
        value: Value = None
        if total:
            rank, seen = math.ceil(0.95 * total), 0
            for bucket in sorted(histogram):
                seen += histogram[bucket]
                if seen >= rank:
                    value = C.BOUNDS[bucket]
                    break
        query = (select(AuditEvent.id).where(*self._raw_calls(
            AuditEvent.outcome == "allowed", AuditEvent.latency_ms.is_not(None), *self._by_caller()))
            .order_by(AuditEvent.id))
        detail = {**self._coverage_detail(), "calls_with_latency": total,
                  "histogram_ms": {f"<={C.BOUNDS[b]}": n for b, n in sorted(histogram.items())}}
        return Found(value, "audit_event", query, detail=detail)

    def _share_rows(self) -> list[C.CallRow]:
        return [r for r in self._call_rows() if r.is_share and r.outcome == "allowed"]

    def _resources_called(self) -> Found:
        shareable = set(self._entry_list(self._entries(CatalogueEntry.share_type.in_(SHAREABLE))))
        called = sorted({r.resource for r in self._share_rows()} & shareable)
        query = (select(AuditEvent.resource).where(*self._raw_calls(*self._share_raw(),
                                                                     AuditEvent.outcome == "allowed"))
                 .where(AuditEvent.resource.in_(self._entries(CatalogueEntry.share_type.in_(SHAREABLE))))
                 .distinct().order_by(AuditEvent.resource))
        return Found(len(called), "catalogue_entry", query, called, detail=self._coverage_detail())

    def _departments_participating(self) -> Found:
        codes = self._entry_codes()
        registered = set(self._entry_list(select(Department.code).where(Department.created_at < self.scope.upto)))
        taking_part: set[str] = set()
        for r in self._share_rows():
            taking_part.update((r.department, codes[r.resource]))
        taking_part &= registered
        if self.scope.department:
            taking_part &= {self.scope.department}
        query = (select(AuditEvent.department, AuditEvent.resource)
                 .where(*self._raw_calls(*self._share_raw(), AuditEvent.outcome == "allowed")).distinct())
        return Found(len(taking_part), "department", query, sorted(taking_part),
                     detail={**self._coverage_detail(),
                             "rule": "callers and the providers of the resources they called, if registered"})

    def _entry_list(self, query: AnySelect) -> list[str]:
        values: list[Any] = list(self.session.scalars(query))
        return [str(v) for v in values]

    # ------------------------------------------------------------------------------------------ workflow

    def _applications(self) -> AnySelect:
        withdrawn = exists().where(ApplicationEvent.application_id == Application.id,
                                   ApplicationEvent.action == "withdrawn", ApplicationEvent.at < self.scope.upto)
        query = select(Application.id).where(Application.submitted_at >= self.scope.start,
                                             Application.submitted_at < self.scope.upto, not_(withdrawn))
        if self.scope.department:
            query = query.where(Application.provider_department == self.scope.department)
        return query.order_by(Application.id)

    def _decided(self) -> AnySelect:
        query = select(Application.id).where(Application.decided_at >= self.scope.start,
                                             Application.decided_at < self.scope.upto)
        if self.scope.department:
            query = query.where(Application.provider_department == self.scope.department)
        return query.order_by(Application.id)

    def _applications_submitted(self) -> Found:
        return self._sql_found(self._applications(), "application")

    def _applications_closed(self) -> Found:
        return self._sql_found(self._applications().where(Application.decided_at < self.scope.upto), "application")

    def _applications_decided(self) -> Found:
        return self._sql_found(self._decided(), "application")

    def _applications_on_time(self) -> Found:
        on_time = or_(Application.due_at.is_(None), Application.decided_at < Application.due_at)
        return self._sql_found(self._decided().where(on_time), "application")

    # ------------------------------------------------------------------------------------------ submissions

    def _entries_updated_on_time(self) -> Found:
        start, upto = self.scope.start, self.scope.upto
        entries = (select(CatalogueEntry.code, CatalogueEntry.update_cycle, CatalogueEntry.published_on)
                   .where(*self._published(), CatalogueEntry.update_cycle.in_(tuple(CYCLE_DAYS)))
                   .order_by(CatalogueEntry.code))
        rows = list(self.session.execute(entries))
        landings = (select(Submission.resource_code, Submission.finished_at)
                    .where(Submission.status == "landed", Submission.finished_at < upto,
                           Submission.resource_code.in_([r[0] for r in rows]))
                    .order_by(Submission.resource_code, Submission.finished_at))
        landed: dict[str, list[datetime]] = {}
        for code, at in self.session.execute(landings):
            if at is not None:
                landed.setdefault(str(code), []).append(at)
        timely: list[str] = []
        late: dict[str, str] = {}
        for code, cycle, published_on in rows:
            limit = timedelta(days=CYCLE_DAYS[cycle])
            times = landed.get(code, [])
            before = [t for t in times if t < start]
            anchor = before[-1] if before else max(start, local_midnight(published_on or start.date()))
            points = [anchor, *[t for t in times if t >= start], upto]
            gaps = [b - a for a, b in itertools.pairwise(points)]
            worst = max(gaps)
            if worst <= limit:
                timely.append(code)
            else:
                late[code] = f"{cycle}: a gap of {worst} without a landed batch (limit {limit.days} days)"
        return Found(len(timely), "catalogue_entry", landings, timely, detail={"late": late})

    # ------------------------------------------------------------------------------------------ quality

    def _issues(self) -> AnySelect:
        query = select(QualityIssue.id).where(QualityIssue.raised_at >= self.scope.start,
                                              QualityIssue.raised_at < self.scope.upto)
        if self.scope.department:
            query = query.where(QualityIssue.department == self.scope.department)
        return query.order_by(QualityIssue.id)

    def _quality_issues_raised(self) -> Found:
        return self._sql_found(self._issues(), "quality_issue")

    def _quality_issues_closed(self) -> Found:
        closed = and_(QualityIssue.closed_at.is_not(None), QualityIssue.closed_at < self.scope.upto)
        return self._sql_found(self._issues().where(closed), "quality_issue")
