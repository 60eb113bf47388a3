"""What channel adapters record and look up beyond a turn: the choices last offered to a person
(a numbered reply on WhatsApp, a long button payload on Telegram), identities that can no longer
be reached (the bot was blocked), and provider delivery statuses (Twilio status callbacks)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.channel_models import DeliveryEvent
from engine.db import Database, table_of, upsert_insert
from engine.models import ChannelIdentity, Message
from engine.types import Choice

log = logging.getLogger(__name__)

# Outbound status, in the order a message moves through them. A status callback never moves a
# message backwards (callbacks can arrive out of order); failures are final.
STATUS_RANK = {"pending": 0, "queued": 1, "accepted": 1, "sending": 1, "sent": 2}
STATUS_RANK |= {"delivered": 3, "read": 4, "undelivered": 5, "failed": 5}

# The contact as a subquery, so that its messages are found by their contact index.
MESSAGES = table_of(Message)
SENDER_CONTACT = (
    select(ChannelIdentity.contact_id)
    .where(
        ChannelIdentity.binding_id == bindparam("of_binding"),
        ChannelIdentity.external_user_id == bindparam("of_user"),
    )
    .scalar_subquery()
)
RECENT_PAYLOADS = (
    select(MESSAGES.c.payload)
    .where(MESSAGES.c.contact_id == SENDER_CONTACT, MESSAGES.c.direction == "out")
    .order_by(MESSAGES.c.id.desc())
    .limit(bindparam("messages"))
)


async def recent_choices(
    db: Database, binding_id: int, external_user_id: str, *, messages: int = 1
) -> list[tuple[Choice, ...]]:
    """The choices of the last `messages` outbound messages to the contact behind this identity
    (any channel: after linking, a question asked on one may be answered on another), newest
    first; a message without choices gives an empty tuple."""
    # One statement outside a transaction (on PostgreSQL: one round trip, no BEGIN/ROLLBACK):
    # every WhatsApp message short enough to be a numbered answer asks this.
    async with db.statement() as conn:
        payloads = list(
            await conn.scalars(
                RECENT_PAYLOADS,
                {"of_binding": binding_id, "of_user": external_user_id, "messages": messages},
            )
        )
    return [
        tuple(
            Choice(str(c["label"]), str(c["payload"])) for c in (payload or {}).get("choices", ())
        )
        for payload in payloads
    ]


async def mark_unreachable(
    db: Database, binding_id: int, external_user_id: str, now: datetime
) -> None:
    """The person blocked the bot (or opted out at the carrier): stop trying this identity until
    they write again (the next inbound clears it)."""
    async with db.transaction() as session:
        await session.execute(
            update(ChannelIdentity)
            .execution_options(synchronize_session=False)
            .where(
                ChannelIdentity.binding_id == binding_id,
                ChannelIdentity.external_user_id == external_user_id,
                ChannelIdentity.unreachable_at.is_(None),
            )
            .values(unreachable_at=now)
        )
    log.info("identity marked unreachable", extra={"binding_id": binding_id})


async def record_parts(
    db: Database, binding_id: int, message_id: int, provider_ids: Sequence[str], now: datetime
) -> None:
    """Remember every provider id of a message sent in parts, so that a status callback for any
    part finds its message (the message row keeps the first id)."""
    if not provider_ids:
        return
    async with db.transaction() as session:
        await add_parts(session, binding_id, message_id, provider_ids, now)


async def add_parts(
    session: AsyncSession,
    binding_id: int,
    message_id: int,
    provider_ids: Sequence[str],
    now: datetime,
) -> None:
    """`record_parts` inside the caller's transaction (the outbox records its sends this way)."""
    for provider_id in provider_ids:
        await session.execute(
            upsert_insert(session, DeliveryEvent)
            .values(
                binding_id=binding_id,
                provider_message_id=provider_id,
                status="sent",
                message_id=message_id,
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=["binding_id", "provider_message_id", "status"])
        )


async def record_delivery_status(
    db: Database,
    binding_id: int,
    provider_message_id: str,
    status: str,
    now: datetime,
    *,
    error_code: str | None = None,
) -> bool:
    """Store one status report and move the message's status forward. False when this (id,
    status) was reported before: a redelivered callback changes nothing."""
    status = status.strip().lower()[:20]
    async with db.transaction() as session:
        message_id = await session.scalar(
            select(Message.id).where(
                Message.binding_id == binding_id,
                Message.provider_message_id == provider_message_id,
                Message.direction == "out",
            )
        )
        if message_id is None:  # a later part of a split message
            message_id = await session.scalar(
                select(DeliveryEvent.message_id)
                .where(
                    DeliveryEvent.binding_id == binding_id,
                    DeliveryEvent.provider_message_id == provider_message_id,
                    DeliveryEvent.message_id.is_not(None),
                )
                .limit(1)
            )
        inserted = await session.scalar(
            upsert_insert(session, DeliveryEvent)
            .values(
                binding_id=binding_id,
                provider_message_id=provider_message_id,
                status=status,
                message_id=message_id,
                error_code=error_code,
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=["binding_id", "provider_message_id", "status"])
            .returning(DeliveryEvent.id)
        )
        if inserted is None:
            return False
        rank = STATUS_RANK.get(status)
        if message_id is None or rank is None:
            return True
        message = await session.get(Message, message_id, with_for_update=True)
        if message is not None and rank > STATUS_RANK.get(message.status, 0):
            message.status = status
            if status in ("failed", "undelivered"):
                message.error = f"provider reported {status}" + (
                    f" (code {error_code})" if error_code else ""
                )
        return True
