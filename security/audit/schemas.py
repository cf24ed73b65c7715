"""What the security officer asks the audit log, and what it answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from security.audit.events import Api, Outcome

MAX_PAGE = 500


class AuditQuery(BaseModel):
    """Filters combine with AND. `subject_id` is the raw identifier (e.g. a 公民身份号码): it is hashed on the
    way in and never stored or logged; `subject_hmac` is the same search by its keyed hash."""

    model_config = ConfigDict(extra="forbid")

    subject_id: str | None = Field(default=None, min_length=1, max_length=64)
    subject_hmac: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    principal: str | None = Field(default=None, max_length=255)
    department: str | None = Field(default=None, max_length=64)
    resource: str | None = Field(default=None, max_length=255)
    action: str | None = Field(default=None, max_length=200)
    outcome: Outcome | None = None
    api: Api | None = None
    since: datetime | None = Field(default=None, description="occurred_at >= since (ISO 8601 with offset)")
    until: datetime | None = Field(default=None, description="occurred_at < until")

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time with its UTC offset, e.g. 2025-03-01T08:00:00+08:00")
        return value

    def described(self) -> dict[str, Any]:
        """The filters as they may be logged: never the raw subject identifier."""
        shown = self.model_dump(mode="json", exclude_none=True, exclude={"subject_id"})
        if self.subject_id is not None:
            shown["subject_id"] = "(hashed)"
        return shown


class AuditSearch(AuditQuery):
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=64, description="next_cursor of the previous page")


class AuditEventView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int | None
    occurred_at: datetime
    request_id: str | None
    principal: str
    principal_kind: str
    client_id: str | None
    department: str | None
    roles: list[str]
    action: str
    resource: str
    api: str
    filters: dict[str, Any]
    fields: list[str]
    record_count: int | None
    subject_keys: list[str]
    grant_id: str | None
    purpose: str | None
    outcome: str
    status_code: int
    ip: str | None
    latency_ms: float | None
    bytes: int | None
    detail: str | None
    chain_hash: str | None


class AuditPage(BaseModel):
    items: list[AuditEventView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null at the end")


class AnomalyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date | None = Field(default=None, description="local date (audit time zone); default today")
    baseline_days: int = Field(default=14, ge=3, le=90)
    sigma: float = Field(default=3.0, gt=0, le=10)
    min_volume: int = Field(default=20, ge=1, description="volumes below this are never flagged")
    denial_threshold: int = Field(default=10, ge=2)
    denial_window_minutes: int = Field(default=5, ge=1, le=1440)


class VolumeAnomaly(BaseModel):
    principal: str
    department: str | None
    count: int
    baseline_mean: float
    baseline_stddev: float
    threshold: float


class DenialBurst(BaseModel):
    principal: str
    ip: str | None
    denials: int
    first_at: datetime
    last_at: datetime


class OffHoursRead(BaseModel):
    event_id: int
    principal: str
    department: str | None
    resource: str
    occurred_at: datetime
    local_time: str
    record_count: int | None
    subjects: int


class AnomalyReport(BaseModel):
    day: date
    timezone: str
    working_hours: str
    working_day: bool = Field(description="Whether the day is a working day (off-hours reads are judged by it)")
    calendar: str = Field(description="Which calendar decided it: the official one, or Monday–Friday when the "
                                      "official one does not cover the day yet")
    volume: list[VolumeAnomaly]
    denial_bursts: list[DenialBurst]
    off_hours_personal_reads: list[OffHoursRead]


class AnchorView(BaseModel):
    """The newest signed checkpoint, to keep outside the database; `cpip audit verify --anchor` checks it."""

    format: str
    seq: int
    chain_hash: str
    signed_at: datetime
    key_id: str
    signature: str
