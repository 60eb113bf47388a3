"""Request-scoped keys and accessors shared by the middlewares and the routes."""

from __future__ import annotations

import secrets

from aiohttp import web

from creator_hub.sessions import Signed

HUB_SIGNED = web.RequestKey("hub_signed", Signed)  # the Signed of a signed-in request
NEW_ANON_CSRF = web.RequestKey("hub_new_anon_csrf", str)
FLASH = web.RequestKey("hub_flash", str)
SESSION_COOKIE = "coachbot_hub"
ANON_CSRF_COOKIE = "coachbot_hub_csrf"


def anon_csrf(request: web.Request) -> str:
    """The double-submit token of a signed-out browser (sign-in, sign-up and reset forms):
    the cookie's value, or a new one the response will set."""
    token = request.cookies.get(ANON_CSRF_COOKIE) or request.get(NEW_ANON_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request[NEW_ANON_CSRF] = token
    return str(token)


def signed_in(request: web.Request) -> Signed:
    signed: Signed | None = request.get(HUB_SIGNED)
    if signed is None or signed.creator is None:
        raise web.HTTPFound("/hub/login")
    return signed


def creator_id(request: web.Request) -> int:
    creator = signed_in(request).creator
    assert creator is not None
    return creator.id


def require_owner(request: web.Request) -> Signed:
    signed = signed_in(request)
    if signed.role != "owner":
        raise web.HTTPForbidden(text="Only the workspace's owner can do this.")
    return signed
