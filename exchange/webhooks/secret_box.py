"""Webhook signing secrets at rest: encrypted with Fernet (AES-128-CBC + HMAC-SHA256), under a key derived
from `CPIP_SECRET_KEY` with HKDF-SHA256 and a fixed info string, so a copy of the database alone does not let
anyone forge the platform's webhook signatures.

Each row keeps the id of the key that encrypted it (derived from the same secret with another info string, so
the id reveals nothing about the key). New secrets are sealed under `CPIP_SECRET_KEY`; rows under a key listed in
`CPIP_PREVIOUS_SECRET_KEYS` still open, so a rotation does not stop deliveries, and `cpip exchange
reencrypt-webhook-secrets` moves them to the current key so that the previous one is no longer needed. A row
under a key that is not listed at all is reported as such instead of failing as if corrupted.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cpip.settings import Settings

_KEY_INFO = b"cpip/exchange/webhook-signing-secrets/fernet/v1"
_KEY_ID_INFO = b"cpip/exchange/webhook-signing-secrets/key-id/v1"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the known keys (an unknown key id, or altered ciphertext)."""


def _derive(secret_key: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key.encode())


def _key_id(secret_key: str) -> str:
    return "k1-" + _derive(secret_key, _KEY_ID_INFO)[:6].hex()


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(secret_key, _KEY_INFO)))


@dataclass(frozen=True)
class SecretBox:
    """Seals under the current key (`key_id`); opens under it or any previous key."""

    key_id: str
    fernet: Fernet
    previous: tuple[tuple[str, Fernet], ...] = ()

    def seal(self, secret: str) -> str:
        return self.fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, ciphertext: str, key_id: str) -> str:
        fernet = self.fernet if key_id == self.key_id else dict(self.previous).get(key_id)
        if fernet is None:
            raise SecretUnreadable(f"the signing secret was encrypted under key {key_id}, which is neither the "
                                   f"current key {self.key_id} nor a previous one (CPIP_SECRET_KEY changed without "
                                   f"listing the old value in CPIP_PREVIOUS_SECRET_KEYS?)")
        try:
            return fernet.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise SecretUnreadable(f"the signing secret under key {key_id} does not decrypt (altered?)") from exc


@lru_cache(maxsize=4)
def _box(secret_keys: tuple[str, ...]) -> SecretBox:
    current, *previous = secret_keys
    return SecretBox(_key_id(current), _fernet(current), tuple((_key_id(k), _fernet(k)) for k in previous))


def secret_box(settings: Settings) -> SecretBox:
    return _box(settings.verification_secret_keys)
