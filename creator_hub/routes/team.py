"""Team (members, invitations) and API keys. Owners only, except reading the member list."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from creator_hub import accounts, apikeys
from creator_hub.app import hub
from creator_hub.context import creator_id, require_owner, signed_in
from creator_hub.models import ROLES
from creator_hub.render import page
from creator_hub.routes.common import form, int_param, now, redirect

log = logging.getLogger("coachbot.hub")


async def team_page(request: web.Request, **extra: object) -> web.Response:
    signed = signed_in(request)
    async with hub(request).db.sessions() as session:
        members = await accounts.team(session, creator_id(request))
        keys = await apikeys.list_keys(session, creator_id(request))
    context: dict[str, Any] = {"invite_link": None, "new_key": None, "error": None}
    context.update(extra)
    return page(
        request,
        "team.html",
        active="team",
        title="Team & API",
        members=members,
        keys=keys,
        roles=ROLES,
        owner=signed.role == "owner",
        api_base=hub(request).public_url.rstrip("/") + "/api/v1",
        **context,
    )


async def show(request: web.Request) -> web.Response:
    return await team_page(request)


async def invite(request: web.Request) -> web.Response:
    require_owner(request)
    data = await form(request, limit=400)
    try:
        async with hub(request).db.transaction() as session:
            raw = await accounts.invite(
                session,
                creator_id(request),
                data.get("email", ""),
                data.get("role", ""),
                now(request),
            )
    except accounts.AccountError as exc:
        return await team_page(request, error=str(exc))
    link = hub(request).public_url.rstrip("/") + "/hub/invite/" + raw
    log.info("invitation created", extra={"creator_id": creator_id(request)})
    return await team_page(request, invite_link=link)


async def create_key(request: web.Request) -> web.Response:
    require_owner(request)
    data = await form(request, limit=400)
    try:
        async with hub(request).db.transaction() as session:
            _, raw = await apikeys.create_key(
                session, creator_id(request), data.get("name", ""), now(request)
            )
    except apikeys.ApiKeyError as exc:
        return await team_page(request, error=str(exc))
    return await team_page(request, new_key=raw)


async def revoke_key(request: web.Request) -> web.StreamResponse:
    require_owner(request)
    key_id = int_param(request, "key_id")
    async with hub(request).db.transaction() as session:
        found = await apikeys.revoke_key(session, creator_id(request), key_id)
    if not found:
        raise web.HTTPNotFound()
    raise await redirect(request, "/hub/team", "API key revoked.")


def register(app: web.Application) -> None:
    app.router.add_get("/team", show)
    app.router.add_post("/team/invite", invite)
    app.router.add_post("/team/keys", create_key)
    app.router.add_post("/team/keys/{key_id}/revoke", revoke_key)
