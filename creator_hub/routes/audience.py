"""Audience: contacts (flagged first), one contact's transcript, check-in charts and tags; the
handoff (take over, reply on any channel through the outbox, hand back); proactive messages
that failed, with a retry; GDPR export and erasure (erasure is the owner's)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from creator_hub import charts
from creator_hub.app import hub
from creator_hub.context import creator_id, require_owner, signed_in
from creator_hub.render import page
from creator_hub.routes.common import form, int_param, now, redirect
from engine import audience, gdpr, handoff, outbox
from engine.audience import NotFound

PAGE_SIZE = 50


async def index(request: web.Request) -> web.Response:
    search = request.query.get("q", "")[:100]
    raw_page = request.query.get("page", "1")
    number = int(raw_page) if raw_page.isdigit() and len(raw_page) < 6 else 1
    cid = creator_id(request)
    async with hub(request).db.sessions() as session:
        rows = await audience.list_contacts(
            session,
            cid,
            today=now(request).date(),
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
            search=search or None,
        )
        total = await audience.count_contacts(session, cid)
        flagged = await audience.flagged(session, cid)
        problems = await audience.outbox_problems(session, cid)
    return page(
        request,
        "audience.html",
        active="audience",
        title="Audience",
        contacts=rows,
        total=total,
        flagged=flagged,
        problems=problems,
        q=search,
        number=number,
        more=len(rows) == PAGE_SIZE,
    )


async def _detail_context(request: web.Request, contact_id: int) -> dict[str, Any]:
    cid = creator_id(request)
    try:
        async with hub(request).db.sessions() as session:
            contact = await audience.get_contact(session, cid, contact_id)
            rows = await audience.list_contacts(
                session, cid, today=now(request).date(), limit=1, contact_id=contact_id
            )
            messages = await audience.transcript(session, cid, contact_id)
            series = await audience.checkin_series(session, cid, contact_id)
            conversation = await audience.open_conversation_of(session, cid, contact_id)
            identities = await audience.identities(session, cid, contact_id)
    except NotFound:
        raise web.HTTPNotFound(text="no such contact") from None
    chart_list = [
        (
            metric,
            charts.line(
                f"{metric} check-ins",
                [d.strftime("%d %b") for d, _ in points],
                [v for _, v in points],
            ),
        )
        for metric, points in sorted(series.items())
    ]
    return {
        "contact": contact,
        "row": rows[0],
        "messages": messages,
        "charts": chart_list,
        "handoff": bool(conversation and conversation.handoff_active),
        "flag": conversation.flag_reason if conversation and conversation.flagged_at else None,
        "identities": identities,
    }


async def detail(request: web.Request) -> web.Response:
    context = await _detail_context(request, int_param(request, "contact_id"))
    owner = signed_in(request).role == "owner"
    return page(
        request,
        "contact.html",
        active="audience",
        title=str(context["row"].name),
        owner=owner,
        **context,
    )


async def transcript(request: web.Request) -> web.Response:
    """The chat pane alone: polled while the coach has the conversation open."""
    context = await _detail_context(request, int_param(request, "contact_id"))
    return page(request, "_transcript.html", messages=context["messages"])


async def set_handoff(request: web.Request) -> web.StreamResponse:
    contact_id = int_param(request, "contact_id")
    data = await form(request, limit=20)
    active = data.get("action") == "take"
    try:
        async with hub(request).db.transaction() as session:
            await handoff.set_handoff(
                session, creator_id(request), contact_id, active, now(request)
            )
    except NotFound:
        raise web.HTTPNotFound() from None
    message = (
        "You have the conversation: the bot stays silent until you hand it back."
        if active
        else "Handed back to the bot."
    )
    raise await redirect(request, f"/hub/audience/{contact_id}", message)


async def reply(request: web.Request) -> web.StreamResponse:
    contact_id = int_param(request, "contact_id")
    data = await form(request, limit=handoff.MAX_REPLY + 100)
    raw_identity = data.get("identity_id", "")
    identity_id = int(raw_identity) if raw_identity.isdigit() and len(raw_identity) < 18 else None
    try:
        async with hub(request).db.transaction() as session:
            await handoff.coach_reply(
                session,
                creator_id(request),
                contact_id,
                data.get("text", ""),
                now(request),
                identity_id=identity_id,
            )
    except NotFound:
        raise web.HTTPNotFound() from None
    except handoff.HandoffError as exc:
        raise await redirect(request, f"/hub/audience/{contact_id}", f"Not sent: {exc}") from None
    raise await redirect(
        request, f"/hub/audience/{contact_id}", "Sent to the outbox: it goes out in a moment."
    )


async def tags(request: web.Request) -> web.StreamResponse:
    contact_id = int_param(request, "contact_id")
    data = await form(request, limit=1000)
    try:
        async with hub(request).db.transaction() as session:
            await audience.set_tags(
                session, creator_id(request), contact_id, audience.clean_tags(data.get("tags", ""))
            )
    except NotFound:
        raise web.HTTPNotFound() from None
    raise await redirect(request, f"/hub/audience/{contact_id}", "Tags saved.")


async def export(request: web.Request) -> web.Response:
    contact_id = int_param(request, "contact_id")
    try:
        async with hub(request).db.sessions() as session:
            data = await gdpr.export_contact(session, creator_id(request), contact_id)
    except NotFound:
        raise web.HTTPNotFound() from None
    return web.Response(
        text=json.dumps(data, indent=2, ensure_ascii=False),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'},
    )


async def erase(request: web.Request) -> web.StreamResponse:
    require_owner(request)
    contact_id = int_param(request, "contact_id")
    try:
        async with hub(request).db.transaction() as session:
            counts = await gdpr.erase_contact(session, creator_id(request), contact_id)
    except NotFound:
        raise web.HTTPNotFound() from None
    total = sum(v for k, v in counts.items() if k != "vectors_removed")
    raise await redirect(
        request, "/hub/audience", f"Erased the contact and {total - 1} related record(s)."
    )


async def retry_outbox(request: web.Request) -> web.StreamResponse:
    outbox_id = int_param(request, "outbox_id")
    async with hub(request).db.transaction() as session:
        owned = await audience.owned_outbox(session, creator_id(request), [outbox_id])
        if not owned:
            raise web.HTTPNotFound()
        await outbox.retry_failed(session, owned, now(request))
    raise await redirect(request, "/hub/audience", "Queued again.")


def register(app: web.Application) -> None:
    app.router.add_get("/audience", index)
    app.router.add_post("/audience/outbox/{outbox_id}/retry", retry_outbox)
    app.router.add_get("/audience/{contact_id}", detail)
    app.router.add_get("/audience/{contact_id}/transcript", transcript)
    app.router.add_post("/audience/{contact_id}/handoff", set_handoff)
    app.router.add_post("/audience/{contact_id}/reply", reply)
    app.router.add_post("/audience/{contact_id}/tags", tags)
    app.router.add_get("/audience/{contact_id}/export", export)
    app.router.add_post("/audience/{contact_id}/erase", erase)
