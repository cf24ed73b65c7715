"""Building one audit event from who asked, what they touched and how it ended (no HTTP here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from cpip.clock import utcnow
from security.audit.chain import subject_hmac
from security.principals import Principal


class Api(StrEnum):
    rest = "rest"
    graphql = "graphql"
    export = "export"
    feed = "feed"
    admin = "admin"


class Outcome(StrEnum):
    allowed = "allowed"
    denied = "denied"
    error = "error"


def _hide_identifiers(value: Any, hashed: Mapping[str, str]) -> Any:
    """Filters must not carry a raw identifier into the log: any value equal to one is replaced by its HMAC."""
    if isinstance(value, str):
        return f"hmac:{hashed[value]}" if value in hashed else value
    if isinstance(value, Mapping):
        return {str(k): _hide_identifiers(v, hashed) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_hide_identifiers(v, hashed) for v in value]
    return value


def build_event(
    principal: Principal, *, hmac_key: bytes, action: str, resource: str, api: Api | str = Api.rest,
    fields: Iterable[str] = (), record_count: int | None = None, subject_ids: Iterable[str] = (),
    subject_hmacs: Iterable[str] = (), filters: Mapping[str, Any] | None = None, grant_id: str | None = None,
    purpose: str | None = None, outcome: Outcome | str = Outcome.allowed, status_code: int = 200,
    request_id: str | None = None, ip: str | None = None, latency_ms: float | None = None,
    bytes_sent: int | None = None, detail: str | None = None,
) -> dict[str, Any]:
    """Column values of one `audit_events` row; raw `subject_ids` are hashed here and nowhere stored."""
    raw = [s for s in subject_ids if s]
    hashed = {s: subject_hmac(hmac_key, s) for s in raw}
    keys = sorted(set(hashed.values()) | set(subject_hmacs))
    client_id = principal.client_id or (f"api-key:{principal.api_key_id}" if principal.api_key_id else None)
    return {
        "occurred_at": utcnow(),
        "request_id": request_id,
        "principal": principal.subject,
        "principal_kind": str(principal.kind),
        "client_id": client_id,
        "department": principal.department,
        "roles": sorted(str(r) for r in principal.roles),
        "action": action[:200],
        "resource": resource[:255],
        "api": str(Api(api)),
        "filters": _hide_identifiers(dict(filters or {}), hashed),
        "fields": sorted({str(f) for f in fields}),
        "record_count": record_count,
        "subject_keys": keys,
        "grant_id": grant_id,
        "purpose": purpose,
        "outcome": str(Outcome(outcome)),
        "status_code": status_code,
        "ip": ip or principal.ip,
        # Rounded: the log needs tens of microseconds, not a float's noise.
        "latency_ms": round(latency_ms, 3) if latency_ms is not None else None,
        "bytes": bytes_sent,
        "detail": detail[:2000] if detail else None,
    }
