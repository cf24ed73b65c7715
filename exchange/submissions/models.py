"""A submitted batch and its rows as received (kept until checked, so a retried job reads the same input)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cpip.db import Base


class Submission(Base):
    __tablename__ = "exchange_submissions"
    __table_args__ = (UniqueConstraint("department", "batch_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(100))
    department: Mapped[str] = mapped_column(String(50))
    resource_code: Mapped[str] = mapped_column(String(32))
    base: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(10))
    content_sha256: Mapped[str] = mapped_column(String(64))
    submitted_by: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    rows_total: Mapped[int] = mapped_column(Integer)
    landed: Mapped[int | None] = mapped_column(Integer)
    inserted: Mapped[int | None] = mapped_column(Integer)
    updated: Mapped[int | None] = mapped_column(Integer)
    unchanged: Mapped[int | None] = mapped_column(Integer)
    quarantined: Mapped[int | None] = mapped_column(Integer)
    quality_run_id: Mapped[int | None] = mapped_column(Integer)
    feed_first: Mapped[int | None] = mapped_column(BigInteger)
    feed_last: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class SubmissionRow(Base):
    __tablename__ = "exchange_submission_rows"

    submission_id: Mapped[str] = mapped_column(ForeignKey("exchange_submissions.id", ondelete="CASCADE"),
                                               primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
