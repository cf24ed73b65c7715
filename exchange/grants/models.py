"""Grants (授权): what an approval lets a consumer department read, and the history of its status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cpip.db import Base


class Grant(Base):
    __tablename__ = "exchange_grants"
    __table_args__ = (
        Index("ix_exchange_grants_consumer_resource", "consumer_department", "resource_code", "status"),
        Index("ix_exchange_grants_provider", "provider_department", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str | None] = mapped_column(String(40), index=True)
    resource_code: Mapped[str] = mapped_column(String(32))
    provider_department: Mapped[str] = mapped_column(String(50))
    consumer_department: Mapped[str] = mapped_column(String(50))
    # 信息项 keys the consumer may receive; `masking` maps those it receives masked to their rule.
    fields: Mapped[list[str]] = mapped_column(JSON)
    masking: Mapped[dict[str, str]] = mapped_column(JSON)
    region_prefix: Mapped[str | None] = mapped_column(String(6))
    requests_per_day: Mapped[int | None] = mapped_column(Integer)
    records_per_day: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class GrantEvent(Base):
    """Issued, suspended, resumed, revoked: who changed a grant, when and why."""

    __tablename__ = "exchange_grant_events"
    __table_args__ = (Index("ix_exchange_grant_events_grant", "grant_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("exchange_grants.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
