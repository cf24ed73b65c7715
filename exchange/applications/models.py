"""Access applications (共享申请) and every step of their review, each timestamped.

An application names a catalogue resource by its code, not by a foreign key: the exchange keeps its records
even if an entry is later withdrawn, and the workflow history (申请办结率, 按时办结率) must survive it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cpip.db import Base


class Application(Base):
    __tablename__ = "exchange_applications"
    __table_args__ = (
        Index("ix_exchange_applications_provider_status", "provider_department", "status"),
        Index("ix_exchange_applications_consumer_status", "consumer_department", "status"),
        Index("ix_exchange_applications_status_due", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(32), index=True)
    resource_name: Mapped[str] = mapped_column(String(200))
    provider_department: Mapped[str] = mapped_column(String(50))
    consumer_department: Mapped[str] = mapped_column(String(50))
    applicant: Mapped[str] = mapped_column(String(200))
    share_type: Mapped[str] = mapped_column(String(10))
    # Whether the resource was published when applied for; decides the 5 or 10 working-day reply limit.
    data_published: Mapped[bool] = mapped_column(Boolean)
    fields: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    region_prefix: Mapped[str | None] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime]
    reply_days: Mapped[int | None] = mapped_column(Integer)
    due_on: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[datetime | None]
    overdue_flagged_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_on_time: Mapped[bool | None] = mapped_column(Boolean)
    refusal_reasons: Mapped[str | None] = mapped_column(Text)
    grant_id: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime]


class ApplicationEvent(Base):
    """One step of an application: submitted, approved, refused, withdrawn, overdue."""

    __tablename__ = "exchange_application_events"
    __table_args__ = (Index("ix_exchange_application_events_application", "application_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("exchange_applications.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(200))
    actor_department: Mapped[str | None] = mapped_column(String(50))
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
