"""Pydantic shapes of quality records as the API shows them and of what callers may send."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    # A misspelt field is refused, not dropped: "reson" must not silently discard without a reason.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Reason(BaseModel):
    field: str
    rule: str
    message: str


class QuarantinedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    resource: str
    submission_ref: str | None
    department: str | None
    submitted_by: str | None
    row_number: int
    natural_key: str | None
    status: str
    reasons: list[Reason]
    record: dict[str, Any]
    original: dict[str, Any]
    attempts: int
    history: list[dict[str, Any]]
    discard_reason: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class QuarantinePage(BaseModel):
    total: int
    items: list[QuarantinedOut]


class Correction(Strict):
    """New values for some fields of a quarantined record; the others keep their submitted values."""

    record: dict[str, Any] = Field(description="Field name → corrected value (null clears the field)")

    @field_validator("record")
    @classmethod
    def _not_empty(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("give at least one field to correct")
        return value


class Resubmission(Strict):
    record: dict[str, Any] | None = Field(default=None, description="Corrections to apply first (optional)")


class Discard(Strict):
    reason: str = Field(min_length=3, max_length=2000, description="Why the record is dropped (kept on record)")


class IssueCreate(Strict):
    resource: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=3, max_length=300)
    description: str | None = Field(default=None, max_length=10_000)
    rule: str | None = Field(default=None, max_length=80)


class IssueAssign(Strict):
    assignee: str = Field(min_length=1, max_length=200)


class IssueNote(Strict):
    note: str | None = Field(default=None, max_length=10_000)


class IssueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    resource: str
    rule: str | None
    title: str
    description: str | None
    status: str
    department: str | None
    assignee: str | None
    run_id: int | None
    last_run_id: int | None
    unexpected_count: int | None
    raised_by: str
    resolution: str | None
    raised_at: datetime
    assigned_at: datetime | None
    fixed_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime


class IssuePage(BaseModel):
    total: int
    items: list[IssueOut]


class ResultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rule: str
    kind: str
    expectation_type: str
    columns: list[str]
    success: bool | None
    element_count: int
    unexpected_count: int
    unexpected_percent: float
    samples: list[dict[str, Any]] = Field(description="Failing keys; personal identifiers are masked")
    error: str | None
    note: str | None


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    resource: str
    suite: str
    suite_version: str
    trigger: str
    engine: str
    status: str
    submission_ref: str | None
    row_count: int
    expectations: int
    failed_expectations: int
    score: float | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None


class RunDetail(RunOut):
    results: list[ResultOut]


class ScoreOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    resource: str
    score: float = Field(description="0–100: the mean share of rows passing each expectation, 2 decimals")
    run_id: int
    row_count: int
    failed_expectations: int
    computed_at: datetime


class RectificationOut(BaseModel):
    """质量问题整改率 for a period: issues closed / issues raised."""

    start: datetime
    end: datetime
    raised: int
    closed: int
    rate: float | None = Field(description="closed / raised, 4 decimals; null when nothing was raised")
