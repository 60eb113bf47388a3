"""Who is talking: channel identity → contact (created on first contact), and their open
conversation. Safe under concurrency: the identity insert is a conflict-tolerant claim, and the
contact row is locked for the rest of the turn so one person's turns never interleave."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, bindparam, delete, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from engine.db import dialect_name, table_of, upsert_insert
from engine.models import ChannelBinding, ChannelIdentity, Contact, Conversation
from engine.types import InboundMessage

# Bindings are shared by every turn on them; refresh their "last inbound" at most this often so
# that busy bots do not serialize on one row.
BINDING_TOUCH_INTERVAL = timedelta(seconds=60)
# For UPDATE … RETURNING an entity: the returned row replaces what the session holds, and the
# session is not searched for other objects the UPDATE might have changed.
FRESH_ROWS = {"populate_existing": True, "synchronize_session": False}

# The statements of every turn, built once: constructing a statement and its cache key cost
# about 0.1 ms of CPU each time, more than a tenth of what running it costs. (An UPDATE's
# parameters may not share a name with a column of its table, hence `of_…`.) The pieces below
# serve both the general path and PostgreSQL's one statement.
_CONTACTS, _IDENTITIES, _CONVERSATIONS = map(table_of, (Contact, ChannelIdentity, Conversation))
IS_SENDER = (
    _IDENTITIES.c.binding_id == bindparam("of_binding"),
    _IDENTITIES.c.external_user_id == bindparam("of_user"),
)
SENDERS_CONTACT = _CONTACTS.c.id == _IDENTITIES.c.contact_id
# What a sender's message changes: seen now, reachable again, the conversation goes on.
CONTACT_WROTE: dict[str, Any] = {"last_seen_at": bindparam("now")}
IDENTITY_WROTE: dict[str, Any] = {"last_inbound_at": bindparam("now"), "unreachable_at": None}
CONVERSATION_WROTE: dict[str, Any] = {"last_message_at": bindparam("now")}


def _latest_open_id(contact_id: ColumnElement[Any]) -> ScalarSelect[Any]:
    return (
        select(_CONVERSATIONS.c.id)
        .where(_CONVERSATIONS.c.contact_id == contact_id, _CONVERSATIONS.c.status == "open")
        .order_by(_CONVERSATIONS.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


STAMP_CONTACT = (
    update(Contact).where(SENDERS_CONTACT, *IS_SENDER).values(CONTACT_WROTE).returning(Contact)
)
STAMP_IDENTITY = (
    update(ChannelIdentity).where(*IS_SENDER).values(IDENTITY_WROTE).returning(ChannelIdentity)
)
LATEST_OPEN = (
    select(Conversation)
    .where(Conversation.contact_id == bindparam("of_contact"), Conversation.status == "open")
    .order_by(Conversation.id.desc())
    .limit(1)
)
STAMP_CONVERSATION = (
    update(Conversation)
    .where(Conversation.id == _latest_open_id(bindparam("of_contact")))
    .values(CONVERSATION_WROTE)
    .returning(Conversation)
)

# PostgreSQL: the three stamps of a known sender in one statement. The identity's and the
# conversation's conditions read the stamped contact, so the contact row is locked first (the
# lock order of every other path) and a sender whose identity is not found stamps nothing.
_STAMPED_CONTACT = (
    update(_CONTACTS)
    .where(SENDERS_CONTACT, *IS_SENDER)
    .values(CONTACT_WROTE)
    .returning(*_CONTACTS.c)
    .cte("stamped_contact")
)
_STAMPED_CONTACT_ID = select(_STAMPED_CONTACT.c.id).scalar_subquery()
_STAMPED_IDENTITY = (
    update(_IDENTITIES)
    .where(*IS_SENDER, _IDENTITIES.c.contact_id == _STAMPED_CONTACT_ID)
    .values(IDENTITY_WROTE)
    .returning(*_IDENTITIES.c)
    .cte("stamped_identity")
)
_STAMPED_CONVERSATION = (
    update(_CONVERSATIONS)
    .where(
        # Checked again on the row itself: the subquery reads the statement's snapshot, taken
        # before the contact's lock was granted, so a turn that held the lock may have closed
        # that conversation since. Then nothing is stamped and the caller looks again.
        _CONVERSATIONS.c.status == "open",
        _CONVERSATIONS.c.id == _latest_open_id(_STAMPED_CONTACT_ID),
    )
    .values(CONVERSATION_WROTE)
    .returning(*_CONVERSATIONS.c)
    .cte("stamped_conversation")
)
STAMP_SENDER = (
    select(
        aliased(Contact, _STAMPED_CONTACT),
        aliased(ChannelIdentity, _STAMPED_IDENTITY),
        aliased(Conversation, _STAMPED_CONVERSATION),
    )
    .select_from(_STAMPED_CONTACT)
    .join(_STAMPED_IDENTITY, true())
    .outerjoin(_STAMPED_CONVERSATION, true())
)


def _first_name(display_name: str | None) -> str | None:
    if not display_name:
        return None
    parts = display_name.strip().split()
    return parts[0][:100] if parts else None


async def resolve_identity(
    session: AsyncSession, binding: ChannelBinding, inbound: InboundMessage, now: datetime
) -> ChannelIdentity:
    """The identity of the sender on this binding, creating it and its contact the first time."""
    query = select(ChannelIdentity).where(
        ChannelIdentity.binding_id == binding.id,
        ChannelIdentity.external_user_id == inbound.external_user_id,
    )
    identity = (await session.execute(query)).scalar_one_or_none()
    if identity is not None:
        return identity

    contact = Contact(
        creator_id=binding.creator_id,
        display_name=inbound.sender_name,
        first_name=_first_name(inbound.sender_name),
        locale=inbound.locale,
        created_at=now,
    )
    session.add(contact)
    await session.flush()
    stmt = (
        upsert_insert(session, ChannelIdentity)
        .values(
            contact_id=contact.id,
            binding_id=binding.id,
            channel=binding.channel,
            external_user_id=inbound.external_user_id,
            display_name=inbound.sender_name,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["binding_id", "external_user_id"])
        .returning(ChannelIdentity.id)
    )
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        # Another turn of the same new person won the race: use theirs, drop our contact.
        await session.execute(delete(Contact).where(Contact.id == contact.id))
        session.expunge(contact)
    return (await session.execute(query)).scalar_one()


async def arrive(
    session: AsyncSession, binding: ChannelBinding, inbound: InboundMessage, now: datetime
) -> tuple[ChannelIdentity, Contact]:
    """The sender's identity and contact, with the contact locked for this transaction and both
    marked as having written now (which also ends any "unreachable" mark on the identity).
    Two statements for a known sender, contact first (the lock order of every other path)."""
    sender = {"of_binding": binding.id, "of_user": inbound.external_user_id, "now": now}
    contact = (
        await session.execute(STAMP_CONTACT, sender, execution_options=FRESH_ROWS)
    ).scalar_one_or_none()
    if contact is None:  # a new person (or one whose identity a merge just moved)
        identity = await resolve_identity(session, binding, inbound, now)
        contact = await lock_contact(session, identity.contact_id)
        contact.last_seen_at = now
        identity.last_inbound_at = now
        identity.unreachable_at = None
        return identity, contact
    identity = (
        await session.execute(STAMP_IDENTITY, sender, execution_options=FRESH_ROWS)
    ).scalar_one()
    if identity.contact_id != contact.id:
        # A link moved the identity while this turn waited for the old contact's lock (the
        # contact stamp read the snapshot from before): go again, now that the move is visible.
        return await arrive(session, binding, inbound, now)
    return identity, contact


async def arrive_in_conversation(
    session: AsyncSession, binding: ChannelBinding, inbound: InboundMessage, now: datetime
) -> tuple[ChannelIdentity, Contact, Conversation]:
    """`arrive`, then `open_conversation(wrote=True)`: the sender's identity, locked contact and
    open conversation, all marked as written to now. One statement for a known sender with an
    open conversation on PostgreSQL; the general path otherwise."""
    if dialect_name(session) == "postgresql":
        sender = {"of_binding": binding.id, "of_user": inbound.external_user_id, "now": now}
        row = (
            await session.execute(STAMP_SENDER, sender, execution_options=FRESH_ROWS)
        ).one_or_none()
        if row is not None:
            contact, identity, stamped = row
            # None: no open conversation (or it closed while this turn waited for the lock).
            conversation: Conversation | None = stamped
            if conversation is None:
                conversation = await open_conversation(session, contact, now, wrote=True)
            return identity, contact, conversation
    identity, contact = await arrive(session, binding, inbound, now)
    return identity, contact, await open_conversation(session, contact, now, wrote=True)


async def lock_contact(session: AsyncSession, contact_id: int) -> Contact:
    """Load the contact locked for this transaction (PostgreSQL row lock; SQLite's write
    transactions are already exclusive)."""
    query = select(Contact).where(Contact.id == contact_id).with_for_update()
    return (
        await session.execute(query, execution_options={"populate_existing": True})
    ).scalar_one()


async def open_conversation(
    session: AsyncSession, contact: Contact, now: datetime, *, wrote: bool = False
) -> Conversation:
    """The contact's open conversation, started if there is none. Call with the contact locked.
    `wrote`: the contact just wrote, so its last message time becomes `now` (in the same
    statement that finds it)."""
    if wrote:
        found = await session.execute(
            STAMP_CONVERSATION,
            {"of_contact": contact.id, "now": now},
            execution_options=FRESH_ROWS,
        )
    else:
        found = await session.execute(LATEST_OPEN, {"of_contact": contact.id})
    conversation: Conversation | None = found.scalar_one_or_none()
    if conversation is None:
        conversation = Conversation(
            creator_id=contact.creator_id,
            contact_id=contact.id,
            started_at=now,
            last_message_at=now if wrote else None,
        )
        session.add(conversation)
        await session.flush()
    return conversation


async def touch_binding(session: AsyncSession, binding_id: int, now: datetime) -> None:
    await session.execute(
        update(ChannelBinding)
        .execution_options(synchronize_session=False)
        .where(
            ChannelBinding.id == binding_id,
            (ChannelBinding.last_inbound_at.is_(None))
            | (ChannelBinding.last_inbound_at < now - BINDING_TOUCH_INTERVAL),
        )
        .values(last_inbound_at=now)
    )
