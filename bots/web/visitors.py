"""A widget visitor's inbox: the conversation history the widget restores on every load, the
unread count on the launcher, and the read marker that clears it.

The history is the contact's messages on this widget (after `identify` or `/link`, whatever the
contact wrote from another browser on the same widget too), oldest first: what they wrote, and
what was delivered to them. Messages still waiting in the outbox (quiet hours, a turn still
running) are not shown until they are sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bots.web import frames
from bots.web.models import WebVisitor
from engine.db import Database, upsert_insert
from engine.models import ChannelIdentity, InboundReceipt, Message

SHOWN = ("sent", "delivered", "read")
HISTORY_LIMIT = 50
MAX_HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Inbox:
    messages: list[dict[str, Any]] = field(default_factory=list)
    unread: int = 0
    more: bool = False  # older messages exist (the widget can ask with `before`)


async def _identity(session: AsyncSession, binding_id: int, visitor: str) -> ChannelIdentity | None:
    return await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.binding_id == binding_id, ChannelIdentity.external_user_id == visitor
        )
    )


def _client_id(external_message_id: str | None) -> str | None:
    # Receipts are "<visitor>:<client id>"; a client id has no colon.
    return external_message_id.rpartition(":")[2] if external_message_id else None


async def inbox(
    db: Database,
    binding_id: int,
    visitor: str,
    *,
    before: int | None = None,
    limit: int = HISTORY_LIMIT,
) -> Inbox:
    limit = max(1, min(limit, MAX_HISTORY_LIMIT))
    async with db.sessions() as session:
        identity = await _identity(session, binding_id, visitor)
        if identity is None:
            return Inbox()
        query = (
            select(Message, InboundReceipt.external_message_id)
            .outerjoin(InboundReceipt, InboundReceipt.id == Message.receipt_id)
            .where(
                Message.contact_id == identity.contact_id,
                Message.binding_id == binding_id,
                or_(Message.direction == "in", Message.status.in_(SHOWN)),
            )
            .order_by(Message.id.desc())
            .limit(limit + 1)
        )
        if before is not None:
            query = query.where(Message.id < before)
        rows = (await session.execute(query)).all()
        unread = await _unread(session, binding_id, identity)
    shown = [
        frames.message(m.id, m.direction, m.text, m.payload, m.created_at, _client_id(ext))
        for m, ext in reversed(rows[:limit])
    ]
    return Inbox(shown, unread, more=len(rows) > limit)


async def _unread(session: AsyncSession, binding_id: int, identity: ChannelIdentity) -> int:
    read_up_to = await session.scalar(
        select(WebVisitor.read_up_to).where(WebVisitor.identity_id == identity.id)
    )
    count = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.contact_id == identity.contact_id,
            Message.binding_id == binding_id,
            Message.direction == "out",
            Message.status.in_(SHOWN),
            Message.id > (read_up_to or 0),
        )
    )
    return int(count or 0)


async def unread(db: Database, binding_id: int, visitor: str) -> int:
    async with db.sessions() as session:
        identity = await _identity(session, binding_id, visitor)
        return 0 if identity is None else await _unread(session, binding_id, identity)


async def mark_read(
    db: Database, binding_id: int, visitor: str, up_to: int, now: datetime
) -> int | None:
    """Move the visitor's read marker forward to `up_to` (never back). Returns the marker, or
    None for a visitor who has no identity yet (nothing was ever sent to them)."""
    async with db.transaction() as session:
        identity = await _identity(session, binding_id, visitor)
        if identity is None:
            return None
        insert = upsert_insert(session, WebVisitor).values(
            identity_id=identity.id, read_up_to=up_to, read_at=now
        )
        newer = insert.excluded.read_up_to > WebVisitor.read_up_to
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=["identity_id"],
                set_={
                    "read_up_to": case(
                        (newer, insert.excluded.read_up_to), else_=WebVisitor.read_up_to
                    ),
                    "read_at": now,
                },
            )
        )
        marker = await session.scalar(
            select(WebVisitor.read_up_to).where(WebVisitor.identity_id == identity.id)
        )
        return int(marker or 0)
