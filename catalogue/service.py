"""Catalogue rules: who may register and change which entry, the lifecycle, versions and census counters.

Functions take a synchronous Session (the request path calls them through `AsyncSession.run_sync`, the CLI
and worker directly), flush, and never commit.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from catalogue.domains import EntrySource, EntryStatus
from catalogue.models import CatalogueEntry, CatalogueEntryVersion, Department
from catalogue.records import apply_metadata, diff, snapshot_of, validation_problem
from catalogue.schemas import CensusUpdate, EntryCreate, EntryMetadata, EntryPatch
from catalogue.search.indexer import after_change
from catalogue.visibility import Viewer
from cpip.clock import utcnow
from cpip.errors import Conflict, Forbidden, NotFound, ValidationFailed
from security.permissions import Permission, permissions_of
from security.principals import Principal

# 发布日期 is a calendar date where the platform runs.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


class EntryNotFound(NotFound):
    slug, title = "catalogue-entry-not-found", "No such catalogue entry"


class LifecycleConflict(Conflict):
    slug, title = "catalogue-lifecycle-conflict", "Not possible in the entry's current state"


class VersionMismatch(Conflict):
    slug, title = "catalogue-version-mismatch", "The entry changed since you read it"


class NotYourDepartment(Forbidden):
    slug, title = "catalogue-other-department", "Entry belongs to another department"


@dataclass(frozen=True)
class Actor:
    """Who changes the catalogue: a principal's subject and department, or the platform itself."""

    subject: str
    department: str | None
    can_write: bool
    can_review: bool

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        granted = permissions_of(principal)
        return cls(principal.username or principal.client_id or principal.subject, principal.department,
                   Permission.catalogue_write in granted, Permission.admin in granted)

    @property
    def is_system(self) -> bool:
        return self.subject.startswith("system:")


def system_actor(name: str) -> Actor:
    return Actor(f"system:{name}", None, True, True)


# ------------------------------------------------------------------------------------------------ reading


def find_entry(session: Session, code: str) -> CatalogueEntry | None:
    return session.scalar(select(CatalogueEntry).where(CatalogueEntry.code == code))


def get_visible_entry(session: Session, viewer: Viewer, code: str) -> CatalogueEntry:
    """The entry, if `viewer` may see it; otherwise 404, so an invisible entry's existence does not leak."""
    entry = find_entry(session, code)
    if entry is None or not viewer.sees(status=entry.status, share_type=entry.share_type,
                                        open_type=entry.open_type, department=entry.department_code):
        raise EntryNotFound(f"no catalogue entry {code!r} that you may see")
    return entry


def visible_entries(session: Session, viewer: Viewer) -> list[tuple[CatalogueEntry, str]]:
    """Every entry the viewer may see with its department's name, by code (exports)."""
    e = CatalogueEntry
    rows = session.execute(
        select(e, Department.name).join(Department)
        .where(viewer.clause(e.status, e.share_type, e.open_type, e.department_code)).order_by(e.code)
    ).all()
    return [(entry, name) for entry, name in rows]


def list_entries(session: Session, viewer: Viewer, *, department: str | None = None, status: str | None = None,
                 page: int = 1, size: int = 50) -> tuple[int, list[tuple[CatalogueEntry, str]]]:
    """A page of the entries the viewer may see (by code), optionally of one department or state."""
    e = CatalogueEntry
    conditions = [viewer.clause(e.status, e.share_type, e.open_type, e.department_code)]
    if department is not None:
        conditions.append(e.department_code == department)
    if status is not None:
        conditions.append(e.status == status)
    total = session.scalar(select(func.count()).select_from(e).where(*conditions)) or 0
    rows = session.execute(select(e, Department.name).join(Department).where(*conditions)
                           .order_by(e.code).limit(size).offset((page - 1) * size)).all()
    return total, [(entry, name) for entry, name in rows]


def review_queue(session: Session) -> list[tuple[CatalogueEntry, str]]:
    """Entries waiting for the platform reviewer, oldest change first."""
    rows = session.execute(select(CatalogueEntry, Department.name).join(Department)
                           .where(CatalogueEntry.status == EntryStatus.under_review)
                           .order_by(CatalogueEntry.updated_at, CatalogueEntry.id)).all()
    return [(entry, name) for entry, name in rows]


