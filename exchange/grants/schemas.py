"""How grants are shown and changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class GrantOut(BaseModel):
    id: str
    application_id: str | None
    resource: str
    provider_department: str
    consumer_department: str
    fields: list[str]
    masking: dict[str, str] = Field(description="Fields delivered masked → their 脱敏 rule")
    region_prefix: str | None
    requests_per_day: int | None
    records_per_day: int | None
    valid_from: datetime
    valid_until: datetime
    purpose: str
    status: str
    status_reason: str | None
    effective: bool = Field(description="Active and within its validity period right now")
    created_at: datetime
    updated_at: datetime


class GrantEventOut(BaseModel):
    action: str
    actor: str
    at: datetime
    reason: str | None
    detail: dict[str, Any]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=2000, description="Why (kept in the grant's history)")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required")
        return value
