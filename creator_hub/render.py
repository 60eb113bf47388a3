"""Templates (jinja2, autoescaped) and the small helpers every page uses."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from creator_hub.context import FLASH, HUB_SIGNED, anon_csrf
from creator_hub.sessions import Signed
from engine.markup import to_html

NAV = [
    ("overview", "Overview", "/hub/"),
    ("knowledge", "Knowledge", "/hub/knowledge"),
    ("try", "Try your bot", "/hub/try"),
    ("programs", "Programs", "/hub/programs"),
    ("channels", "Channels", "/hub/channels"),
    ("audience", "Audience", "/hub/audience"),
    ("analytics", "Analytics", "/hub/analytics"),
    ("broadcasts", "Broadcasts", "/hub/broadcasts"),
    ("settings", "Persona & policies", "/hub/settings"),
    ("team", "Team & API", "/hub/team"),
]


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def markup(text: str | None) -> Markup:
    """What the bot (or the coach) wrote, rendered as the channels render it: the Markdown
    subset of engine.markup, every piece of text escaped."""
    return Markup(to_html(text or ""))  # noqa: S704 (to_html escapes all text and attributes)


def stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("creator_hub", "templates"),
        autoescape=True,  # every page: nothing a coachee or a document says becomes markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ago"] = ago
    env.filters["stamp"] = stamp
    env.filters["markup"] = markup
    return env


# Pages that use the narrow sign-in layout whether or not someone is signed in.
AUTH_TEMPLATES = frozenset(
    {"login.html", "signup.html", "reset_request.html", "reset.html", "invite.html"}
)


def csrf_token(request: web.Request) -> str:
    signed: Signed | None = request.get(HUB_SIGNED)
    return signed.session.csrf_token if signed is not None else anon_csrf(request)


def page(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    signed: Signed | None = request.get(HUB_SIGNED)
    values: dict[str, Any] = {
        "nav": NAV,
        "active": context.pop("active", ""),
        "signed": signed,
        "creator": signed.creator if signed else None,
        "csrf": csrf_token(request),
        "flash": request.get(FLASH),
        "error": None,
        "auth_layout": template in AUTH_TEMPLATES,
        **context,
    }
    text = environment().get_template(template).render(values)
    return web.Response(text=text, content_type="text/html", status=status)


def fragment(request: web.Request, template: str, **context: Any) -> web.Response:
    """A partial for htmx swaps (no layout)."""
    return page(request, template, **context)
