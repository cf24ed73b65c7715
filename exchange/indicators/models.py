"""Indicator tables: signed manual inputs, daily call rollups (and which days they cover), stored results."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cpip.db import Base

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class ManualInput(Base):
    """A denominator the logs cannot know (e.g. the city's number of departments), entered and signed by a person.

    Rows are never updated: a correction is a newer row; the engine uses the newest entered before the cut-off.
    """

    __tablename__ = "indicator_inputs"
    __table_args__ = (Index("ix_indicator_inputs_name", "name", "period", "department", "entered_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))  # a period code, or "*" for every period
    department: Mapped[str] = mapped_column(String(64))  # "" for the whole city
    value: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    note: Mapped[str | None] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(200))
    entered_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class CallRollup(Base):
    """Audit events of one local day, counted per caller, resource, action, outcome and latency bucket."""

    __tablename__ = "indicator_call_rollups"
    __table_args__ = (
        UniqueConstraint("day", "department", "client_id", "principal_kind", "resource", "action", "api",
                         "outcome", "latency_bucket", name="uq_indicator_call_rollups_day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date)
    department: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(255))
    principal_kind: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(200))
    api: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    latency_bucket: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(BigInteger)


class RollupDay(Base):
    """A local day whose rollup rows are complete (written after the day ended)."""

    __tablename__ = "indicator_rollup_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    rolled_at: Mapped[datetime]


class CallRollupMonth(Base):
    """The daily rollups of one whole local month summed per key: a quarter reads three months' rows instead of
    ninety-two days' (the key set barely grows from a day to a month)."""

    __tablename__ = "indicator_call_rollup_months"
    __table_args__ = (
        UniqueConstraint("month", "department", "client_id", "principal_kind", "resource", "action", "api",
                         "outcome", "latency_bucket", name="uq_indicator_call_rollup_months_month"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    month: Mapped[date] = mapped_column(Date)  # the month's first day
    department: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(255))
    principal_kind: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(200))
    api: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    latency_bucket: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(BigInteger)


class RollupMonth(Base):
    """A local month every day of which is rolled up, summed into `indicator_call_rollup_months`.

    Written in the transaction that rolls the month's last missing day, rewritten whenever one of its days is
    rolled again, so it always equals the sum of its days' rollups.
    """

    __tablename__ = "indicator_rollup_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    rolled_at: Mapped[datetime]


class StoredResult(Base):
    """A computed report of a closed period with the fingerprint of its inputs, so a recomputation can be
    checked against it and the published numbers never silently change."""

    __tablename__ = "indicator_results"
    __table_args__ = (UniqueConstraint("definition_set", "definition_version", "period", "department", "cutoff",
                                       name="uq_indicator_results_definition_set"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    definition_set: Mapped[str] = mapped_column(String(64))
    definition_version: Mapped[str] = mapped_column(String(32))
    definitions_digest: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))
    department: Mapped[str] = mapped_column(String(64))
    cutoff: Mapped[datetime]
    fingerprint: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime]
    computed_by: Mapped[str] = mapped_column(String(200))
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
