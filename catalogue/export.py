"""CSV export of the catalogue a principal may see: UTF-8, optionally with a BOM so Excel reads it as UTF-8."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from catalogue.domains import CATEGORY_LABELS
from catalogue.models import CatalogueEntry

BOM = "\ufeff"
# Characters that make a spreadsheet read a cell as a formula (CSV injection); such text gets a leading '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

COLUMNS: tuple[tuple[str, str], ...] = (
    ("code", "信息资源代码"), ("name", "信息资源名称"), ("classification", "信息资源分类"),
    ("department", "信息资源提供方"), ("department_code", "提供方代码"), ("abstract", "信息资源摘要"),
    ("formats", "信息资源格式"), ("items", "信息项"), ("share_type", "共享类型"), ("share_conditions", "共享条件"),
    ("share_method", "共享方式"), ("no_share_basis", "不予共享依据"), ("open_type", "开放类型"),
    ("open_conditions", "开放条件"), ("update_cycle", "更新周期"), ("published_on", "发布日期"),
    ("related_codes", "关联资源代码"), ("maintainer", "维护方"), ("status", "状态"), ("version", "版本"),
    ("storage_bytes", "数据存储总量(字节)"), ("record_count", "结构化信息记录总数"),
    ("shared_bytes", "已共享存储量(字节)"), ("shared_records", "已共享记录数"),
    ("open_bytes", "已开放存储量(字节)"), ("open_records", "已开放记录数"),
    ("quality_score", "数据质量评分"), ("quality_scored_at", "质量评分时间"),
    ("metadata_id", "元数据标识符"), ("updated_at", "元数据更新日期"),
)


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def row_of(entry: CatalogueEntry, department_name: str) -> list[Any]:
    classification = "/".join(p for p in (entry.category, entry.item, entry.catalog, entry.detail) if p)
    values: dict[str, Any] = {
        "code": entry.code, "name": entry.name,
        "classification": f"{classification} {CATEGORY_LABELS.get(entry.category, '')}".strip(),
        "department": department_name, "department_code": entry.department_code, "abstract": entry.abstract,
        "formats": "; ".join(f"{f['category']}({f['detail']})" if f.get("detail") else str(f["category"])
                             for f in entry.formats),
        "items": "; ".join(f"{i['name']}|{i['data_type']}|{i.get('length') or ''}|{i['sensitivity']}级"
                           for i in entry.items),
        "share_type": entry.share_type, "share_conditions": entry.share_conditions or "",
        "share_method": "/".join(p for p in (entry.share_channel, entry.share_mode) if p),
        "no_share_basis": entry.no_share_basis or "", "open_type": entry.open_type,
        "open_conditions": entry.open_conditions or "", "update_cycle": entry.update_cycle,
        "published_on": entry.published_on.isoformat() if entry.published_on else "",
        "related_codes": "; ".join(entry.related_codes),
        "maintainer": " ".join(p for p in (entry.maintainer, entry.maintainer_contact) if p),
        "status": entry.status, "version": entry.version,
        "storage_bytes": entry.storage_bytes, "record_count": entry.record_count,
        "shared_bytes": entry.shared_bytes, "shared_records": entry.shared_records,
        "open_bytes": entry.open_bytes, "open_records": entry.open_records,
        # Empty, not 0, while unscored: no score is not a bad score.
        "quality_score": entry.quality_score if entry.quality_score is not None else "",
        "quality_scored_at": entry.quality_scored_at.isoformat(timespec="seconds") if entry.quality_scored_at
        else "",
        "metadata_id": entry.metadata_id, "updated_at": entry.updated_at.isoformat(timespec="seconds"),
    }
    return [_safe(values[key]) for key, _ in COLUMNS]


def csv_chunks(entries: Sequence[tuple[CatalogueEntry, str]], *, bom: bool = False,
               rows_per_chunk: int = 500) -> Iterator[bytes]:
    """The export as UTF-8 byte chunks (header first), for a streaming response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write(BOM)
    writer.writerow([title for _, title in COLUMNS])
    for n, (entry, name) in enumerate(entries, start=1):
        writer.writerow(row_of(entry, name))
        if n % rows_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")
