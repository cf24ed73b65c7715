"""One pagination contract for every list: `limit` and an opaque `after` cursor in, `next` out.

A cursor carries the sort key of the last item a page sent, bound to the list (its *scope*) that issued it.
It is signed with CPIP_SECRET_KEY (HMAC-SHA256, truncated), so a cursor that was edited, made up, or issued by
another list — another route, another resource's records — is refused with 400 problem+json before it can
position any query. Signing, not encryption: the key inside is no secret (it is the last item's sort key, which
the page already showed), but only the platform can say where a list resumes.

    scope = f"exchange.records:{code}"
    after_key = decode_cursor(scope, after)            # None for the first page
    rows = query(after=after_key, limit=limit + 1)
    nxt = encode_cursor(scope, (rows[limit - 1].id,)) if len(rows) > limit else None

Cursors made under a previous secret key still decode during a rotation (settings.verification_secret_keys).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, TypeAlias

import orjson

from cpip.errors import BadRequest
from cpip.settings import Settings, get_settings

Key: TypeAlias = str | int | float | bool | None
KeyTuple: TypeAlias = tuple[Key, ...]

MAX_CURSOR_CHARS = 512
_MAC_BYTES = 12
_INT64 = 2**63 - 1


class InvalidCursor(BadRequest):
    """A cursor this list did not issue: edited, made up, from another list, or from before a key rotation."""

    slug, status, title = "invalid-cursor", 400, "Invalid cursor"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, scope: str, payload: bytes) -> bytes:
    # The scope is in the MAC, not in the cursor: a cursor of another list fails here like an edited one.
    return hmac.new(secret, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(scope: str, key: Sequence[Key], settings: Settings | None = None) -> str:
    """The cursor that resumes the list `scope` after the item whose sort key is `key`."""
    settings = settings or get_settings()
    payload = orjson.dumps(list(key))
    secret = settings.secret_key.get_secret_value().encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, scope, payload))}"


def _refuse(field: str, why: str) -> InvalidCursor:
    return InvalidCursor(f"{field} is not a cursor this list returned ({why}); start again without it",
                         errors=[{"field": field, "message": why, "rule": "cursor"}])


def _valid_key(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return True
    return isinstance(value, int) and -_INT64 - 1 <= value <= _INT64


def decode_cursor(scope: str, cursor: str | None, *, field: str = "after",
                  settings: Settings | None = None) -> KeyTuple | None:
    """The sort key a cursor of the list `scope` resumes after; None when there is no cursor (first page).

    Raises InvalidCursor (400) for anything this list did not issue.
    """
    if cursor is None or cursor == "":
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _refuse(field, "too long")
    body, dot, signature = cursor.partition(".")
    if not dot or not body or not signature:
        raise _refuse(field, "malformed")
    try:
        payload, mac = _unb64(body), _unb64(signature)
    except (binascii.Error, ValueError) as exc:
        raise _refuse(field, "malformed") from exc
    settings = settings or get_settings()
    secrets = [s.encode() for s in settings.verification_secret_keys]
    if not any(hmac.compare_digest(mac, _mac(secret, scope, payload)) for secret in secrets):
        raise _refuse(field, "not issued by this list")
    try:
        key = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:  # signed by us, so only a bug gets here; still a 400, never a 500
        raise _refuse(field, "malformed") from exc
    if not isinstance(key, list) or not all(_valid_key(v) for v in key):
        raise _refuse(field, "malformed")
    return tuple(key)


__all__ = ["MAX_CURSOR_CHARS", "InvalidCursor", "Key", "KeyTuple", "decode_cursor", "encode_cursor"]
