"""Webhook signing secrets at rest: encrypted with Fernet (AES-128-CBC + HMAC-SHA256), under a key derived
from `CPIP_SECRET_KEY` with HKDF-SHA256 and a fixed info string, so a copy of the database alone does not let
anyone forge the platform's webhook signatures.

Each row keeps the id of the key that encrypted it (derived from the same secret with another info string, so
the id reveals nothing about the key): after `CPIP_SECRET_KEY` changes, rows under the old key are recognised
as such and reported, instead of failing as if corrupted, and can be re-encrypted while both keys are known.
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
    """A stored secret cannot be decrypted with the current key (another key id, or altered ciphertext)."""


def _derive(secret_key: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key.encode())


@dataclass(frozen=True)
class SecretBox:
    key_id: str
    fernet: Fernet

    def seal(self, secret: str) -> str:
        return self.fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, ciphertext: str, key_id: str) -> str:
        if key_id != self.key_id:
            raise SecretUnreadable(f"the signing secret was encrypted under key {key_id}; the current key is "
                                   f"{self.key_id} (CPIP_SECRET_KEY changed?)")
        try:
            return self.fernet.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise SecretUnreadable(f"the signing secret under key {key_id} does not decrypt (altered?)") from exc


@lru_cache(maxsize=4)
def _box(secret_key: str) -> SecretBox:
    key_id = "k1-" + _derive(secret_key, _KEY_ID_INFO)[:6].hex()
    return SecretBox(key_id, Fernet(base64.urlsafe_b64encode(_derive(secret_key, _KEY_INFO))))


def secret_box(settings: Settings) -> SecretBox:
    return _box(settings.secret_key.get_secret_value())
