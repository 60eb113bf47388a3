"""Helpers the route modules share: reading forms, redirecting with a message, the time."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from creator_hub.app import hub
from creator_hub.context import HUB_SIGNED
from creator_hub.sessions import Signed, flash


async def form(request: web.Request, *, limit: int = 100_000) -> dict[str, str]:
    """The submitted fields as text, each cut to `limit` characters (a form is never binary)."""
    data = await request.post()
    return {k: v[:limit] for k, v in data.items() if isinstance(v, str)}


def now(request: web.Request) -> datetime:
    return hub(request).clock.now()


async def redirect(
    request: web.Request, location: str, message: str | None = None
) -> web.HTTPSeeOther:
    """Post/redirect/get, with an optional one-time message on the next page: `raise await
    redirect(...)`."""
    signed: Signed | None = request.get(HUB_SIGNED)
    if message and signed is not None:
        async with hub(request).db.transaction() as session:
            await flash(session, signed.session.id, message)
    return web.HTTPSeeOther(location)


def int_param(request: web.Request, name: str) -> int:
    """A numeric path parameter; anything else is a plain 404."""
    raw = request.match_info.get(name, "")
    if not raw.isdigit() or len(raw) > 18:
        raise web.HTTPNotFound()
    return int(raw)
