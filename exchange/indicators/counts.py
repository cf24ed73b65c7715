"""The named counts indicator definitions may use as numerator, denominator or measure.

Each says where it comes from and how a department scope narrows it; exchange.indicators.compute computes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CountSpec:
    name: str
    source: str        # audit | catalogue | applications | submissions | quality | manual
    record_kind: str   # what the ids in an explanation are
    description: str
    department_scope: str


_CALL = ("A data call is an audit event on a catalogue resource through rest, graphql, export or feed. ")
_SHARE = _CALL + "A sharing call is one made by a department account (person or service account), not open data. "

COUNTS: dict[str, CountSpec] = {c.name: c for c in (
    CountSpec("departments_total", "manual", "manual_input",
              "The city's departments: the newest signed manual input `departments_total` (for this period, else "
              "standing); without one, the departments registered before the cut-off.",
              "1 (the department itself)"),
    CountSpec("departments_cataloguing", "catalogue", "department",
              "Departments with at least one catalogue entry published before the cut-off.", "that department"),
    CountSpec("entries_shareable", "catalogue", "catalogue_entry",
              "Published entries whose 共享类型 is 无条件共享 or 有条件共享.", "entries the department provides"),
    CountSpec("entries_mounted", "catalogue", "catalogue_entry",
              "Shareable entries mounted on the platform: 共享方式 channel 共享平台 with type 接口 or 库表.",
              "entries the department provides"),
    CountSpec("entries_unconditional", "catalogue", "catalogue_entry",
              "Published entries whose 共享类型 is 无条件共享.", "entries the department provides"),
    CountSpec("share_calls", "audit", "audit_event", _SHARE + "Counts allowed sharing calls in the period.",
              "calls the department made"),
    CountSpec("resources_called", "audit", "catalogue_entry",
              _SHARE + "Shareable entries with at least one allowed sharing call in the period.",
              "entries the department provides"),
    CountSpec("departments_participating", "audit", "department",
              _SHARE + "Registered departments that made an allowed sharing call or whose resource received one.",
              "that department, if it took part"),
    CountSpec("calls_total", "audit", "audit_event", _CALL + "Every data call in the period, open data included.",
              "calls the department made"),
    CountSpec("calls_not_failed", "audit", "audit_event",
              _CALL + "Data calls whose outcome is not `error` (a denial is the interface working).",
              "calls the department made"),
    CountSpec("calls_denied", "audit", "audit_event", _CALL + "Data calls with outcome `denied`.",
              "calls the department made"),
    CountSpec("calls_failed", "audit", "audit_event", _CALL + "Data calls with outcome `error`.",
              "calls the department made"),
    CountSpec("latency_p95_ms", "audit", "audit_event",
              _CALL + "95th percentile of the latency of allowed data calls, as the upper bound (ms) of the "
              "histogram bucket holding it (buckets: 1 2 5 10 20 50 100 200 500 1000 2000 5000 10000 30000 60000; "
              "60000 means 60 s or more). Buckets make rollups and a full recount agree exactly.",
              "calls the department made"),
    CountSpec("applications_submitted", "applications", "application",
              "Applications submitted in the period and not withdrawn before the cut-off.",
              "applications to the department's resources"),
    CountSpec("applications_closed", "applications", "application",
              "Of `applications_submitted`, those decided (approved or refused) before the cut-off.",
              "applications to the department's resources"),
    CountSpec("applications_decided", "applications", "application",
              "Applications decided in the period.", "applications to the department's resources"),
    CountSpec("applications_on_time", "applications", "application",
              "Applications decided in the period before their working-day deadline (无条件共享 ones have none).",
              "applications to the department's resources"),
    CountSpec("entries_with_cycle", "catalogue", "catalogue_entry",
              "Published entries whose 更新周期 is a fixed cycle (实时 每日 每周 每月 每季度 每半年 每年).",
              "entries the department provides"),
    CountSpec("entries_updated_on_time", "submissions", "catalogue_entry",
              "Entries with a cycle never left un-updated for longer than the cycle in the period: counting from "
              "the last landed batch before the period (else the period's start or the publication day), every "
              "gap between landed batches and up to the cut-off is at most the cycle (days: 实时 1, 每日 1, 每周 7, "
              "每月 31, 每季度 92, 每半年 183, 每年 366).", "entries the department provides"),
    CountSpec("quality_issues_raised", "quality", "quality_issue", "Quality issues raised in the period.",
              "issues of the department"),
    CountSpec("quality_issues_closed", "quality", "quality_issue",
              "Of `quality_issues_raised`, those closed before the cut-off.", "issues of the department"),
    CountSpec("open_entries", "catalogue", "catalogue_entry",
              "Published entries whose 开放类型 is 无条件开放 or 有条件开放.", "entries the department provides"),
    CountSpec("open_machine_readable", "catalogue", "catalogue_entry",
              "Open entries offered in a machine-readable format category (电子表格, 数据库, 自描述格式, 服务接口).",
              "entries the department provides"),
    CountSpec("open_licensed", "catalogue", "catalogue_entry",
              "Open entries published under a licence: their own, or the platform default (CPIP_OPEN_DATA_LICENSE)"
              " that the DCAT export gives entries naming none.",
              "entries the department provides"),
    CountSpec("open_downloadable", "catalogue", "catalogue_entry",
              "Open entries with a download URL or an access (API) URL.", "entries the department provides"),
    CountSpec("open_downloads", "audit", "audit_event", "Allowed `open-data.download` events in the period.",
              "downloads of the department's resources"),
    CountSpec("open_api_calls", "audit", "audit_event", "Allowed `open-data.records.read` events in the period.",
              "reads of the department's resources"),
    CountSpec("open_apps", "audit", "client", "Distinct open-data clients (API keys) with an allowed open-data event.",
              "clients reading the department's resources"),
)}
