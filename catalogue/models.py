"""Catalogue tables: the department register, entries with their core metadata and census counters, every
version of an entry, and the embedded search index (one row per entry; FTS5 or tsvector sits on top of it,
created by migration 0004 because neither is expressible as a portable ORM column)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cpip.db import Base


class Department(Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    region_code: Mapped[str] = mapped_column(String(6))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CatalogueEntry(Base):
    __tablename__ = "catalogue_entries"
    __table_args__ = (
        UniqueConstraint("class_code", "sequence"),
        Index("ix_catalogue_entries_department_status", "department_code", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    metadata_id: Mapped[str] = mapped_column(String(36), unique=True)
    category: Mapped[str] = mapped_column(String(1))
    item: Mapped[str] = mapped_column(String(2))
    catalog: Mapped[str] = mapped_column(String(3))
    detail: Mapped[str | None] = mapped_column(String(6))
    class_code: Mapped[str] = mapped_column(String(12))
    sequence: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    abstract: Mapped[str] = mapped_column(Text)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    formats: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    share_type: Mapped[str] = mapped_column(String(10))
    share_conditions: Mapped[str | None] = mapped_column(Text)
    share_channel: Mapped[str | None] = mapped_column(String(10))
    share_mode: Mapped[str | None] = mapped_column(String(10))
    no_share_basis: Mapped[str | None] = mapped_column(Text)
    open_type: Mapped[str] = mapped_column(String(10))
    open_conditions: Mapped[str | None] = mapped_column(Text)
    update_cycle: Mapped[str] = mapped_column(String(10))
    related_codes: Mapped[list[str]] = mapped_column(JSON)
    maintainer: Mapped[str | None] = mapped_column(String(200))
    maintainer_contact: Mapped[str | None] = mapped_column(String(200))
    keywords: Mapped[list[str]] = mapped_column(JSON)
    temporal_start: Mapped[date | None] = mapped_column(Date)
    temporal_end: Mapped[date | None] = mapped_column(Date)
    spatial: Mapped[str | None] = mapped_column(String(6))
    grade: Mapped[str] = mapped_column(String(10))
    license: Mapped[str | None] = mapped_column(String(500))
    access_url: Mapped[str | None] = mapped_column(String(500))
    download_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer)
    published_on: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))
    # A base database's own key for its resource, so its registration is idempotent.
    source_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    record_count: Mapped[int] = mapped_column(BigInteger, default=0)
    shared_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    shared_records: Mapped[int] = mapped_column(BigInteger, default=0)
    open_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    open_records: Mapped[int] = mapped_column(BigInteger, default=0)
    census_updated_at: Mapped[datetime | None]
    # Published by the quality runs (issue 7): the resource's latest score, 0–100, and when it was computed.
    # Not metadata: setting it makes no version.
    quality_score: Mapped[float | None] = mapped_column(Float)
    quality_scored_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    department: Mapped[Department] = relationship(lazy="raise")


class CatalogueEntryVersion(Base):
    __tablename__ = "catalogue_entry_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalogue_entries.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    actor_department: Mapped[str | None] = mapped_column(String(50))
    at: Mapped[datetime]
    # {field: {"old": …, "new": …}}; the full snapshot lets any version be shown as it was.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)


class CatalogueSearchDoc(Base):
    """What the embedded search back end matches and counts: analysed tokens plus the facet values."""

    __tablename__ = "catalogue_search_docs"
    # Covering: visibility, filters and facet counts are answered from the index without reading the tokens.
    __table_args__ = (Index("ix_catalogue_search_docs_facets", "status", "share_type", "open_type", "department_code",
                            "update_cycle", "class_facet", "formats_mask", "code"),)

    entry_id: Mapped[int] = mapped_column(ForeignKey("catalogue_entries.id", ondelete="CASCADE"),
                                          primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(32), index=True)  # browsing pages through codes in order
    tokens: Mapped[str] = mapped_column(Text)
    # The name's own tokens, so matches in the name can rank first.
    name_tokens: Mapped[str] = mapped_column(Text)
    department_code: Mapped[str] = mapped_column(String(50))
    share_type: Mapped[str] = mapped_column(String(10))
    open_type: Mapped[str] = mapped_column(String(10))
    update_cycle: Mapped[str] = mapped_column(String(10))
    # 类 + 项 (e.g. "101" 基础/人口): the "class" facet.
    class_facet: Mapped[str] = mapped_column(String(3))
    formats_mask: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
