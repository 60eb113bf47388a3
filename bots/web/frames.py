"""The widget's wire format: JSON objects with a `type`, the same over the WebSocket and (for
`send` and `read`) the HTTP fallback.

Browser → server:
    {"type": "hello", "token": T, "locale": "en-GB"}        first frame of a socket
    {"type": "send", "id": CID, "text": "..."}              CID: the client's id for the message
    {"type": "send", "id": CID, "choice": PAYLOAD}          a choice button was pressed
    {"type": "read", "up_to": MESSAGE_ID}                   the visitor saw messages up to this
    {"type": "ping"}
Server → browser:
    ready {visitor, unread, messages, more}, message {message}, ack {id, status}, typing {on},
    stream {turn, text}, read {up_to}, error {code, message[, id]}, pong.

A message is `{"id", "dir": "in"|"out", "text" (Markdown subset), "choices": [{label, payload}],
"media": [{kind, url, caption}], "at", "cid"}`; widget.js renders its text into DOM nodes.

Parsing never raises anything but `FrameError`, whatever the input: the fuzz tests hold it to that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_TEXT_BYTES = 4096
MAX_FRAME_BYTES = 16 * 1024  # a send frame with 4 KB of text escaped as \uXXXX still fits
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_LOCALE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,3}")
MAX_ID = 2**63 - 1


class FrameError(ValueError):
    """A frame the server cannot act on; `code` is what the browser gets in the error frame."""

    def __init__(self, code: str, message: str, client_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.client_id = client_id

    def frame(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "error", "code": self.code, "message": str(self)}
        if self.client_id is not None:
            data["id"] = self.client_id
        return data


@dataclass(frozen=True)
class Hello:
    token: str | None
    locale: str | None = None


@dataclass(frozen=True)
class Send:
    client_id: str
    text: str | None = None
    choice: str | None = None


@dataclass(frozen=True)
class Read:
    up_to: int


@dataclass(frozen=True)
class Ping:
    pass


Frame = Hello | Send | Read | Ping


def decode(raw: str | bytes) -> Mapping[str, Any]:
    """A JSON object, or FrameError."""
    if len(raw) > MAX_FRAME_BYTES:
        raise FrameError("too_large", f"frames are limited to {MAX_FRAME_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        raise FrameError("bad_frame", "a frame is a JSON object") from None
    if not isinstance(data, dict):
        raise FrameError("bad_frame", "a frame is a JSON object")
    return data


def parse_frame(raw: str | bytes) -> Frame:
    data = decode(raw)
    kind = data.get("type")
    if kind == "send":
        return parse_send(data)
    if kind == "read":
        return parse_read(data)
    if kind == "hello":
        token = data.get("token")
        locale = data.get("locale")
        return Hello(
            token if isinstance(token, str) else None,
            locale if isinstance(locale, str) and _LOCALE.fullmatch(locale) else None,
        )
    if kind == "ping":
        return Ping()
    raise FrameError("bad_frame", "unknown frame type")


def parse_send(data: Mapping[str, Any]) -> Send:
    client_id = data.get("id")
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise FrameError("bad_id", "a message needs an id of 8-64 letters, digits, - or _")
    text, choice = data.get("text"), data.get("choice")
    if choice is not None:
        if not isinstance(choice, str) or not choice.strip():
            raise FrameError("bad_frame", "a choice is a non-empty string", client_id)
        _check_size(choice, client_id)
        return Send(client_id, choice=choice)
    if not isinstance(text, str):
        raise FrameError("bad_frame", "a message needs a text or a choice", client_id)
    _check_size(text, client_id)
    if not text.strip():
        raise FrameError("empty", "the message is empty", client_id)
    return Send(client_id, text=text)


def _check_size(text: str, client_id: str) -> None:
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate from a JSON \ud800 escape
        raise FrameError("bad_frame", "the text is not valid Unicode", client_id) from None
    if size > MAX_TEXT_BYTES:
        limit = f"messages are limited to {MAX_TEXT_BYTES} bytes; this one has {size}"
        raise FrameError("too_long", limit, client_id)


def parse_read(data: Mapping[str, Any]) -> Read:
    up_to = data.get("up_to")
    if isinstance(up_to, bool) or not isinstance(up_to, int) or not 0 <= up_to <= MAX_ID:
        raise FrameError("bad_frame", "read needs up_to, a message id")
    return Read(up_to)


def message(
    message_id: int | None,
    direction: str,
    text: str,
    payload: Mapping[str, Any] | None,
    at: datetime,
    client_id: str | None = None,
) -> dict[str, Any]:
    """A stored or outgoing message as widget.js shows it."""
    payload = payload or {}
    data: dict[str, Any] = {
        "id": message_id,
        "dir": direction,
        "text": text,
        "choices": list(payload.get("choices", ())) if direction == "out" else [],
        "media": list(payload.get("media", ())) if direction == "out" else [],
        "at": at.isoformat(),
    }
    if client_id is not None:
        data["cid"] = client_id
    return data
