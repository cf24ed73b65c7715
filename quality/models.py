"""Quality records: runs and their per-expectation results, scores, quarantined rows, quality issues."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cpip.db import Base


class RunStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"   # every expectation evaluated (whether the data passed is in the results)
    partial = "partial"       # some expectations could not be evaluated (see their error)
    failed = "failed"         # the run itself broke


class RunTrigger(StrEnum):
    cli = "cli"
    job = "job"
    schedule = "schedule"
    gate = "gate"


class QualityRun(Base):
    """One validation of a resource: a whole table, or a submitted batch at the gate."""

    __tablename__ = "quality_runs"
    __table_args__ = (Index("ix_quality_runs_resource_started", "resource", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(String(40))
    suite: Mapped[str] = mapped_column(String(80))
    suite_version: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(12))
    engine: Mapped[str] = mapped_column(String(12))          # sql (in the database) | pandas
    status: Mapped[str] = mapped_column(String(12))
    submission_ref: Mapped[str | None] = mapped_column(String(100))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    expectations: Mapped[int] = mapped_column(Integer, default=0)
    failed_expectations: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class QualityResult(Base):
    """What one expectation of a run found."""

    __tablename__ = "quality_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("quality_runs.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(30))
    expectation_type: Mapped[str] = mapped_column(String(100))
    columns: Mapped[list[str]] = mapped_column(JSON)
    success: Mapped[bool | None] = mapped_column(Boolean)
    element_count: Mapped[int] = mapped_column(Integer, default=0)
    unexpected_count: Mapped[int] = mapped_column(Integer, default=0)
    unexpected_percent: Mapped[float] = mapped_column(Float, default=0.0)
    samples: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # failing keys, at most 20
    error: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class QualityScore(Base):
    """The latest score of each resource (0–100), from its latest whole-table run; what the catalogue shows."""

    __tablename__ = "quality_scores"

    resource: Mapped[str] = mapped_column(String(40), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    run_id: Mapped[int] = mapped_column(ForeignKey("quality_runs.id", ondelete="CASCADE"))
    row_count: Mapped[int] = mapped_column(Integer)
    failed_expectations: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime]


class QuarantineStatus(StrEnum):
    quarantined = "quarantined"   # waiting for a correction or a decision
    resubmitted = "resubmitted"   # corrected and sent back through the gate (a job is checking it)
    landed = "landed"             # passed the gate and was written to the base database
    discarded = "discarded"       # dropped on purpose, with a reason


class QuarantinedRecord(Base):
    """A submitted row the gate refused, kept whole with every reason, until corrected or discarded."""

    __tablename__ = "quality_quarantine"
    __table_args__ = (
        Index("ix_quality_quarantine_department_status", "department", "status"),
        Index("ix_quality_quarantine_resource_status", "resource", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(String(40))
    submission_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("quality_runs.id", ondelete="SET NULL"))
    department: Mapped[str | None] = mapped_column(String(50))
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    row_number: Mapped[int] = mapped_column(Integer)
    natural_key: Mapped[str | None] = mapped_column(String(200))
    original: Mapped[dict[str, Any]] = mapped_column(JSON)     # as submitted, never changed
    record: Mapped[dict[str, Any]] = mapped_column(JSON)       # as corrected so far
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{field, rule, message}] of the last check
    status: Mapped[str] = mapped_column(String(12), default=QuarantineStatus.quarantined)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # resubmissions so far
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{at, by, action, ...}]
    discard_reason: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IssueStatus(StrEnum):
    raised = "raised"
    assigned = "assigned"
    fixed = "fixed"
    closed = "closed"


class QualityIssue(Base):
    """A data-quality problem to rectify: raised → assigned → fixed → closed; 质量问题整改率 counts these."""

    __tablename__ = "quality_issues"
    __table_args__ = (
        Index("ix_quality_issues_resource_rule_status", "resource", "rule", "status"),
        Index("ix_quality_issues_raised_at", "raised_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str | None] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=IssueStatus.raised)
    department: Mapped[str | None] = mapped_column(String(50))
    assignee: Mapped[str | None] = mapped_column(String(200))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("quality_runs.id", ondelete="SET NULL"))
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("quality_runs.id", ondelete="SET NULL"))
    unexpected_count: Mapped[int | None] = mapped_column(Integer)
    raised_by: Mapped[str] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(Text)
    raised_at: Mapped[datetime]
    assigned_at: Mapped[datetime | None]
    fixed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
