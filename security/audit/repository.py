"""Queries over the audit log for the security officer (read-only: nothing here writes)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpip.errors import BadRequest
from security.audit.chain import subject_hmac
from security.audit.models import AuditEvent, AuditSubject
from security.audit.schemas import AuditQuery, AuditSearch

EXPORT_CHUNK = 1000


def query_hmac(query: AuditQuery, hmac_key: bytes) -> str | None:
    if query.subject_id is not None and query.subject_hmac is not None:
        raise BadRequest("give subject_id or subject_hmac, not both", field="subject_id")
    if query.subject_id is not None:
        return subject_hmac(hmac_key, query.subject_id)
    return query.subject_hmac


def _filtered(query: AuditQuery, hmac_key: bytes) -> Select[AuditEvent]:
    statement = select(AuditEvent)
    hashed = query_hmac(query, hmac_key)
    if hashed is not None:
        statement = statement.where(AuditEvent.id.in_(
            select(AuditSubject.event_id).where(AuditSubject.subject_hmac == hashed)))
    for name in ("principal", "department", "resource", "action"):
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(getattr(AuditEvent, name) == value)
    if query.outcome is not None:
        statement = statement.where(AuditEvent.outcome == query.outcome.value)
    if query.api is not None:
        statement = statement.where(AuditEvent.api == query.api.value)
    if query.since is not None:
        statement = statement.where(AuditEvent.occurred_at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEvent.occurred_at < query.until)
    return statement


def encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"e{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("e"):
            raise ValueError(text)
        return int(text[1:])
    except ValueError as exc:
        raise BadRequest("cursor is not one this API returned", field="cursor") from exc


async def search(session: AsyncSession, query: AuditSearch, hmac_key: bytes) -> tuple[list[AuditEvent], str | None]:
    """Newest first; keyset pagination on id, so pages stay stable while new events arrive."""
    statement = _filtered(query, hmac_key)
    if query.cursor is not None:
        statement = statement.where(AuditEvent.id < decode_cursor(query.cursor))
    found = list((await session.scalars(statement.order_by(AuditEvent.id.desc()).limit(query.limit + 1))).all())
    more = len(found) > query.limit
    page = found[: query.limit]
    return page, encode_cursor(page[-1].id) if more and page else None


async def export_bounds(session: AsyncSession, query: AuditQuery, hmac_key: bytes) -> tuple[int, int]:
    """(count, newest id) of what an export will contain, fixed before streaming starts."""
    subquery = _filtered(query, hmac_key).subquery()
    count, newest = (await session.execute(select(func.count(), func.max(subquery.c.id)))).one()
    return int(count), int(newest or 0)


async def export_rows(factory: async_sessionmaker[AsyncSession], query: AuditQuery, hmac_key: bytes,
                      upto_id: int) -> AsyncIterator[list[AuditEvent]]:
    """Oldest first in chunks, each chunk its own short transaction (a long export holds no snapshot)."""
    after = 0
    while True:
        async with factory() as session:
            statement = (_filtered(query, hmac_key).where(AuditEvent.id > after, AuditEvent.id <= upto_id)
                         .order_by(AuditEvent.id).limit(EXPORT_CHUNK))
            chunk = list((await session.scalars(statement)).all())
        if not chunk:
            return
        yield chunk
        after = chunk[-1].id


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {column: getattr(event, column) for column in AuditEvent.__table__.columns.keys()}  # noqa: SIM118
