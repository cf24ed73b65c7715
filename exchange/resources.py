"""What the exchange knows about a resource: its catalogue entry and, when the platform holds its data, the
base-database table behind it.

A base database registers its resources in the catalogue with `source="basebase"` and a `source_key` naming
the table set (`population`, `legal_entities`, …, optionally prefixed `basebases:` or `basebase/`). The
columns a consumer can receive are the ones that declare 信息项 metadata (`info["label"]`) in
basebases.models; their `info` also gives the sensitivity and the default masking rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.orm import Session

from basebases.geometry import Geometry
from basebases.models import BASE_MODELS
from catalogue.domains import EntrySource, EntryStatus
from catalogue.models import CatalogueEntry
from catalogue.service import find_entry
from exchange.errors import NotQueryable, ResourceNotFound
from security.masking import MaskingRule, rule_for_field

REGION_CODES = "GB/T 2260"


@dataclass(frozen=True)
class SourceField:
    key: str
    label: str
    sensitivity: int
    masking: MaskingRule | None
    geometry: bool


@dataclass(frozen=True)
class Source:
    """A base-database table as the exchange reads it."""

    base: str
    table: Table
    pk: Column[Any]
    key_columns: tuple[str, ...]
    region_column: str | None
    fields: dict[str, SourceField]

    def default_rule(self, key: str) -> MaskingRule:
        found = self.fields.get(key)
        if found is not None and found.masking is not None:
            return found.masking
        return rule_for_field(found.label if found else key)


def _region_column(table: Table) -> str | None:
    # The row scope of a grant is a region-code prefix; the first GB/T 2260 column named *region_code is the
    # row's own region (persons: 户籍地; entities: 登记地; buildings and features: 所在).
    for column in table.columns:
        if column.name.endswith("region_code") and column.info.get("codes") == REGION_CODES:
            return column.name
    return None


def _source_of(base: str) -> Source:
    model = BASE_MODELS[base]
    table: Table = model.__table__  # type: ignore[assignment]
    fields = {
        c.name: SourceField(c.name, str(c.info["label"]), int(c.info.get("sensitivity", 1)),
                            c.info.get("masking"), isinstance(c.type, Geometry))
        for c in table.columns if "label" in c.info
    }
    pk = next(iter(table.primary_key.columns))
    keys = tuple(c.name for c in table.columns if c.info.get("key"))
    return Source(base, table, pk, keys or (pk.name,), _region_column(table), fields)


@cache
def source_for_key(source_key: str) -> Source | None:
    base = source_key.replace("/", ":").rsplit(":", 1)[-1]
    return _source_of(base) if base in BASE_MODELS else None


def all_sources() -> dict[str, Source]:
    return {base: _source_of(base) for base in BASE_MODELS}


@dataclass(frozen=True)
class Resource:
    """A catalogue entry as the exchange sees it."""

    code: str
    name: str
    department: str
    share_type: str
    open_type: str
    status: str
    no_share_basis: str | None
    # 信息项 key -> the catalogue's item document
    items: dict[str, dict[str, Any]]
    source: Source | None

    @property
    def published(self) -> bool:
        return self.status == EntryStatus.published

    def require_source(self) -> Source:
        if self.source is None:
            raise NotQueryable(f"resource {self.code} is not backed by a base database on the platform; it is "
                               f"shared through its own channel", resource=self.code)
        return self.source

    def field_keys(self) -> list[str]:
        """The fields a consumer can receive: the entry's 信息项 that its data actually has."""
        if self.source is None:
            return list(self.items)
        return [k for k in self.items if k in self.source.fields]

    def default_rule(self, key: str) -> MaskingRule:
        if self.source is not None and key in self.source.fields:
            return self.source.default_rule(key)
        item = self.items.get(key, {})
        return rule_for_field(str(item.get("name", key)))


def resource_of(entry: CatalogueEntry) -> Resource:
    items: dict[str, dict[str, Any]] = {}
    for item in entry.items:
        key = item.get("key") or item.get("name")
        if key:
            items[str(key)] = dict(item)
    source = None
    if entry.source == EntrySource.basebase and entry.source_key:
        source = source_for_key(entry.source_key)
    return Resource(entry.code, entry.name, entry.department_code, entry.share_type, entry.open_type,
                    entry.status, entry.no_share_basis, items, source)


def load_resource(session: Session, code: str) -> Resource:
    entry = find_entry(session, code)
    if entry is None:
        raise ResourceNotFound(f"no catalogue resource {code!r}", resource=code)
    return resource_of(entry)