def department_name(session: Session, code: str) -> str | None:
    return session.scalar(select(Department.name).where(Department.code == code))


def list_versions(session: Session, viewer: Viewer, code: str) -> list[CatalogueEntryVersion]:
    entry = get_visible_entry(session, viewer, code)
    return list(session.scalars(select(CatalogueEntryVersion).where(CatalogueEntryVersion.entry_id == entry.id)
                                .order_by(CatalogueEntryVersion.version.desc())))


def get_version(session: Session, viewer: Viewer, code: str, version: int) -> CatalogueEntryVersion:
    entry = get_visible_entry(session, viewer, code)
    found = session.scalar(select(CatalogueEntryVersion).where(
        CatalogueEntryVersion.entry_id == entry.id, CatalogueEntryVersion.version == version))
    if found is None:
        raise EntryNotFound(f"entry {code!r} has no version {version}")
    return found


# ------------------------------------------------------------------------------------------------ writing


def _record_version(session: Session, entry: CatalogueEntry, actor: Actor, action: str,
                    changes: dict[str, Any], note: str | None = None) -> None:
    session.add(CatalogueEntryVersion(
        entry_id=entry.id, version=entry.version, action=action, actor=actor.subject,
        actor_department=actor.department, at=entry.updated_at, changes=changes, snapshot=snapshot_of(entry),
        note=note,
    ))


def _check_owner(actor: Actor, department: str, doing: str) -> None:
    if actor.is_system:
        return
    if not actor.can_write:
        raise Forbidden(f"{doing} needs the {Permission.catalogue_write.value} permission",
                        required_permission=Permission.catalogue_write.value)
    if actor.department is None or actor.department != department:
        raise NotYourDepartment(f"{doing}: entries of department {department!r} are registered and changed "
                                f"only by that department", department=department)


def _check_references(session: Session, meta: EntryMetadata, own_code: str | None = None) -> None:
    wanted = set(meta.related_codes) - ({own_code} if own_code else set())
    if own_code in meta.related_codes:
        raise ValidationFailed("an entry cannot relate to itself", errors=[
            {"field": "body.related_codes", "message": "an entry cannot relate to itself", "rule": "self_reference"}])
    if not wanted:
        return
    known = set(session.scalars(select(CatalogueEntry.code).where(CatalogueEntry.code.in_(wanted))))
    missing = sorted(wanted - known)
    if missing:
        message = f"unknown resource code(s): {', '.join(missing)}"
        raise ValidationFailed(message, errors=[{"field": "body.related_codes", "message": message,
                                                 "rule": "unknown_code"}])


def _next_sequence(session: Session, class_code: str) -> int:
    current = session.scalar(select(func.max(CatalogueEntry.sequence))
                             .where(CatalogueEntry.class_code == class_code))
    return (current or 0) + 1


def create_entry(session: Session, actor: Actor, data: EntryCreate, *,
                 source: EntrySource = EntrySource.department, source_key: str | None = None,
                 status: EntryStatus = EntryStatus.draft) -> CatalogueEntry:
    """Register a resource; its code is the classification code + the next sequence number within it."""
    department = data.department or actor.department
    if department is None:
        raise ValidationFailed("department is required: the caller belongs to no department", errors=[
            {"field": "body.department", "message": "required", "rule": "missing"}])
    _check_owner(actor, department, "registering a resource")
    if session.get(Department, department) is None:
        message = f"department {department!r} is not registered"
        raise ValidationFailed(message, errors=[{"field": "body.department", "message": message,
                                                 "rule": "unknown_department"}])
    _check_references(session, data)
    now = utcnow()
    for _attempt in range(5):
        sequence = _next_sequence(session, data.classification.code)
        entry = CatalogueEntry(
            code=f"{data.classification.code}/{sequence:06d}", metadata_id=str(uuid.uuid4()), sequence=sequence,
            department_code=department, status=status.value, version=1, source=source.value,
            source_key=source_key, created_by=actor.subject, created_at=now, updated_at=now,
            published_on=now.astimezone(LOCAL_TZ).date() if status is EntryStatus.published else None,
            storage_bytes=0, record_count=0, shared_bytes=0, shared_records=0, open_bytes=0, open_records=0,
        )
        apply_metadata(entry, data)
        try:
            with session.begin_nested():
                session.add(entry)
        except IntegrityError:
            # A concurrent registration took this sequence number; take the next one.
            continue
        _record_version(session, entry, actor, "create", diff({}, snapshot_of(entry)))
        after_change(session, [entry.id])
        return entry
    raise Conflict("could not allocate a resource code; try again")


