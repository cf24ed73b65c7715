"""Queries over quality records, as statements both the async API path and the sync worker path execute."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from quality.models import (
    IssueStatus,
    QualityIssue,
    QualityResult,
    QualityRun,
    QualityScore,
    QuarantinedRecord,
)


def quarantine_query(*, department: str | None, all_departments: bool, resource: str | None = None,
                     status: str | None = None, submission_ref: str | None = None) -> Select[Any]:
    """Quarantined records a caller may see: their own department's, unless `all_departments`."""
    query = select(QuarantinedRecord)
    if not all_departments:
        query = query.where(QuarantinedRecord.department == department)
    if resource:
        query = query.where(QuarantinedRecord.resource == resource)
    if status:
        query = query.where(QuarantinedRecord.status == status)
    if submission_ref:
        query = query.where(QuarantinedRecord.submission_ref == submission_ref)
    return query


def issue_query(*, department: str | None, all_departments: bool, resource: str | None = None,
                status: str | None = None) -> Select[Any]:
    """Issues a caller may see: their department's and the platform-wide ones (no department), unless all."""
    query = select(QualityIssue)
    if not all_departments:
        query = query.where(or_(QualityIssue.department == department, QualityIssue.department.is_(None)))
    if resource:
        query = query.where(QualityIssue.resource == resource)
    if status:
        query = query.where(QualityIssue.status == status)
    return query


def count_of(query: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(query.order_by(None).subquery())


def open_issue(resource: str, rule: str) -> Select[Any]:
    return select(QualityIssue).where(QualityIssue.resource == resource, QualityIssue.rule == rule,
                                      QualityIssue.status != IssueStatus.closed).limit(1)


def runs_query(resource: str | None = None) -> Select[Any]:
    query = select(QualityRun).order_by(QualityRun.id.desc())
    return query.where(QualityRun.resource == resource) if resource else query


def results_of(run_id: int) -> Select[Any]:
    return select(QualityResult).where(QualityResult.run_id == run_id).order_by(QualityResult.id)


def scores_query() -> Select[Any]:
    return select(QualityScore).order_by(QualityScore.resource)


def rectification_counts(start: datetime, end: datetime) -> Select[int, int]:
    """(raised, closed): issues raised in [start, end), and how many of those were closed by `end`."""
    raised = and_(QualityIssue.raised_at >= start, QualityIssue.raised_at < end)
    closed = and_(raised, QualityIssue.closed_at.is_not(None), QualityIssue.closed_at < end)
    return select(
        func.count().filter(raised),
        func.count().filter(closed),
    ).select_from(QualityIssue)
