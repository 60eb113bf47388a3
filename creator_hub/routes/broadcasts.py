"""Broadcasts: a one-off message to a segment (program, channel, tag) at a local date and time
in each coachee's own timezone, through the outbox and its policies."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from creator_hub.app import hub
from creator_hub.context import creator_id, signed_in
from creator_hub.models import Broadcast
from creator_hub.render import page
from creator_hub.routes.common import form, now, redirect
from engine.audience import ContactTag
from engine.broadcast import (
    BroadcastError,
    Segment,
    parse_when,
    schedule_broadcast,
    segment_contacts,
)
from engine.models import Contact, Creator
from engine.types import Channel
from programs import store

CHANNELS = [c.value for c in Channel if c.value != "terminal"]


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> web.Response:
    cid = creator_id(request)
    async with hub(request).db.sessions() as session:
        programs = await store.list_programs(session, cid)
        tags = sorted(
            set(
                await session.scalars(
                    select(ContactTag.tag)
                    .join(Contact, Contact.id == ContactTag.contact_id)
                    .where(Contact.creator_id == cid)
                )
            )
        )
        sent = (
            await session.scalars(
                select(Broadcast)
                .where(Broadcast.creator_id == cid)
                .order_by(Broadcast.id.desc())
                .limit(50)
            )
        ).all()
    local = now(request)
    return page(
        request,
        "broadcasts.html",
        status=status,
        error=error,
        active="broadcasts",
        title="Broadcasts",
        programs=programs,
        tags=tags,
        channels=CHANNELS,
        sent=sent,
        v=values or {"day": local.date().isoformat(), "at": "10:00"},
    )


async def index(request: web.Request) -> web.Response:
    return await _page(request)


def _segment(data: dict[str, str]) -> Segment:
    channel = data.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise BroadcastError("choose a channel from the list")
    return Segment(
        program=(data.get("program") or None), channel=channel, tag=(data.get("tag") or None)
    )


async def preview(request: web.Request) -> web.Response:
    data = await form(request, limit=200)
    try:
        segment = _segment(data)
    except BroadcastError as exc:
        return web.Response(text=str(exc))
    async with hub(request).db.sessions() as session:
        found = await segment_contacts(session, creator_id(request), segment)
    return page(
        request,
        "_segment.html",
        count=len(found),
        names=[c.display_name or c.first_name or f"#{c.id}" for c in found[:8]],
    )


async def send(request: web.Request) -> web.StreamResponse:
    data = await form(request, limit=5000)
    cid = creator_id(request)
    try:
        segment = _segment(data)
        day, at = parse_when(data.get("day", ""), data.get("at", ""))
        async with hub(request).db.transaction() as session:
            creator = await session.get(Creator, cid)
            assert creator is not None
            row = Broadcast(
                creator_id=cid,
                text=data.get("text", "").strip(),
                segment=segment.to_json(),
                local_date=day.isoformat(),
                local_time=at.strftime("%H:%M"),
                created_at=now(request),
            )
            session.add(row)
            await session.flush()
            row.recipients = await schedule_broadcast(
                session, creator, row.id, data.get("text", ""), segment, day, at, now(request)
            )
            count = row.recipients
    except BroadcastError as exc:
        return await _page(request, status=400, error=str(exc), values=data)
    signed_in(request)
    raise await redirect(
        request,
        "/hub/broadcasts",
        f"Scheduled for {count} coachee(s), at {at.strftime('%H:%M')} their time.",
    )


def register(app: web.Application) -> None:
    app.router.add_get("/broadcasts", index)
    app.router.add_post("/broadcasts/preview", preview)
    app.router.add_post("/broadcasts", send)
