"""What a consumer sends to apply, what a provider sends to decide, and what both read back."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from security.masking import MaskingRule

RESOURCE_CODE_PATTERN = r"^[1-3]\d{2}\d{3}\d{0,6}/\d{6}$"
# GB/T 2260 is hierarchical (province 2, city 2, county 2), so a scope is a 2-, 4- or 6-digit prefix.
REGION_PREFIX_PATTERN = r"^\d{2}(\d{2}){0,2}$"
FIELD_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"

FieldKey = Annotated[str, Field(pattern=FIELD_KEY_PATTERN, description="信息项 key of the resource")]
RegionPrefix = Annotated[str, Field(pattern=REGION_PREFIX_PATTERN,
                                    description="GB/T 2260 region-code prefix (2, 4 or 6 digits)")]


class Strict(BaseModel):
    # A misspelt field is refused, not ignored: an approval must never lose a restriction silently.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RowScope(Strict):
    region_prefix: RegionPrefix | None = Field(default=None, description="Only rows whose region code starts so")


class Period(Strict):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("period.end is before period.start")
        return self


def _unique(values: list[str], what: str) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what} repeated: {', '.join(repeated)}")
    return values


class ApplicationCreate(Strict):
    resource: str = Field(pattern=RESOURCE_CODE_PATTERN, description="信息资源代码 of the catalogue entry")
    fields: list[FieldKey] = Field(min_length=1, max_length=500, description="信息项 keys wanted")
    purpose: str = Field(min_length=1, max_length=2000, description="用途: what the data is for")
    legal_basis: str = Field(min_length=1, max_length=2000, description="依据: the law, policy or duty")
    period: Period = Field(description="For how long access is wanted")
    row_scope: RowScope = Field(default_factory=RowScope, description="Which rows are wanted")

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        return _unique(value, "fields")


class Approval(Strict):
    """The provider's terms. Everything can only narrow what was applied for."""

    fields: list[FieldKey] | None = Field(default=None, description="Granted fields (default: as applied for)")
    masking: dict[FieldKey, MaskingRule] = Field(
        default_factory=dict, description="Fields delivered masked, each with its 脱敏 rule")
    row_scope: RowScope | None = Field(default=None, description="Row filter (default: as applied for)")
    requests_per_day: int | None = Field(default=None, ge=1, le=10_000_000,
                                         description="Quota of requests per day (default: platform default)")
    records_per_day: int | None = Field(default=None, ge=1, le=10_000_000_000,
                                        description="Quota of records per day (default: platform default)")
    valid_until: date | None = Field(default=None, description="Last day of validity (default: period end)")
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique(value, "fields")


class Refusal(Strict):
    reasons: str = Field(min_length=1, max_length=4000, description="Why access is refused (required)")

    @field_validator("reasons")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a refusal must state its reasons")
        return value


class Withdrawal(Strict):
    reason: str | None = Field(default=None, max_length=2000)


class EventOut(BaseModel):
    action: str
    actor: str
    actor_department: str | None
    at: datetime
    detail: dict[str, Any]


class ApplicationOut(BaseModel):
    id: str
    resource: str
    resource_name: str
    provider_department: str
    consumer_department: str
    applicant: str
    share_type: str
    data_published: bool
    fields: list[str]
    purpose: str
    legal_basis: str
    period: Period
    row_scope: RowScope
    status: str
    submitted_at: datetime
    reply_days: int | None = Field(description="Working days the provider has to reply (None: approved at once)")
    due_on: date | None = Field(description="Last working day for the reply (local date)")
    due_at: datetime | None = Field(description="The reply is late from this instant")
    overdue: bool
    overdue_flagged_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    decided_on_time: bool | None
    refusal_reasons: str | None
    grant_id: str | None
    events: list[EventOut] | None = None
