"""Visitor tokens: who a widget visitor is, signed by the server and kept by the browser in
localStorage. Stateless: a new visitor costs nothing until they write.

Format: `v1.<payload>.<mac>`, base64url without padding. The payload is JSON with the widget's
public key (`w`), the visitor id (`v`), the issue time (`t`) and, for a visitor joined to the
embedder's user by `identify`, a fingerprint of the widget secret (`k`). The MAC is HMAC-SHA256
under a key derived by HKDF from the app's secret key with its own purpose label, so the token
key shares nothing with the key that seals channel secrets.

A token names one widget: presented to another widget it is refused. Tokens never travel in a
URL (they would end up in access logs and Referer headers): the browser sends them in the first
WebSocket frame or in the Authorization header.

Visitor ids: `v:<random>` for an anonymous visitor, `u:<embedder's user id>` once identified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PURPOSE = b"coachbot widget visitor tokens v1"
VERSION = "v1"
MAX_TOKEN = 1024
MAX_USER_ID = 128


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_visitor_id() -> str:
    return "v:" + secrets.token_urlsafe(16)


def identified_visitor_id(user_id: str) -> str:
    return "u:" + user_id


def valid_user_id(user_id: object) -> bool:
    """An embedder's user id: 1–128 printable characters (no control characters)."""
    return (
        isinstance(user_id, str)
        and 0 < len(user_id) <= MAX_USER_ID
        and user_id.isprintable()
        and user_id.strip() == user_id
    )


@dataclass(frozen=True)
class Visitor:
    id: str
    secret_id: str | None = None  # set for identified visitors

    @property
    def identified(self) -> bool:
        return self.id.startswith("u:")


class VisitorTokens:
    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("VisitorTokens needs a non-empty secret key")
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
            secret_key.encode()
        )

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, f"{VERSION}.{body}".encode(), hashlib.sha256).digest())

    def issue(self, widget_key: str, visitor: Visitor, now: float | None = None) -> str:
        payload: dict[str, object] = {
            "w": widget_key,
            "v": visitor.id,
            "t": int(now or time.time()),
        }
        if visitor.secret_id is not None:
            payload["k"] = visitor.secret_id
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{VERSION}.{body}.{self._mac(body)}"

    def verify(self, token: object, widget_key: str) -> Visitor | None:
        """The visitor the token names for this widget, or None (forged, altered, malformed,
        or made for another widget)."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN:
            return None
        version, _, rest = token.partition(".")
        body, _, mac = rest.partition(".")
        if version != VERSION or not body or not mac:
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(payload, dict) or payload.get("w") != widget_key:
            return None
        visitor_id, secret_id = payload.get("v"), payload.get("k")
        if not isinstance(visitor_id, str) or visitor_id[:2] not in ("v:", "u:"):
            return None
        if secret_id is not None and not isinstance(secret_id, str):
            return None
        return Visitor(visitor_id, secret_id)
