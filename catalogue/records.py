"""Between stored rows and metadata documents: snapshot an entry, apply validated metadata, diff two versions."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from catalogue.models import CatalogueEntry
from catalogue.schemas import Census, EntryMetadata, EntryOut
from cpip.errors import ValidationFailed

# The order fields appear in snapshots, diffs and the CSV export.
METADATA_FIELDS: tuple[str, ...] = tuple(EntryMetadata.model_fields)


def metadata_of(entry: CatalogueEntry) -> dict[str, Any]:
    """The entry's metadata as the JSON document a provider submits (EntryMetadata's shape)."""
    temporal = None
    if entry.temporal_start is not None or entry.temporal_end is not None:
        temporal = {"start": entry.temporal_start.isoformat() if entry.temporal_start else None,
                    "end": entry.temporal_end.isoformat() if entry.temporal_end else None}
    share_method = None
    if entry.share_channel is not None:
        share_method = {"channel": entry.share_channel, "mode": entry.share_mode}
    return {
        "classification": {"category": entry.category, "item": entry.item, "catalog": entry.catalog,
                           "detail": entry.detail},
        "name": entry.name, "abstract": entry.abstract, "formats": list(entry.formats),
        "items": list(entry.items), "share_type": entry.share_type, "share_conditions": entry.share_conditions,
        "share_method": share_method, "no_share_basis": entry.no_share_basis, "open_type": entry.open_type,
        "open_conditions": entry.open_conditions, "update_cycle": entry.update_cycle,
        "related_codes": list(entry.related_codes), "maintainer": entry.maintainer,
        "maintainer_contact": entry.maintainer_contact, "keywords": list(entry.keywords),
        "temporal": temporal, "spatial": entry.spatial, "grade": entry.grade, "license": entry.license,
        "access_url": entry.access_url, "download_url": entry.download_url,
    }


def snapshot_of(entry: CatalogueEntry) -> dict[str, Any]:
    """What a version keeps: the metadata plus who provides it and where it is in its lifecycle."""
    return {**metadata_of(entry), "code": entry.code, "department": entry.department_code,
            "status": entry.status, "published_on": entry.published_on.isoformat() if entry.published_on else None}


def apply_metadata(entry: CatalogueEntry, meta: EntryMetadata) -> None:
    data = meta.model_dump(mode="json")
    cls = meta.classification
    entry.category, entry.item, entry.catalog, entry.detail = cls.category.value, cls.item, cls.catalog, cls.detail
    entry.class_code = cls.code
    entry.name, entry.abstract = meta.name, meta.abstract
    entry.formats, entry.items = data["formats"], data["items"]
    entry.share_type, entry.share_conditions = meta.share_type.value, meta.share_conditions
    entry.share_channel = meta.share_method.channel.value if meta.share_method else None
    entry.share_mode = meta.share_method.mode.value if meta.share_method and meta.share_method.mode else None
    entry.no_share_basis = meta.no_share_basis
    entry.open_type, entry.open_conditions = meta.open_type.value, meta.open_conditions
    entry.update_cycle = meta.update_cycle.value
    entry.related_codes = list(meta.related_codes)
    entry.maintainer, entry.maintainer_contact = meta.maintainer, meta.maintainer_contact
    entry.keywords = list(meta.keywords)
    entry.temporal_start = meta.temporal.start if meta.temporal else None
    entry.temporal_end = meta.temporal.end if meta.temporal else None
    entry.spatial, entry.grade = meta.spatial, meta.grade.value
    entry.license, entry.access_url, entry.download_url = meta.license, meta.access_url, meta.download_url


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Field-level changes between two snapshots: {field: {"old": …, "new": …}}."""
    return {k: {"old": old.get(k), "new": new.get(k)} for k in dict.fromkeys([*old, *new])
            if old.get(k) != new.get(k)}


def validation_problem(exc: ValidationError, prefix: str = "body") -> ValidationFailed:
    """A pydantic failure as the same 422 problem the gateway gives for a bad request body."""
    errors = [{"field": ".".join([prefix, *(str(p) for p in err["loc"])]), "message": err["msg"],
               "rule": err["type"]} for err in exc.errors()]
    return ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors)[:2000], errors=errors)


def entry_out(entry: CatalogueEntry, department_name: str | None = None) -> EntryOut:
    return EntryOut.model_validate({
        **metadata_of(entry), "id": entry.id, "code": entry.code, "metadata_id": entry.metadata_id,
        "department": entry.department_code, "department_name": department_name, "status": entry.status,
        "version": entry.version, "source": entry.source, "published_on": entry.published_on,
        "census": Census(storage_bytes=entry.storage_bytes, record_count=entry.record_count,
                         shared_bytes=entry.shared_bytes, shared_records=entry.shared_records,
                         open_bytes=entry.open_bytes, open_records=entry.open_records),
        "quality_score": entry.quality_score, "quality_scored_at": entry.quality_scored_at,
        "created_at": entry.created_at, "updated_at": entry.updated_at,
    })
