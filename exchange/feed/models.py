"""Change-feed tables: one counter row per stream, and the changes themselves keyed by (stream, position)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cpip.db import Base


class FeedCounter(Base):
    """The last position handed out in a stream. Writers increment it inside their own transaction, which
    locks the row until they commit: positions are therefore committed in order, with no gaps."""

    __tablename__ = "exchange_feed_counters"

    stream: Mapped[str] = mapped_column(String(60), primary_key=True)
    last_position: Mapped[int] = mapped_column(BigInteger)
    # Changes at or below this position were removed by retention; a cursor older than it cannot resume.
    pruned_through: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class FeedChange(Base):
    __tablename__ = "exchange_feed_changes"
    __table_args__ = (Index("ix_exchange_feed_changes_changed_at", "changed_at"),)

    stream: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    op: Mapped[str] = mapped_column(String(10))
    record_key: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str | None] = mapped_column(String(6))
    # The record's fields after the change (before it, for a delete), as JSON values; delivered only through
    # a grant's view (fields, masking, region).
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime]
