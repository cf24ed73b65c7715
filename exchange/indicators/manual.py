"""Signed manual inputs: values the platform's records cannot know, entered by a named person.

Each row is signed with HMAC-SHA256 under the platform's secret key over its canonical content, so an edit made
behind the application's back (a changed value, author or time) is detected when the input is used, and the
computation refuses it rather than scoring with it.

Rows are signed under the current `CPIP_SECRET_KEY` and name it by `key_id`; a row is verified under the key its
`key_id` names, which may be one of `CPIP_PREVIOUS_SECRET_KEYS` after a rotation. Rows are never re-signed (they
are never updated), so an input still in use when its key is dropped must be entered again first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from cpip.clock import utcnow
from cpip.errors import Conflict, ValidationFailed
from cpip.settings import Settings
from exchange.indicators.models import ManualInput

if TYPE_CHECKING:
    from exchange.indicators.compute import Scope

MANUAL_NAMES = ("departments_total",)


class InputSignatureInvalid(Conflict):
    slug, title = "indicator-input-signature-invalid", "A manual indicator input fails its signature check"


def _key(settings: Settings) -> bytes:
    return settings.secret_key.get_secret_value().encode()


def _id_of(key: bytes) -> str:
    return "hmac-sha256:" + hashlib.sha256(b"cpip-indicator-inputs|" + key).hexdigest()[:16]


def key_id(settings: Settings) -> str:
    """The id of the key new inputs are signed under."""
    return _id_of(_key(settings))


def _known_keys(settings: Settings) -> dict[str, bytes]:
    keys = (k.encode() for k in settings.verification_secret_keys)
    return {_id_of(key): key for key in keys}


def _canonical(row: ManualInput) -> bytes:
    body = {"name": row.name, "period": row.period, "department": row.department,
            "value": format(Decimal(row.value).normalize(), "f"), "note": row.note or "",
            "entered_by": row.entered_by, "entered_at": row.entered_at.isoformat()}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _mac(key: bytes, row: ManualInput) -> str:
    return hmac.new(key, _canonical(row), hashlib.sha256).hexdigest()


def sign(row: ManualInput, settings: Settings) -> str:
    return _mac(_key(settings), row)


def signing_key_known(row: ManualInput, settings: Settings) -> bool:
    """Whether the key the row names is the current or a previous secret key."""
    return row.key_id in _known_keys(settings)


def verify(row: ManualInput, settings: Settings) -> bool:
    """The row's signature holds under the key its `key_id` names (the current or a previous secret key)."""
    # key_id is outside the signed content, but pointing it at another known key only makes the check fail.
    key = _known_keys(settings).get(row.key_id)
    return key is not None and hmac.compare_digest(_mac(key, row), row.signature)


def enter_input(session: Session, settings: Settings, *, name: str, value: Decimal, entered_by: str,
                period: str = "*", department: str = "", note: str | None = None) -> ManualInput:
    """Record a signed value; a correction is a newer input, the older one stays as history."""
    if name not in MANUAL_NAMES:
        raise ValidationFailed(f"{name!r} is not a manual input; known: {', '.join(MANUAL_NAMES)}",
                               errors=[{"field": "body.name", "rule": "unknown_input",
                                        "message": f"choose one of {', '.join(MANUAL_NAMES)}"}])
    if value < 0:
        raise ValidationFailed("a count cannot be negative",
                               errors=[{"field": "body.value", "rule": "negative", "message": "must be >= 0"}])
    if not entered_by.strip():
        raise ValidationFailed("who entered the value must be named",
                               errors=[{"field": "body.entered_by", "rule": "required", "message": "required"}])
    now = utcnow().replace(microsecond=0)  # what both back ends store exactly, so the signature re-verifies
    row = ManualInput(name=name, period=period, department=department, value=value, note=note,
                      entered_by=entered_by, entered_at=now, key_id=key_id(settings), signature="")
    row.signature = sign(row, settings)
    session.add(row)
    session.flush()
    return row


def list_inputs(session: Session, name: str | None = None) -> list[ManualInput]:
    query = select(ManualInput).order_by(ManualInput.entered_at.desc(), ManualInput.id.desc())
    if name:
        query = query.where(ManualInput.name == name)
    return list(session.scalars(query))


def chosen_input(session: Session, settings: Settings, name: str, scope: Scope) -> ManualInput | None:
    """The newest input for exactly this period, else the newest standing ("*") one; its signature must hold."""
    department = scope.department or ""
    for period in (scope.period_code, "*"):
        row = session.scalars(
            select(ManualInput).where(ManualInput.name == name, ManualInput.period == period,
                                      ManualInput.department == department)
            .order_by(ManualInput.entered_at.desc(), ManualInput.id.desc()).limit(1)).first()
        if row is not None:
            if not signing_key_known(row, settings):
                raise InputSignatureInvalid(
                    f"manual input {row.id} ({name} = {row.value}, entered by {row.entered_by}) is signed under key "
                    f"{row.key_id}, which is neither CPIP_SECRET_KEY nor listed in CPIP_PREVIOUS_SECRET_KEYS: list "
                    f"that key again, or enter the value again", input_id=row.id)
            if not verify(row, settings):
                raise InputSignatureInvalid(
                    f"manual input {row.id} ({name} = {row.value}, entered by {row.entered_by}) does not match its "
                    f"signature: it was changed outside the platform; enter the value again", input_id=row.id)
            return row
    return None
