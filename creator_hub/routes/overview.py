"""The workspace's home: what is set up, what to do next, and who needs the coach."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, select

from creator_hub.app import hub
from creator_hub.context import creator_id
from creator_hub.render import page
from creator_hub.routes.trybot import tester_contact
from engine import audience
from engine.models import ChannelBinding, Contact
from knowledge.models import Document
from programs import models as pm


async def show(request: web.Request) -> web.Response:
    cid = creator_id(request)
    async with hub(request).db.sessions() as session:

        async def count(query: object) -> int:
            return int(await session.scalar(query) or 0)  # type: ignore[call-overload]

        stats = {
            "contacts": await count(select(func.count()).where(Contact.creator_id == cid)),
            "documents": await count(
                select(func.count()).where(Document.creator_id == cid, Document.status == "ready")
            ),
            "programs": await count(select(func.count()).where(pm.Program.creator_id == cid)),
            "channels": await count(
                select(func.count()).where(
                    ChannelBinding.creator_id == cid,
                    ChannelBinding.enabled.is_(True),
                    ChannelBinding.channel != "terminal",
                )
            ),
        }
        flagged = await audience.flagged(session, cid)
        tried = await tester_contact(session, request) is not None
    steps = [
        ("Upload your material", "/hub/knowledge", stats["documents"] > 0),
        ("Create and publish a program", "/hub/programs", stats["programs"] > 0),
        ("Try your bot", "/hub/try", tried),
        (
            "Connect a channel (Telegram, WhatsApp or your website)",
            "/hub/channels",
            stats["channels"] > 0,
        ),
        ("Meet your coachees", "/hub/audience", stats["contacts"] > 0),
    ]
    return page(
        request,
        "overview.html",
        active="overview",
        title="Overview",
        stats=stats,
        steps=steps,
        flagged=flagged,
        welcome="welcome" in request.query,
    )


def register(app: web.Application) -> None:
    app.router.add_get("/", show)
