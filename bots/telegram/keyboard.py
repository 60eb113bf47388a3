"""Choices as inline keyboards. Telegram allows 1-64 bytes of callback_data per button; a longer
payload (a program step id plus a value can be long) is sent as "#" + a digest of it and mapped
back against the choices we offered to that chat recently."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from engine.types import Choice

CALLBACK_DATA_LIMIT = 64
DIGEST_MARK = "#"


def digest(payload: str) -> str:
    raw = hashlib.sha256(payload.encode()).digest()
    return DIGEST_MARK + base64.urlsafe_b64encode(raw).decode().rstrip("=")[:42]


def callback_data(payload: str) -> str:
    fits = 0 < len(payload.encode()) <= CALLBACK_DATA_LIMIT
    if fits and not payload.startswith(DIGEST_MARK):
        return payload
    return digest(payload)


def is_digest(data: str) -> bool:
    return data.startswith(DIGEST_MARK)


def resolve(data: str, offered: Iterable[Choice]) -> Choice | None:
    """The offered choice a digest stands for, if any."""
    return next((c for c in offered if digest(c.payload) == data), None)


def inline_keyboard(choices: Sequence[Choice]) -> InlineKeyboardMarkup:
    """One button per row: labels stay readable on a phone."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(c.label, callback_data=callback_data(c.payload))] for c in choices]
    )
