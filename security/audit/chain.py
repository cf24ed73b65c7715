"""The cryptography of the audit log: canonical event bytes, the hash chain, keyed subject hashes, signatures.

    h_0 = 32 zero bytes
    h_n = SHA-256(h_{n-1} ‖ canonical(e_n))
    canonical(e) = sorted-key compact JSON (UTF-8) of CONTENT_FIELDS, `seq` included, `id` not
    checkpoint signature = Ed25519 over checkpoint_message(seq, chain_hash, signed_at, key_id)

Serialisation is orjson's (compact, UTF-8 unescaped, floats as shortest round-trip, times as RFC 3339 with
"+00:00" and microseconds only when non-zero). The JSON-valued columns are stored as canonical text
(`canonical_json`) and enter the event's bytes exactly as stored, so the chain covers the stored bytes.

`id` is left out because it is a storage detail (a restore or a partition move may renumber it); `seq` is the
event's position and is what the chain binds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS = bytes(32)

# Sorted, so a dict built in this order serialises without re-sorting the top level.
CONTENT_FIELDS: tuple[str, ...] = (
    "action", "api", "bytes", "client_id", "department", "detail", "fields", "filters", "grant_id", "ip",
    "latency_ms", "occurred_at", "outcome", "principal", "principal_kind", "purpose", "record_count",
    "request_id", "resource", "roles", "seq", "status_code", "subject_keys",
)
assert list(CONTENT_FIELDS) == sorted(CONTENT_FIELDS)
JSON_FIELDS = frozenset({"fields", "filters", "roles", "subject_keys"})
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_Fragment = orjson.Fragment


def canonical_json(value: Any) -> str:
    """Sorted-key compact JSON: how the JSON-valued columns are stored."""
    return orjson.dumps(value, option=_SORTED).decode()


def canonical_event(values: Sequence[Any]) -> bytes:
    """Canonical bytes of one event from its stored values in CONTENT_FIELDS order.

    occurred_at is an aware UTC datetime; the JSON-valued columns are their stored text. Values past the
    content fields (a row's chain_hash and id) are ignored, so a stored row can be passed as it is.
    """
    if len(values) < len(CONTENT_FIELDS):
        raise ValueError(f"an event has {len(CONTENT_FIELDS)} content fields, got {len(values)} values")
    # Built in CONTENT_FIELDS order, which is sorted: no re-sorting needed. (Hot loop of verify: kept flat.)
    event = dict(zip(CONTENT_FIELDS, values))  # noqa: B905 - longer rows are allowed, see above
    event["fields"] = _Fragment(event["fields"])
    event["filters"] = _Fragment(event["filters"])
    event["roles"] = _Fragment(event["roles"])
    event["subject_keys"] = _Fragment(event["subject_keys"])
    return orjson.dumps(event)


def chain_step(previous: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(previous + canonical).digest()


def normalize_identifier(raw: str) -> str:
    """One spelling per person: ID numbers are compared without spaces, with an upper-case check character."""
    return "".join(raw.split()).upper()


def subject_hmac(key: bytes, raw_identifier: str) -> str:
    """Keyed hash of a personal identifier: the log can be searched by it but never reveals it."""
    return hmac.new(key, normalize_identifier(raw_identifier).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @classmethod
    def from_seed_b64(cls, seed_b64: str) -> SigningKey:
        try:
            seed = base64.b64decode(seed_b64, validate=True)
        except ValueError as exc:
            raise ValueError("CPIP_AUDIT_SIGNING_KEY is not valid base64") from exc
        if len(seed) != 32:
            raise ValueError(f"CPIP_AUDIT_SIGNING_KEY must decode to 32 bytes, not {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public(self) -> VerifyKey:
        return VerifyKey(self.private.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


@dataclass(frozen=True)
class VerifyKey:
    public: Ed25519PublicKey

    @classmethod
    def from_b64(cls, raw_b64: str) -> VerifyKey:
        return cls(Ed25519PublicKey.from_public_bytes(base64.b64decode(raw_b64, validate=True)))

    @property
    def raw(self) -> bytes:
        return self.public.public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def b64(self) -> str:
        return base64.b64encode(self.raw).decode()

    @property
    def key_id(self) -> str:
        """Names the key in each checkpoint, so verification can pick it after a key rotation."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def verify(self, signature_b64: str, message: bytes) -> bool:
        try:
            self.public.verify(base64.b64decode(signature_b64, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True


def checkpoint_message(seq: int, chain_hash: str, signed_at: datetime, key_id: str) -> bytes:
    body = {"chain_hash": chain_hash, "key_id": key_id, "seq": seq, "signed_at": signed_at,
            "type": "cpip-audit-checkpoint/1"}
    return orjson.dumps(body, option=_SORTED)
