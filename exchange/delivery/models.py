"""Bulk exports: one file per request, built by a job, downloadable until its link expires."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cpip.db import Base


class Export(Base):
    __tablename__ = "exchange_exports"
    __table_args__ = (Index("ix_exchange_exports_department", "department", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(40), index=True)
    resource_code: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(50))
    # Who asked, as the audit event of the finished file names them (the job runs without a request).
    requested_by: Mapped[dict[str, Any]] = mapped_column(JSON)
    format: Mapped[str] = mapped_column(String(10))
    bom: Mapped[bool] = mapped_column(Boolean)
    fields: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
