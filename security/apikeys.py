"""Open-data API keys: issued to a developer, shown once, stored as a keyed hash, revocable, expiring.

A key reads `cpipk_<id>_<secret>`. The id is the row's primary key, so checking a key is one lookup by
primary key and a constant-time comparison per known secret key; the secret is stored only as HMAC-SHA256 under
the platform's `secret_key` (with the id bound in, so a hash cannot be moved to another row). After a rotation a
key hashed under the former `secret_key` keeps working while that key is listed in `previous_secret_keys`, so
operators drop it only once every key minted before the rotation has expired (at most `api_key_max_days`);
after a leak of the server secret they drop it at once, which invalidates every key made under it.

A key's holder is an `api_key` principal: whatever roles its owner has, it can only do what
`API_KEY_PERMISSIONS` allows (open resources), so a leaked key never exposes more than open data.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cpip.clock import utcnow
from cpip.db import Base
from cpip.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from security.principals import Principal, PrincipalKind

KEY_PREFIX = "cpipk"
OPEN_DATA_SCOPE = "open-data"
MAX_ACTIVE_KEYS_PER_OWNER = 20
DEFAULT_LIFETIME_DAYS = 90
_KEY_SHAPE = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{43}})$")


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_owner_subject", "owner_subject"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_subject: Mapped[str] = mapped_column(String(255))
    owner_username: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(50), default=OPEN_DATA_SCOPE)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(255))

    @property
    def display(self) -> str:
        """How the key is shown after creation: enough to recognise it, never enough to use it."""
        return f"{KEY_PREFIX}_{self.id}_…"

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    plaintext: str  # shown to the developer once, in the creation response; never stored


def _digest(key_id: str, secret: str, secret_key: str) -> str:
    return hmac.new(secret_key.encode(), f"{key_id}.{secret}".encode(), hashlib.sha256).hexdigest()


def build_key(owner: Principal, name: str, expires_in_days: int | None, *, secret_key: str,
              max_days: int) -> IssuedKey:
    """A new key for `owner`, checked but not yet stored (see `save_key`)."""
    if owner.kind not in (PrincipalKind.person, PrincipalKind.service_account):
        raise Forbidden("only a signed-in account can create API keys; an API key cannot create another")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValidationFailed("name: give the key a name of 1 to 100 characters",
                               errors=[{"field": "name", "message": "1 to 100 characters"}])
    if expires_in_days is None:
        expires_in_days = min(DEFAULT_LIFETIME_DAYS, max_days)
    if not 1 <= expires_in_days <= max_days:
        raise ValidationFailed(f"expires_in_days: must be between 1 and {max_days}",
                               errors=[{"field": "expires_in_days", "message": f"1 to {max_days}"}])
    now = utcnow()
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(id=key_id, owner_subject=owner.subject, owner_username=owner.username, name=name,
                 scope=OPEN_DATA_SCOPE, secret_hash=_digest(key_id, secret, secret_key), created_at=now,
                 expires_at=now + timedelta(days=expires_in_days), revoked_at=None, revoked_by=None)
    return IssuedKey(key=key, plaintext=f"{KEY_PREFIX}_{key_id}_{secret}")


async def ensure_quota(session: AsyncSession, owner: Principal) -> None:
    """409 when `owner` already has the maximum number of active keys."""
    active = await session.scalar(
        select(func.count()).select_from(ApiKey).where(
            ApiKey.owner_subject == owner.subject, ApiKey.revoked_at.is_(None), ApiKey.expires_at > utcnow()))
    if (active or 0) >= MAX_ACTIVE_KEYS_PER_OWNER:
        raise Conflict(f"you already have {MAX_ACTIVE_KEYS_PER_OWNER} active keys; revoke one first")


async def save_key(session: AsyncSession, issued: IssuedKey) -> ApiKey:
    session.add(issued.key)
    await session.flush()
    return issued.key


async def issue_key(session: AsyncSession, owner: Principal, name: str, expires_in_days: int | None, *,
                    secret_key: str, max_days: int) -> IssuedKey:
    """Check, then store, a new key (for callers that audit nothing in between)."""
    issued = build_key(owner, name, expires_in_days, secret_key=secret_key, max_days=max_days)
    await ensure_quota(session, owner)
    await save_key(session, issued)
    return issued


async def list_keys(session: AsyncSession, owner: Principal) -> list[ApiKey]:
    result = await session.scalars(
        select(ApiKey).where(ApiKey.owner_subject == owner.subject).order_by(ApiKey.created_at.desc(), ApiKey.id))
    return list(result)


async def find_own_key(session: AsyncSession, key_id: str, owner: Principal) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    # Someone else's key is "not found", so key ids cannot be probed.
    if key is None or key.owner_subject != owner.subject:
        raise NotFound(f"no API key {key_id!r} of yours")
    return key


async def mark_revoked(session: AsyncSession, key_id: str, by: Principal) -> None:
    """Revoke `by`'s key `key_id` if it is still active: one UPDATE, so it is also safe as the first
    statement of a transaction (SQLite takes the write lock at once instead of upgrading a read)."""
    await session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.owner_subject == by.subject, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by=by.subject).execution_options(synchronize_session=False))


async def find_any_key(session: AsyncSession, key_id: str) -> ApiKey:
    """Any owner's key, for the platform administrator."""
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id!r}")
    return key


