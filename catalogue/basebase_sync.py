"""The base databases register their resources themselves (basebases.catalogue_resources()).

Idempotent: an entry is found by its `source_key`; running the sync again changes nothing unless the base
database's own description changed. The sync owns what the models determine — name, abstract, formats,
信息项 and update cycle — and sets share and open types only when it registers an entry: those are the
provider's decision afterwards (BaseResource calls them "suggested"), so a later sync never overrides them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from basebases import catalogue_resources
from basebases.resources import BaseResource
from catalogue.domains import BASIC_ITEMS, Category, EntrySource, EntryStatus, OpenType, ShareType
from catalogue.models import CatalogueEntry, Department
from catalogue.schemas import EntryCreate
from catalogue.service import create_entry, system_actor, update_entry

log = logging.getLogger("cpip.catalogue.sync")

ACTOR = system_actor("basebases")
SHARE_CONDITIONS = "经共享平台申请、提供方审批授权后, 在授权的字段、范围和期限内使用"
OPEN_CONDITIONS = "开放数据用户注册并申请后开放"
# The fields the base database's models determine (see the module docstring).
OWNED = ("name", "abstract", "formats", "items", "update_cycle")


@dataclass
class SyncReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    codes: dict[str, str] = field(default_factory=dict)  # resource key → entry code
    skipped: dict[str, str] = field(default_factory=dict)  # resource key → why


def _item_code(subject: str) -> str:
    for code, name in BASIC_ITEMS.items():
        if name == subject:
            return code
    raise ValueError(f"no 项 under 基础信息资源 for subject {subject!r}")


def metadata_of(resource: BaseResource, region: str | None) -> dict[str, Any]:
    share, opening = ShareType(resource.share_type), OpenType(resource.open_type)
    return {
        "classification": {"category": Category.basic.value, "item": _item_code(resource.subject), "catalog": "001"},
        "name": resource.name, "abstract": resource.abstract,
        "formats": [{"category": f, "detail": None} for f in resource.formats],
        "items": [{"name": i.label, "key": i.name, "data_type": i.data_type, "length": i.length,
                   "sensitivity": i.sensitivity, "description": f"代码标准: {i.codes}" if i.codes else None}
                  for i in resource.items],
        "share_type": share.value,
        "share_conditions": SHARE_CONDITIONS if share is ShareType.conditional else None,
        "share_method": None if share is ShareType.none else {"channel": "共享平台", "mode": "接口"},
        "open_type": opening.value,
        "open_conditions": OPEN_CONDITIONS if opening is OpenType.conditional else None,
        "update_cycle": resource.update_cycle, "keywords": [resource.subject, "基础数据库"], "spatial": region,
    }


def sync_basebases(session: Session, resources: list[BaseResource] | None = None) -> SyncReport:
    """Register or update every base-database resource; departments must be registered first."""
    if session.get_bind().dialect.name == "postgresql":
        # Workers starting together each run this: one at a time, so none registers a resource twice.
        # (SQLite's batch sessions begin IMMEDIATE, which serialises them already.)
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('catalogue.sync-basebases'))"))
    report = SyncReport()
    for resource in resources if resources is not None else catalogue_resources():
        department = session.get(Department, resource.department)
        if department is None:
            report.skipped[resource.key] = f"department {resource.department!r} is not registered"
            log.warning("base resource not registered: its department is missing",
                        extra={"resource": resource.key, "department": resource.department})
            continue
        meta = metadata_of(resource, department.region_code)
        existing = session.scalar(select(CatalogueEntry).where(CatalogueEntry.source_key == resource.key))
        if existing is None:
            entry = create_entry(session, ACTOR, EntryCreate.model_validate({**meta, "department": department.code}),
                                 source=EntrySource.basebase, source_key=resource.key, status=EntryStatus.published)
            report.created += 1
        else:
            before = existing.version
            entry = update_entry(session, ACTOR, existing.code, {k: meta[k] for k in OWNED})
            if entry.version == before:
                report.unchanged += 1
            else:
                report.updated += 1
        report.codes[resource.key] = entry.code
    return report