def _merged(entry: CatalogueEntry, patch: EntryPatch | dict[str, Any]) -> EntryMetadata:
    from catalogue.records import metadata_of

    changes = patch.model_dump(exclude_unset=True, mode="json") if isinstance(patch, EntryPatch) else patch
    try:
        return EntryMetadata.model_validate({**metadata_of(entry), **changes})
    except ValidationError as exc:
        raise validation_problem(exc) from exc


def update_entry(session: Session, actor: Actor, code: str, patch: EntryPatch | dict[str, Any], *,
                 expected_version: int | None = None, viewer: Viewer | None = None) -> CatalogueEntry:
    """Change an entry's metadata (partially); the merged result must be valid as a whole."""
    entry = get_visible_entry(session, viewer, code) if viewer is not None else find_entry(session, code)
    if entry is None:
        raise EntryNotFound(f"no catalogue entry {code!r}")
    _check_owner(actor, entry.department_code, "changing a resource")
    if expected_version is not None and expected_version != entry.version:
        raise VersionMismatch(f"entry {code} is at version {entry.version}, not {expected_version}",
                              current_version=entry.version)
    if entry.status in (EntryStatus.under_review, EntryStatus.withdrawn) and not actor.is_system:
        raise LifecycleConflict(f"entry {code} is {entry.status}; it can be changed when draft or published"
                                + (" (reopen it first)" if entry.status == EntryStatus.withdrawn else ""))
    meta = _merged(entry, patch)
    if meta.classification.code != entry.class_code:
        message = "the classification fixes the resource code and cannot change; register a new entry instead"
        raise ValidationFailed(message, errors=[{"field": "body.classification", "message": message,
                                                 "rule": "immutable"}])
    _check_references(session, meta, own_code=entry.code)
    before = snapshot_of(entry)
    apply_metadata(entry, meta)
    changes = diff(before, snapshot_of(entry))
    if not changes:
        return entry
    entry.version += 1
    entry.updated_at = utcnow()
    _record_version(session, entry, actor, "update", changes)
    after_change(session, [entry.id])
    return entry


# action -> (from state, to state, who: "owner" | "reviewer" | "either", note required)
TRANSITIONS: dict[str, tuple[EntryStatus, EntryStatus, str, bool]] = {
    "submit": (EntryStatus.draft, EntryStatus.under_review, "owner", False),
    "approve": (EntryStatus.under_review, EntryStatus.published, "reviewer", False),
    "reject": (EntryStatus.under_review, EntryStatus.draft, "reviewer", True),
    "withdraw": (EntryStatus.published, EntryStatus.withdrawn, "either", True),
    "reopen": (EntryStatus.withdrawn, EntryStatus.draft, "owner", False),
}


def transition(session: Session, actor: Actor, code: str, action: str, note: str | None = None, *,
               viewer: Viewer | None = None) -> CatalogueEntry:
    """Move an entry through draft → under review → published → withdrawn (and back to draft)."""
    if action not in TRANSITIONS:
        raise ValidationFailed(f"unknown action {action!r}", errors=[
            {"field": "body.action", "message": f"one of {', '.join(TRANSITIONS)}", "rule": "enum"}])
    source, target, who, needs_note = TRANSITIONS[action]
    entry = find_entry(session, code)
    if entry is None or (viewer is not None and not actor.can_review and not viewer.sees(
            status=entry.status, share_type=entry.share_type, open_type=entry.open_type,
            department=entry.department_code)):
        raise EntryNotFound(f"no catalogue entry {code!r} that you may see")
    if who == "reviewer" and not actor.can_review:
        raise Forbidden(f"{action} is the platform reviewer's decision ({Permission.admin.value})",
                        required_permission=Permission.admin.value)
    if who == "owner" or (who == "either" and not actor.can_review):
        _check_owner(actor, entry.department_code, f"{action} of a resource")
    if needs_note and not (note and note.strip()):
        raise ValidationFailed(f"{action} needs a reason", errors=[
            {"field": "body.note", "message": f"a reason is required to {action}", "rule": "missing"}])
    if entry.status != source:
        raise LifecycleConflict(f"cannot {action} entry {code}: it is {entry.status}, not {source.value}",
                                current_status=entry.status)
    before = snapshot_of(entry)
    entry.status = target.value
    entry.updated_at = utcnow()
    if target is EntryStatus.published and entry.published_on is None:
        entry.published_on = entry.updated_at.astimezone(LOCAL_TZ).date()
    entry.version += 1
    _record_version(session, entry, actor, action, diff(before, snapshot_of(entry)), note)
    after_change(session, [entry.id])
    return entry


