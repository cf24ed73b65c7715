"""The access audit log: one row per data access, sealed into a hash chain with signed checkpoints.

Rows are append-only. `seq` and `chain_hash` stay NULL until the sealer assigns them, once; database
triggers (migration 0002a) refuse any other UPDATE and every DELETE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from cpip.db import Base
from security.audit.chain import canonical_json

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class CanonicalJSON(TypeDecorator[Any]):
    """JSON stored as canonical text, so the stored bytes are exactly what the hash chain covers."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> str | None:
            return None if value is None else canonical_json(value)

        return process


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_principal", "principal", "occurred_at"),
        Index("ix_audit_events_department", "department", "occurred_at"),
        Index("ix_audit_events_resource", "resource", "occurred_at"),
        Index("ix_audit_events_outcome", "outcome", "occurred_at"),
        Index("ix_audit_events_request_id", "request_id"),
        # The sealer's work list: unsealed rows in id order, without scanning sealed history.
        Index("ix_audit_events_unsealed", "id", postgresql_where=text("seq IS NULL"),
              sqlite_where=text("seq IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime]
    request_id: Mapped[str | None] = mapped_column(String(128))
    principal: Mapped[str] = mapped_column(String(255))
    principal_kind: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(CanonicalJSON)
    action: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str] = mapped_column(String(255))
    api: Mapped[str] = mapped_column(String(16))
    filters: Mapped[dict[str, Any]] = mapped_column(CanonicalJSON)
    fields: Mapped[list[str]] = mapped_column(CanonicalJSON)
    record_count: Mapped[int | None] = mapped_column(Integer)
    subject_keys: Mapped[list[str]] = mapped_column(CanonicalJSON)
    grant_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str | None] = mapped_column(Text)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64))


class AuditSubject(Base):
    """Index of the HMACs in `AuditEvent.subject_keys`: "who read 110101…" without a scan."""

    __tablename__ = "audit_subjects"
    __table_args__ = (Index("ix_audit_subjects_hmac", "subject_hmac", "event_id"),)

    event_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("audit_events.id"), primary_key=True, autoincrement=False
    )
    subject_hmac: Mapped[str] = mapped_column(String(64), primary_key=True)


class AuditCheckpoint(Base):
    """A signed statement "the chain up to `seq` ends in `chain_hash`", written at the end of each seal."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class AuditMaintenance(Base):
    """While a transaction holds a row here, the append-only triggers let it change audit rows.

    Only the test harness and deliberate repair use it (security.audit.maintenance): the row is inserted
    and deleted inside one transaction, so no other connection ever sees it.
    """

    __tablename__ = "audit_maintenance"
    __table_args__ = {"info": {"seeded": True}}  # noqa: RUF012

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
