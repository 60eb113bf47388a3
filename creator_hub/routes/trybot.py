"""Try your bot: the coach talks to their own bot in the hub, through the real pipeline (the
persona, guardrails, commands, programs and answers from the material), as `coachbot chat` does
in a terminal. The coach is a coachee of the workspace's terminal binding, as `hub:<account id>`
(so `/skipwait` works as it does in the terminal, and they show in Audience like anyone else);
the page polls the transcript, so program messages the scheduler sends appear as they come."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from creator_hub.app import hub
from creator_hub.context import creator_id, signed_in
from creator_hub.render import fragment, page
from creator_hub.routes.common import form, now, redirect
from engine import audience
from engine.bindings import terminal_binding
from engine.models import ChannelBinding, ChannelIdentity, Creator, Message
from engine.types import Channel, Choice, InboundMessage, OutboundMessage

MAX_TEXT = 4000
HISTORY = 100


def tester_id(request: web.Request) -> str:
    return f"hub:{signed_in(request).account.id}"


async def tester_contact(session: AsyncSession, request: web.Request) -> int | None:
    """The coach's own contact on the terminal binding, once they have said something."""
    return await session.scalar(
        select(ChannelIdentity.contact_id)
        .join(ChannelBinding, ChannelBinding.id == ChannelIdentity.binding_id)
        .where(
            ChannelBinding.creator_id == creator_id(request),
            ChannelBinding.channel == Channel.TERMINAL.value,
            ChannelIdentity.external_user_id == tester_id(request),
        )
    )


async def _context(request: web.Request) -> dict[str, Any]:
    async with hub(request).db.sessions() as session:
        contact_id = await tester_contact(session, request)
        messages: list[Message] = []
        if contact_id is not None:
            messages = await audience.transcript(
                session, creator_id(request), contact_id, limit=HISTORY
            )
    offered: tuple[Choice, ...] = ()
    if messages and messages[-1].direction == "out":  # the bot spoke last: its buttons, if any
        offered = OutboundMessage.from_stored(messages[-1].text, messages[-1].payload).choices
    return {"messages": messages, "offered": offered}


async def index(request: web.Request) -> web.Response:
    signed_in(request)
    return page(request, "try.html", active="try", title="Try your bot", **await _context(request))


async def transcript(request: web.Request) -> web.Response:
    return fragment(request, "_try_log.html", **await _context(request))


async def say(request: web.Request) -> web.StreamResponse:
    signed = signed_in(request)
    data = await form(request, limit=MAX_TEXT)
    text = data.get("text", "").strip()
    offered = (await _context(request))["offered"]
    picked = next((c for c in offered if c.payload == data.get("choice")), None)
    if picked is None and text.isdigit() and 1 <= int(text) <= len(offered):
        picked = offered[int(text) - 1]  # "2" picks the second choice, as in the terminal
    if picked is None:
        picked = next((c for c in offered if c.label.casefold() == text.casefold()), None)
    if not text and picked is None:
        raise await redirect(request, "/hub/try", "Type something to say to your bot.")
    services = hub(request)
    async with services.db.transaction() as session:
        creator = await session.get(Creator, creator_id(request))
        assert creator is not None
        binding_id = (await terminal_binding(session, creator, now(request))).id
    inbound = InboundMessage(
        channel=Channel.TERMINAL,
        binding_id=binding_id,
        external_user_id=tester_id(request),
        external_message_id=f"hub-{uuid.uuid4().hex}",
        text=picked.label if picked else text,
        choice_payload=picked.payload if picked else None,
        sender_name=signed.account.name,
        raw={"hub": "try"},
    )
    reply = await services.engine.handle(inbound)
    # The page shows the reply at once: that is its delivery.
    await services.engine.mark_sent_many(
        [(m.message_id, None) for m in reply.messages if m.message_id is not None]
    )
    if request.headers.get("HX-Request"):
        return fragment(request, "_try_chat.html", **await _context(request))
    raise web.HTTPSeeOther("/hub/try")


def register(app: web.Application) -> None:
    app.router.add_get("/try", index)
    app.router.add_get("/try/transcript", transcript)
    app.router.add_post("/try", say)
