"""Sign up, sign in, sign out, password reset, invitations and the workspace switcher.

Reset links are printed to the log (there is no mail server in the embedded mode); an operator
or the coach at the terminal passes it on. The page never says whether an address has an account.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from creator_hub import accounts, sessions
from creator_hub.app import clear_session_cookie, hub, public, set_session_cookie
from creator_hub.context import HUB_SIGNED, SESSION_COOKIE
from creator_hub.models import Account
from creator_hub.render import page
from creator_hub.routes.common import form, now

log = logging.getLogger("coachbot.hub")


def _slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]
    return slug or "coach"


def _safe_next(target: str | None) -> str:
    # Only paths inside the hub: never an open redirect to another site.
    if target and target.startswith("/hub/") and not target.startswith("//"):
        return target
    return "/hub/"


async def _signed_in_response(
    request: web.Request, account: Account, creator_id: int | None, target: str
) -> web.HTTPSeeOther:
    services = hub(request)
    async with services.db.transaction() as session:
        if creator_id is None:
            member = await accounts.memberships(session, account.id)
            creator_id = member[0][1].id if member else None
        raw = await sessions.start(session, account, creator_id, now(request))
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # a new session on every sign-in: never keep one that existed before
        async with services.db.transaction() as session:
            await sessions.end(session, old)
    response = web.HTTPSeeOther(target)
    set_session_cookie(response, raw, request)
    return response


@public
async def signup_form(request: web.Request) -> web.Response:
    return page(request, "signup.html", values={}, title="Create your coaching workspace")


@public
async def signup(request: web.Request) -> web.StreamResponse:
    data = await form(request, limit=500)
    services = hub(request)
    slug = data.get("slug") or _slugify(data.get("workspace") or data.get("name", ""))
    try:
        async with services.db.transaction() as session:
            account, creator = await accounts.sign_up(
                session,
                name=data.get("name", ""),
                email=data.get("email", ""),
                password=data.get("password", ""),
                workspace=data.get("workspace", ""),
                slug=slug,
                timezone=data.get("timezone", "UTC") or "UTC",
                now=now(request),
            )
    except accounts.AccountError as exc:
        values = {k: v for k, v in data.items() if k != "password"}
        return page(
            request,
            "signup.html",
            values=values,
            error=str(exc),
            status=400,
            title="Create your coaching workspace",
        )
    log.info("hub sign-up", extra={"account_id": account.id, "creator": creator.slug})
    raise await _signed_in_response(request, account, creator.id, "/hub/?welcome=1")


@public
async def login_form(request: web.Request) -> web.Response:
    return page(
        request, "login.html", email="", next=_safe_next(request.query.get("next")), title="Sign in"
    )


@public
async def login(request: web.Request) -> web.StreamResponse:
    data = await form(request, limit=500)
    target = _safe_next(data.get("next"))
    error: accounts.AccountError | None = None
    async with hub(request).db.transaction() as session:
        try:
            account = await accounts.authenticate(
                session, data.get("email", ""), data.get("password", ""), now(request)
            )
        except accounts.AccountError as exc:
            error = exc  # caught inside: the failure count must commit
    if error is not None:
        status = 429 if isinstance(error, accounts.LockedOut) else 401
        return page(
            request,
            "login.html",
            email=data.get("email", ""),
            next=target,
            error=str(error),
            status=status,
            title="Sign in",
        )
    raise await _signed_in_response(request, account, None, target)


async def logout(request: web.Request) -> web.StreamResponse:
    raw = request.cookies.get(SESSION_COOKIE, "")
    async with hub(request).db.transaction() as session:
        await sessions.end(session, raw)
    response = web.HTTPSeeOther("/hub/login")
    clear_session_cookie(response)
    raise response


@public
async def reset_request_form(request: web.Request) -> web.Response:
    return page(request, "reset_request.html", sent=False, title="Reset your password")


@public
async def reset_request(request: web.Request) -> web.Response:
    data = await form(request, limit=500)
    services = hub(request)
    async with services.db.transaction() as session:
        raw = await accounts.request_reset(session, data.get("email", ""), now(request))
    if raw is not None:
        link = services.public_url.rstrip("/") + "/hub/reset/" + raw
        # Embedded mode has no mail server: the link goes to the log for the operator.
        log.warning("password reset link (valid 1 hour): %s", link)
    return page(request, "reset_request.html", sent=True, title="Reset your password")


@public
async def reset_form(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    async with hub(request).db.transaction() as session:
        try:
            await accounts.check_reset(session, token, now(request))
        except accounts.AccountError as exc:
            return page(request, "message.html", title="Link expired", message=str(exc), status=400)
    return page(request, "reset.html", token=token, title="Choose a new password")


@public
async def reset(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    data = await form(request, limit=500)
    try:
        async with hub(request).db.transaction() as session:
            account = await accounts.reset_password(
                session, token, data.get("password", ""), now(request)
            )
    except accounts.AccountError as exc:
        return page(
            request,
            "reset.html",
            token=token,
            error=str(exc),
            status=400,
            title="Choose a new password",
        )
    raise await _signed_in_response(request, account, None, "/hub/")


@public
async def invite_form(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    async with hub(request).db.transaction() as session:
        try:
            invitation = await accounts.check_invite(session, token, now(request))
        except accounts.AccountError as exc:
            return page(request, "message.html", title="Invitation", message=str(exc), status=400)
    return page(
        request, "invite.html", token=token, invitation=invitation, title="Join a workspace"
    )


@public
async def invite_accept(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    data = await form(request, limit=500)
    signed = request.get(HUB_SIGNED)
    try:
        async with hub(request).db.transaction() as session:
            current = signed.account if signed is not None else None
            if current is not None:
                current = await session.get(Account, current.id)
            account, creator_id = await accounts.accept_invite(
                session,
                token,
                now(request),
                account=current,
                name=data.get("name", ""),
                password=data.get("password", ""),
            )
            invitation_creator = creator_id
    except accounts.AccountError as exc:
        async with hub(request).db.transaction() as session:
            try:
                invitation = await accounts.check_invite(session, token, now(request))
            except accounts.AccountError:
                return page(
                    request, "message.html", title="Invitation", message=str(exc), status=400
                )
        return page(
            request,
            "invite.html",
            token=token,
            invitation=invitation,
            error=str(exc),
            status=400,
            title="Join a workspace",
        )
    raise await _signed_in_response(request, account, invitation_creator, "/hub/")


async def workspaces(request: web.Request) -> web.Response:
    signed = request[HUB_SIGNED]
    async with hub(request).db.sessions() as session:
        member = await accounts.memberships(session, signed.account.id)
    return page(request, "workspaces.html", memberships=member, title="Your workspaces")


async def switch(request: web.Request) -> web.StreamResponse:
    signed = request[HUB_SIGNED]
    data = await form(request)
    target = data.get("creator_id", "")
    if not target.isdigit():
        raise web.HTTPBadRequest(text="choose a workspace")
    async with hub(request).db.transaction() as session:
        if not await sessions.switch(session, signed, int(target)):
            raise web.HTTPNotFound(text="no such workspace")
    raise web.HTTPSeeOther("/hub/")


def register(app: web.Application) -> None:
    app.router.add_get("/signup", signup_form)
    app.router.add_post("/signup", signup)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/reset", reset_request_form)
    app.router.add_post("/reset", reset_request)
    app.router.add_get("/reset/{token}", reset_form)
    app.router.add_post("/reset/{token}", reset)
    app.router.add_get("/invite/{token}", invite_form)
    app.router.add_post("/invite/{token}", invite_accept)
    app.router.add_get("/workspaces", workspaces)
    app.router.add_post("/workspaces", switch)