# ------------------------------------------------------------------------------------------------ census

_CENSUS_FIELDS = ("storage_bytes", "record_count", "shared_bytes", "shared_records", "open_bytes", "open_records")


def set_census(session: Session, actor: Actor, code: str, values: CensusUpdate, *,
               viewer: Viewer | None = None) -> CatalogueEntry:
    """The provider states its resource's totals (普查). Counter changes are not metadata versions."""
    entry = get_visible_entry(session, viewer, code) if viewer is not None else find_entry(session, code)
    if entry is None:
        raise EntryNotFound(f"no catalogue entry {code!r}")
    _check_owner(actor, entry.department_code, "updating census counters")
    for name, value in values.model_dump(exclude_none=True).items():
        setattr(entry, name, value)
    entry.census_updated_at = utcnow()
    session.flush()
    return entry


def _usage_statement(code: str, increments: dict[str, int]) -> Any:
    bad = {k: v for k, v in increments.items() if k not in _CENSUS_FIELDS or v < 0}
    if bad:
        raise ValueError(f"census increments must be non-negative counters, not {bad}")
    e = CatalogueEntry
    return (update(e).where(e.code == code)
            .values(census_updated_at=utcnow(), **{k: getattr(e, k) + v for k, v in increments.items() if v}))


async def add_usage(session: AsyncSession, code: str, *, shared_records: int = 0, shared_bytes: int = 0,
                    open_records: int = 0, open_bytes: int = 0) -> None:
    """Count records/bytes delivered from a resource (exchange calls this). One atomic UPDATE, so concurrent
    deliveries never lose an increment."""
    result = await session.execute(_usage_statement(code, {
        "shared_records": shared_records, "shared_bytes": shared_bytes, "open_records": open_records,
        "open_bytes": open_bytes}))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise EntryNotFound(f"no catalogue entry {code!r}")


def add_usage_sync(session: Session, code: str, *, shared_records: int = 0, shared_bytes: int = 0,
                   open_records: int = 0, open_bytes: int = 0) -> None:
    result = session.execute(_usage_statement(code, {
        "shared_records": shared_records, "shared_bytes": shared_bytes, "open_records": open_records,
        "open_bytes": open_bytes}))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise EntryNotFound(f"no catalogue entry {code!r}")


# ------------------------------------------------------------------------------------------ quality score


def set_quality_score(session: Session, entry_code_or_resource: str, score: float,
                      scored_at: datetime) -> CatalogueEntry | None:
    """Publish a resource's latest quality score (0–100) on its entry, found by resource code or by the base
    database's resource key (`source_key`). Returns None when the catalogue has no such entry.

    Quality calls this after each run that produces a score. Like the census counters it is not metadata: no
    version is made and `updated_at` stays. A score older than the one shown is ignored, so runs finishing out
    of order never move the published score backwards.
    """
    if not math.isfinite(score) or not 0.0 <= score <= 100.0:
        raise ValidationFailed(f"a quality score is 0–100, not {score!r}", field="score")
    if scored_at.tzinfo is None:
        raise ValidationFailed("scored_at must carry a time zone", field="scored_at")
    e = CatalogueEntry
    entry = session.scalar(select(e).where(or_(e.code == entry_code_or_resource,
                                               e.source_key == entry_code_or_resource)).limit(1))
    if entry is None:
        return None
    if entry.quality_scored_at is not None and entry.quality_scored_at > scored_at:
        return entry
    entry.quality_score, entry.quality_scored_at = score, scored_at
    session.flush()
    return entry