async def list_all_keys(session: AsyncSession, *, owner: str | None = None, active_only: bool = False,
                        limit: int = 500) -> list[ApiKey]:
    """Keys of every owner (or of the one whose subject or username is `owner`), newest first."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id).limit(limit)
    if owner is not None:
        query = query.where((ApiKey.owner_subject == owner) | (ApiKey.owner_username == owner))
    if active_only:
        query = query.where(ApiKey.revoked_at.is_(None), ApiKey.expires_at > utcnow())
    return list(await session.scalars(query))


async def mark_revoked_by_admin(session: AsyncSession, key_id: str, by: Principal) -> None:
    """Revoke any owner's key `key_id` if it is still active (a leaked key, an owner who left)."""
    await session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by=by.subject).execution_options(synchronize_session=False))


async def revoke_key(session: AsyncSession, key_id: str, by: Principal) -> ApiKey:
    """Revoke one of `by`'s own keys; revoking a revoked key changes nothing."""
    await find_own_key(session, key_id, by)
    await mark_revoked(session, key_id, by)
    return await find_own_key(session, key_id, by)


async def authenticate_key(session: AsyncSession, presented: str, *, secret_keys: Sequence[str],
                           ip: str | None = None) -> Principal:
    """The principal an `X-API-Key` value stands for, or 401 saying why it is not accepted.

    `secret_keys` is `Settings.verification_secret_keys`: a hash made under any of them is accepted."""
    match = _KEY_SHAPE.match(presented.strip())
    if match is None:
        raise Unauthorized("the API key is malformed; keys look like cpipk_<id>_<secret>", reason="malformed-key")
    key_id, secret = match.groups()
    key = await session.get(ApiKey, key_id)
    expected = key.secret_hash if key is not None else _digest(key_id, "", secret_keys[0])
    # Compare under every key, and even for an unknown id, so timing reveals neither which ids exist nor which
    # key a hash was made under.
    matched = False
    for secret_key in secret_keys:
        matched |= hmac.compare_digest(expected, _digest(key_id, secret, secret_key))
    if not matched or key is None:
        raise Unauthorized("the API key is not valid", reason="unknown-key")
    if key.revoked_at is not None:
        raise Unauthorized("the API key has been revoked", reason="revoked-key")
    if key.expires_at <= utcnow():
        raise Unauthorized("the API key has expired; create a new one", reason="expired-key")
    return Principal(kind=PrincipalKind.api_key, subject=key.owner_subject, username=key.owner_username,
                     api_key_id=key.id, ip=ip)
