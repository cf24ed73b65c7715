"""Request and response shapes of the security package's API (open-data keys)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the key is for, e.g. the app's name")
    expires_in_days: int | None = Field(
        default=None, ge=1,
        description="Lifetime in days: at most CPIP_API_KEY_MAX_DAYS; 90 (or that maximum) if left out")


class ApiKeyView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    scope: str
    display: str = Field(description="The key's recognisable prefix; the secret is never shown again")
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class ApiKeyAdminView(ApiKeyView):
    """A key as the platform administrator sees it: whose it is and who revoked it."""

    owner_subject: str
    owner_username: str | None
    revoked_by: str | None


class ApiKeyRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500,
                        description="Why the key is revoked (recorded in the audit log), e.g. 'published on a forum'")


class ApiKeyIssued(ApiKeyView):
    key: str = Field(description="The full key, shown only in this response: store it now")
