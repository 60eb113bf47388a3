"""The outbox of proactive messages: writing rows (in the same transaction as whatever produced
them), choosing the channel, queuing rows for delivery, and returning rows lost by dead workers.

States: pending → queued (handed to a delivery job) → sending → sent | failed | skipped. Every end
state carries a reason; `ambiguous` marks a send that may have landed although we saw no answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.contacts import open_conversation
from engine.db import dialect_name, upsert_insert
from engine.models import ChannelIdentity, Contact, Message, Outbox
from engine.types import OutboundMessage

QUEUED_TIMEOUT = timedelta(minutes=5)  # a queued row no job picked up (Redis lost its queue)
SENDING_TIMEOUT = timedelta(minutes=5)  # a row whose worker died while sending


async def choose_identity(session: AsyncSession, contact: Contact) -> ChannelIdentity | None:
    """The contact's preferred identity if reachable, else the one they wrote from last."""
    if contact.preferred_identity_id is not None:
        preferred = await session.get(ChannelIdentity, contact.preferred_identity_id)
        if (
            preferred is not None
            and preferred.contact_id == contact.id
            and not preferred.unreachable_at
        ):
            return preferred
    return await session.scalar(
        select(ChannelIdentity)
        .where(ChannelIdentity.contact_id == contact.id, ChannelIdentity.unreachable_at.is_(None))
        .order_by(ChannelIdentity.last_inbound_at.desc().nulls_last(), ChannelIdentity.id.desc())
        .limit(1)
    )


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    contact: Contact,
    messages: Sequence[OutboundMessage],
    now: datetime,
    template_key: str | None = None,
    due_at: datetime | None = None,
) -> list[int]:
    """Store `messages` in the contact's conversation and add one outbox row each (keys
    `key:0`, `key:1`, …; an existing key is left alone). Returns the new outbox ids."""
    if not messages:
        return []
    identity = await choose_identity(session, contact)
    conversation = await open_conversation(session, contact, now)
    ids: list[int] = []
    for index, outbound in enumerate(messages):
        row_key = f"{key}:{index}"
        exists = await session.scalar(select(Outbox.id).where(Outbox.key == row_key))
        if exists is not None:
            continue
        message = Message(
            conversation_id=conversation.id,
            contact_id=contact.id,
            direction="out",
            channel=identity.channel if identity else "none",
            binding_id=identity.binding_id if identity else None,
            text=outbound.text,
            payload=outbound.payload_json(),
            route=kind,
            status="pending",
            created_at=now,
        )
        session.add(message)
        await session.flush()
        stmt = (
            upsert_insert(session, Outbox)
            .values(
                key=row_key,
                kind=kind,
                creator_id=contact.creator_id,
                contact_id=contact.id,
                message_id=message.id,
                binding_id=identity.binding_id if identity else None,
                identity_id=identity.id if identity else None,
                template_key=template_key,
                state="pending",
                attempts=0,
                ambiguous=False,
                next_attempt_at=due_at or now,
                provider_message_ids=[],
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(Outbox.id)
        )
        new_id = (await session.execute(stmt)).scalar_one_or_none()
        if new_id is not None:
            ids.append(new_id)
    return ids


async def enqueue_stored(
    session: AsyncSession, contact: Contact, message_ids: Sequence[int], now: datetime, *, kind: str
) -> list[int]:
    """Outbox rows for messages already stored in the conversation (a recovered turn's reply),
    sent to the identity the message was addressed to. Keys `<kind>:<message id>`."""
    ids: list[int] = []
    for message_id in message_ids:
        message = await session.get(Message, message_id)
        if message is None:
            continue
        identity = await session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.contact_id == contact.id,
                ChannelIdentity.binding_id == message.binding_id,
            )
        )
        stmt = (
            upsert_insert(session, Outbox)
            .values(
                key=f"{kind}:{message_id}",
                kind=kind,
                creator_id=contact.creator_id,
                contact_id=contact.id,
                message_id=message_id,
                binding_id=message.binding_id,
                identity_id=identity.id if identity else None,
                state="pending",
                attempts=0,
                ambiguous=False,
                next_attempt_at=now,
                provider_message_ids=[],
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(Outbox.id)
        )
        new_id = (await session.execute(stmt)).scalar_one_or_none()
        if new_id is not None:
            ids.append(new_id)
    return ids


# Channels whose replies a `serve` process sends after the turn has committed (webhooks answer
# their provider first; the widget pushes to the socket): a crash in between leaves the reply
# stored and unsent. The terminal shows replies in the turn itself.
SENT_AFTER_THE_TURN = ("telegram", "whatsapp", "web")


async def adopt_stranded_replies(
    session: AsyncSession, now: datetime, older_than: timedelta, limit: int
) -> list[int]:
    """Replies a turn stored that were never sent nor handed to the outbox: the `serve` process
    died between the turn's commit and the send (or while sending). They get outbox rows now
    (kind `reply`, keys `reply:<message id>`, so two schedulers adopting at once add one row),
    marked ambiguous: the send may have left before the process died. Returns the new ids."""
    stranded = (
        select(Message.id, Message.contact_id)
        .where(
            Message.direction == "out",
            Message.status == "pending",
            Message.reply_to_id.is_not(None),
            Message.channel.in_(SENT_AFTER_THE_TURN),
            Message.created_at < now - older_than,
            ~select(Outbox.id).where(Outbox.message_id == Message.id).exists(),
        )
        .order_by(Message.id)
        .limit(limit)
    )
    by_contact: dict[int, list[int]] = {}
    for message_id, contact_id in await session.execute(stranded):
        by_contact.setdefault(contact_id, []).append(message_id)
    adopted: list[int] = []
    for contact_id, message_ids in by_contact.items():
        contact = await session.get(Contact, contact_id)
        if contact is not None:
            adopted += await enqueue_stored(session, contact, message_ids, now, kind="reply")
    if adopted:
        await session.execute(
            update(Outbox)
            .where(Outbox.id.in_(adopted))
            .values(ambiguous=True, reason="sender_lost")
            .execution_options(synchronize_session=False)
        )
    return adopted


async def queue_ready(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Mark up to `limit` pending rows whose time has come as queued; returns their ids (the
    caller hands them to delivery jobs). Atomic like schedule claims."""
    ready = (
        select(Outbox.id)
        .where(Outbox.state == "pending", Outbox.next_attempt_at <= now)
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        ready = ready.with_for_update(skip_locked=True)
    stmt = (
        update(Outbox)
        .where(Outbox.id.in_(ready.scalar_subquery()), Outbox.state == "pending")
        .values(state="queued", queued_at=now)
        .returning(Outbox.id)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars())


async def take(
    session: AsyncSession, ids: Sequence[int], may_take: Callable[[Outbox], bool], **values: Any
) -> list[Outbox]:
    """Lock the rows `ids` and set `values` on those `may_take` accepts; returns them (as they
    were before). Rows are found by primary key alone and their state is checked here: with a
    state condition in SQL, PostgreSQL's planner (whose statistics lag behind a burst of sends)
    chose the state index and walked every pending or stale entry in it, on each call. SQLite's
    write transactions are serial, so the check is as atomic there."""
    # In id order, so that two jobs naming the same rows lock them in the same order.
    rows = await session.scalars(
        select(Outbox).where(Outbox.id.in_(ids)).order_by(Outbox.id).with_for_update()
    )
    taken = [row for row in rows if may_take(row)]
    if taken:
        await session.execute(
            update(Outbox)
            .where(Outbox.id.in_([row.id for row in taken]))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return taken


async def mark_queued(session: AsyncSession, ids: Sequence[int], now: datetime) -> list[int]:
    pending = await take(session, ids, _is_pending, state="queued", queued_at=now)
    return [row.id for row in pending]


def _is_pending(row: Outbox) -> bool:
    return row.state == "pending"


async def reap(
    session: AsyncSession,
    now: datetime,
    queued_timeout: timedelta = QUEUED_TIMEOUT,
    sending_timeout: timedelta = SENDING_TIMEOUT,
) -> tuple[int, int]:
    """Rows lost by a dead worker go back to pending: queued ones as they were, sending ones
    marked ambiguous (the send may have left before the worker died). Returns both counts."""
    requeued = await session.execute(
        update(Outbox)
        .where(Outbox.state == "queued", Outbox.queued_at < now - queued_timeout)
        .values(state="pending")
        .execution_options(synchronize_session=False)
    )
    resent = await session.execute(
        update(Outbox)
        .where(Outbox.state == "sending", Outbox.sending_at < now - sending_timeout)
        .values(state="pending", ambiguous=True, reason="worker_lost")
        .execution_options(synchronize_session=False)
    )
    return (
        int(getattr(requeued, "rowcount", 0) or 0),
        int(getattr(resent, "rowcount", 0) or 0),
    )


async def retry_failed(session: AsyncSession, ids: Sequence[int], now: datetime) -> int:
    """Put failed rows back in line (a coach's explicit retry)."""
    result = await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(ids), or_(Outbox.state == "failed", Outbox.state == "skipped"))
        .values(state="pending", next_attempt_at=now, reason=None, attempts=0)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
