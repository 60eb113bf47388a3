"""The engine's public API. Other packages import from here (or from the stdlib-only
`engine.types`); names load lazily so that importing the package costs nothing until used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Answerer": "engine.answering",
    "Attachment": "engine.types",
    "Channel": "engine.types",
    "Choice": "engine.types",
    "Clock": "engine.clock",
    "Command": "engine.commands",
    "Database": "engine.db",
    "Engine": "engine.pipeline",
    "InboundMessage": "engine.types",
    "ManualClock": "engine.clock",
    "Media": "engine.types",
    "OutboundMessage": "engine.types",
    "Reply": "engine.types",
    "SystemClock": "engine.clock",
    "Turn": "engine.routing",
    "UnknownBindingError": "engine.pipeline",
}

__all__ = [
    "Answerer",
    "Attachment",
    "Channel",
    "Choice",
    "Clock",
    "Command",
    "Database",
    "Engine",
    "InboundMessage",
    "ManualClock",
    "Media",
    "OutboundMessage",
    "Reply",
    "SystemClock",
    "Turn",
    "UnknownBindingError",
]

if TYPE_CHECKING:
    from engine.answering import Answerer
    from engine.clock import Clock, ManualClock, SystemClock
    from engine.commands import Command
    from engine.db import Database
    from engine.pipeline import Engine, UnknownBindingError
    from engine.routing import Turn
    from engine.types import (
        Attachment,
        Channel,
        Choice,
        InboundMessage,
        Media,
        OutboundMessage,
        Reply,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
