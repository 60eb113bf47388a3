"""The hub's aiohttp application, mounted at /hub by config.web, and its middlewares:

- security headers on every response: a strict Content-Security-Policy (scripts, styles and
  images from this origin only; no inline script or style, no framing), nosniff, no referrer
  leaks, no caching of pages;
- the session: the cookie's token is looked up server-side; pages need a signed-in account
  with a workspace unless the handler is marked `public`;
- CSRF on every state-changing request: the synchronizer token of the session (or, signed out,
  a double-submit cookie) must come back in the form field `csrf` or the `X-CSRF-Token` header
  (htmx and fetch send the header), and a browser's Origin must be ours.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from creator_hub.context import ANON_CSRF_COOKIE, FLASH, HUB_SIGNED, NEW_ANON_CSRF, SESSION_COOKIE
from creator_hub.services import HubServices
from creator_hub.sessions import load

log = logging.getLogger("coachbot.hub")

HUB = web.AppKey("hub", HubServices)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'; object-src 'none'"
)
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def public(handler: H) -> H:
    """A page that works signed out (sign-in, sign-up, reset, invitations, static files)."""
    handler.hub_public = True  # type: ignore[attr-defined]
    return handler


def hub(request: web.Request) -> HubServices:
    return request.config_dict[HUB]


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and not request.headers.get("HX-Request"):
            raise _error_page(request, exc) from None
        _secure(exc)
        raise
    _secure(response)
    token = request.get(NEW_ANON_CSRF)
    if token:
        response.set_cookie(
            ANON_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=is_https(request),
            path="/hub",
        )
    return response


ERROR_TITLES = {403: "Not allowed", 404: "Not found", 503: "Not available right now"}


def _error_page(request: web.Request, exc: web.HTTPException) -> web.HTTPException:
    """The hub's layout around an error, instead of a bare text page."""
    from creator_hub.render import page

    text = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else ""
    rendered = page(
        request,
        "message.html",
        status=exc.status,
        title=ERROR_TITLES.get(exc.status, "Something went wrong"),
        message=text or "There is nothing here, or not for this workspace.",
    )
    kept = {
        k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")
    }
    error = web.HTTPException(text=rendered.text, content_type="text/html", headers=kept)
    error.set_status(exc.status)
    _secure(error)
    return error


def _secure(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")


def _same_origin(request: web.Request, services: HubServices) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not from a browser page (browsers send Origin on every POST)
    ours = {request.url.origin().human_repr().rstrip("/")}
    public_url = urlsplit(services.public_url)
    ours.add(f"{public_url.scheme}://{public_url.netloc}")
    forwarded = request.headers.get("X-Forwarded-Proto")
    if forwarded:
        ours.add(f"{forwarded}://{request.host}")
    return origin in ours


async def _submitted_token(request: web.Request) -> str:
    token = request.headers.get("X-CSRF-Token")
    if token:
        return token
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()  # cached: the handler reads the same form again
        value = form.get("csrf")
        return value if isinstance(value, str) else ""
    return request.query.get("csrf", "")


@web.middleware
async def session_and_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    services = hub(request)
    raw = request.cookies.get(SESSION_COOKIE, "")
    signed = None
    if raw:
        async with services.db.transaction() as session:
            signed = await load(session, raw, services.clock.now())
            if signed is not None and signed.session.flash:
                request[FLASH] = signed.session.flash
                if request.method == "GET" and not request.headers.get("HX-Request"):
                    signed.session.flash = None
    if signed is not None:
        request[HUB_SIGNED] = signed
    if request.method not in SAFE_METHODS:
        expected = signed.session.csrf_token if signed else request.cookies.get(ANON_CSRF_COOKIE)
        submitted = await _submitted_token(request)
        if (
            not expected
            or not hmac.compare_digest(expected.encode(), submitted.encode())
            or not _same_origin(request, services)
        ):
            log.warning("CSRF check failed", extra={"path": request.path})
            raise web.HTTPForbidden(
                text="This form has expired or did not come from the hub. Reload the page and "
                "try again."
            )
    if not getattr(handler, "hub_public", False):
        if signed is None:
            if request.headers.get("HX-Request"):
                return web.Response(status=401, headers={"HX-Redirect": "/hub/login"})
            raise web.HTTPFound("/hub/login?next=" + request.path)
        if signed.creator is None and request.path not in ("/hub/workspaces", "/hub/logout"):
            raise web.HTTPFound("/hub/workspaces")
    return await handler(request)


_STATIC: dict[str, bytes] = {}


@public
async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
        raise web.HTTPNotFound()
    if name not in _STATIC:
        try:
            _STATIC[name] = (resources.files("creator_hub") / "static" / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise web.HTTPNotFound() from None
    return web.Response(
        body=_STATIC[name],
        content_type=STATIC_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=300"},
    )


def create_hub(services: HubServices) -> web.Application:
    from creator_hub.routes import add_routes

    app = web.Application(middlewares=[headers, session_and_csrf])
    app[HUB] = services
    app.router.add_get("/static/{name}", static)
    add_routes(app)
    return app


def is_https(request: web.Request) -> bool:
    """Served over https: directly, behind a TLS proxy, or by configuration."""
    return (
        request.secure
        or request.headers.get("X-Forwarded-Proto") == "https"
        or hub(request).secure_cookies
    )


def set_session_cookie(response: web.StreamResponse, raw: str, request: web.Request) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        httponly=True,
        samesite="Lax",
        secure=is_https(request),
        path="/",
        max_age=7 * 86400,
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
