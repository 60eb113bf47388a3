"""A human coach in the conversation: take it over (the bot stores what comes in and stays
silent: engine.guardrails.HandoffRoute), reply on any of the contact's channels, hand it back.

A coach's reply is stored in the conversation and goes out through the outbox as kind "reply":
the person is in a live conversation, so it is sent at once (no quiet hours or daily cap) and
still meets the WhatsApp window like any reply.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import outbox
from engine.audience import NotFound, get_contact
from engine.contacts import lock_contact, open_conversation
from engine.models import ChannelIdentity, Conversation, Message
from engine.types import OutboundMessage

MAX_REPLY = 4000


class HandoffError(ValueError):
    """A coach action that cannot be done as asked; the message says why."""


async def set_handoff(
    session: AsyncSession, creator_id: int, contact_id: int, active: bool, now: datetime
) -> Conversation:
    """Take the contact's conversation over (`active`) or give it back to the bot. Handing back
    also clears a crisis flag: the coach has seen it."""
    await get_contact(session, creator_id, contact_id)
    contact = await lock_contact(session, contact_id)
    conversation = await open_conversation(session, contact, now)
    conversation.handoff_active = active
    if not active:
        conversation.flagged_at = None
        conversation.flag_reason = None
    return conversation


async def coach_reply(
    session: AsyncSession,
    creator_id: int,
    contact_id: int,
    text: str,
    now: datetime,
    *,
    identity_id: int | None = None,
) -> list[int]:
    """Store the coach's message and queue it for the chosen identity (default: where the
    contact can be reached). Returns the new outbox ids."""
    text = text.strip()
    if not text:
        raise HandoffError("write a message first")
    if len(text) > MAX_REPLY:
        raise HandoffError(f"a message can have at most {MAX_REPLY} characters")
    await get_contact(session, creator_id, contact_id)
    contact = await lock_contact(session, contact_id)
    if identity_id is None:
        identity = await outbox.choose_identity(session, contact)
    else:
        identity = await session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.id == identity_id, ChannelIdentity.contact_id == contact.id
            )
        )
        if identity is None:
            raise NotFound(f"no channel {identity_id} for this contact")
    if identity is None:
        raise HandoffError("this contact cannot be reached on any channel")
    conversation = await open_conversation(session, contact, now)
    message = Message(
        conversation_id=conversation.id,
        contact_id=contact.id,
        direction="out",
        channel=identity.channel,
        binding_id=identity.binding_id,
        text=text,
        payload=OutboundMessage(text).payload_json(),
        route="coach",
        status="pending",
        created_at=now,
    )
    session.add(message)
    await session.flush()
    conversation.last_message_at = now
    return await outbox.enqueue_stored(session, contact, [message.id], now, kind="reply")
