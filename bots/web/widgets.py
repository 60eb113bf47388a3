"""A creator's web widget: a channel binding of the web channel whose config holds the look (name,
avatar, colour, greeting, position) and the allowed origins, and whose sealed secrets hold the
widget secret that signs `identify` calls on the embedder's server.

Origins are compared exactly (scheme, host and port, as the browser sends them in `Origin`);
there are no wildcards, so a widget key copied onto another site does nothing there.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from engine.channel_bindings import BindingInfo, find_binding
from engine.db import Database
from engine.models import Creator
from engine.persona import fill
from engine.persona import greeting as creator_greeting
from engine.secrets import SecretBox
from engine.types import Channel

WIDGET_SECRET = "widget_secret"  # noqa: S105 (the key under which the secret is sealed)
POSITIONS = ("right", "left")
DEFAULT_COLOR = "#2563eb"
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_NAME = 100
MAX_GREETING = 1000


class WidgetSettingsError(ValueError):
    """A widget setting that cannot be used (shown to the person adding the widget)."""


def normalize_origin(value: str) -> str:
    """`https://Example.com:443/` → `https://example.com`: the exact form browsers send."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WidgetSettingsError(f"{value!r} is not an origin like https://example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise WidgetSettingsError(f"{value!r}: an origin has no path, query or user")
    if "*" in value:
        raise WidgetSettingsError(f"{value!r}: wildcards are not allowed; list each origin")
    try:
        port = parts.port
    except ValueError:
        raise WidgetSettingsError(f"{value!r} has an invalid port") from None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def widget_config(
    *,
    origins: Iterable[str],
    name: str | None = None,
    avatar: str | None = None,
    color: str | None = None,
    greeting: str | None = None,
    position: str = "right",
) -> dict[str, Any]:
    """The binding config of a widget, validated. Unset name and greeting follow the creator's
    bot name and greeting, so they stay current when the creator changes them."""
    allowed = sorted({normalize_origin(o) for o in origins})
    if not allowed:
        raise WidgetSettingsError("a widget needs at least one allowed origin (--origin)")
    if color is not None and not _COLOR.fullmatch(color):
        raise WidgetSettingsError(f"colour {color!r} must look like #2563eb")
    if position not in POSITIONS:
        raise WidgetSettingsError(f"position must be one of {', '.join(POSITIONS)}")
    if avatar is not None and urlsplit(avatar).scheme not in ("http", "https"):
        raise WidgetSettingsError("the avatar must be an https:// (or http://) URL")
    if name is not None and not 0 < len(name.strip()) <= MAX_NAME:
        raise WidgetSettingsError(f"the name must have 1 to {MAX_NAME} characters")
    if greeting is not None and len(greeting) > MAX_GREETING:
        raise WidgetSettingsError(f"the greeting must have at most {MAX_GREETING} characters")
    return {
        "origins": allowed,
        "name": name.strip() if name else None,
        "avatar": avatar,
        "color": color.lower() if color else None,
        "greeting": greeting,
        "position": position,
    }


def new_widget_secret() -> str:
    return secrets.token_urlsafe(32)


def identify_hash(secret: str, user_id: str) -> str:
    """What the embedder's server computes for `coachbot.identify`: hex HMAC-SHA256 of the id."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Widget:
    """A widget as the routes need it: its binding, look and origins, secret opened."""

    binding_id: int
    creator_id: int
    public_key: str
    name: str
    avatar: str | None
    color: str
    greeting: str
    position: str
    origins: frozenset[str]
    secret: str  # empty when unreadable: identify is then refused

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin in self.origins

    def look(self) -> dict[str, Any]:
        """What widget.js shows (public: it is served to any allowed page)."""
        return {
            "name": self.name,
            "avatar": self.avatar,
            "color": self.color,
            "greeting": self.greeting,
            "position": self.position,
        }

    def secret_id(self) -> str:
        """A short fingerprint of the widget secret: tokens of identified visitors carry it, so
        rotating the secret signs them all out."""
        return hashlib.sha256(self.secret.encode()).hexdigest()[:12]


def _widget(info: BindingInfo, creator: Creator) -> Widget:
    config: Mapping[str, Any] = info.config
    greeting = config.get("greeting")
    return Widget(
        binding_id=info.id,
        creator_id=info.creator_id,
        public_key=info.public_key,
        name=str(config.get("name") or creator.bot_name),
        avatar=config.get("avatar") or None,
        color=str(config.get("color") or DEFAULT_COLOR),
        greeting=fill(str(greeting), creator) if greeting else creator_greeting(creator, None),
        position=str(config.get("position") or "right"),
        origins=frozenset(str(o) for o in config.get("origins") or ()),
        secret=info.secrets.get(WIDGET_SECRET, ""),
    )


async def load_widget(db: Database, box: SecretBox, public_key: str) -> Widget | None:
    """The enabled widget with this public key, or None."""
    info = await find_binding(db, box, public_key, Channel.WEB)
    if info is None:
        return None
    async with db.sessions() as session:
        creator = await session.get(Creator, info.creator_id)
    return _widget(info, creator) if creator is not None else None
