"""Channel secrets at rest: bot tokens, auth tokens and webhook secrets are stored encrypted with
a key derived from the app's secret key, and shown masked.

Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) from `cryptography`; its key comes from the
secret key through HKDF-SHA256 with a purpose label, so the same secret key can sign other things
without the two uses ever sharing key material.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PURPOSE = b"coachbot channel secrets v1"
MASK = "********"


class SecretsUnreadable(ValueError):
    """Stored secrets that this key cannot decrypt: the secret key changed, or the data was
    tampered with. The binding has to be added again."""


class SecretBox:
    """Encrypts and decrypts a binding's secrets (a flat str → str mapping)."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("SecretBox needs a non-empty secret key")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secrets: Mapping[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(dict(secrets), sort_keys=True).encode()).decode()

    def open(self, sealed: str | None) -> dict[str, str]:
        if not sealed:
            return {}
        try:
            data = json.loads(self._fernet.decrypt(sealed.encode()))
        except (InvalidToken, ValueError):
            raise SecretsUnreadable(
                "the channel's secrets cannot be decrypted with this secret key"
            ) from None
        return {str(k): str(v) for k, v in data.items()}


def mask(value: str, keep: int = 4) -> str:
    """`123456:ABC…xyz` → `********wxyz`: enough to tell two tokens apart, not to use one."""
    if len(value) <= keep * 3:
        return MASK
    return MASK + value[-keep:]
