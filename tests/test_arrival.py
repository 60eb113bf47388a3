"""A known sender's turn stamps their contact, identity and open conversation in one statement
on PostgreSQL, with the contact locked first. These tests hold that lock in another transaction
and change the person meanwhile, as a turn of theirs on another process would: the waiting
turn must see what that transaction committed, not the snapshot its statement started with."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from engine.clock import ManualClock
from engine.contacts import arrive, arrive_in_conversation, open_conversation
from engine.db import Database
from engine.models import ChannelBinding, ChannelIdentity, Contact, Conversation
from tests.transcript import Chat

# PostgreSQL only: what these tests hold apart is its row locks and connection pool.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def known_sender(chat: Chat, db: Database) -> tuple[int, int]:
    """Sam, who has written once: (contact id, open conversation id)."""
    await chat.say("/start")
    async with db.sessions() as session:
        conversation = (await session.scalars(select(Conversation))).one()
    return conversation.contact_id, conversation.id


async def arrive_later(
    db: Database, chat: Chat, binding: ChannelBinding, clock: ManualClock, *, general: bool = False
) -> tuple[ChannelIdentity, Contact, Conversation]:
    """The turn's arrival; `general`: through the statements SQLite and new senders use."""
    async with db.transaction() as session:
        fresh = await session.get(ChannelBinding, binding.id)
        assert fresh is not None
        inbound = chat.inbound("hi")
        if not general:
            return await arrive_in_conversation(session, fresh, inbound, clock.now())
        identity, contact = await arrive(session, fresh, inbound, clock.now())
        conversation = await open_conversation(session, contact, clock.now(), wrote=True)
        return identity, contact, conversation


async def test_one_statement_stamps_contact_identity_and_conversation(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    contact_id, conversation_id = await known_sender(chat, db)
    async with db.transaction() as session:
        await session.execute(
            update(ChannelIdentity).values(unreachable_at=clock.now() - timedelta(days=1))
        )
    clock.advance(timedelta(minutes=3))
    identity, contact, conversation = await arrive_later(db, chat, binding, clock)
    assert (contact.id, conversation.id) == (contact_id, conversation_id)
    async with db.sessions() as session:
        stored = await session.get(Contact, contact_id)
        stamped = await session.get(ChannelIdentity, identity.id)
        talk = await session.get(Conversation, conversation_id)
    assert stored is not None
    assert stored.last_seen_at == clock.now()
    assert stamped is not None
    assert stamped.last_inbound_at == clock.now()
    assert stamped.unreachable_at is None  # writing ends the "unreachable" mark
    assert talk is not None
    assert talk.last_message_at == clock.now()


async def test_a_conversation_closed_while_waiting_for_the_lock_is_not_used(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    contact_id, old_id = await known_sender(chat, db)
    async with db.transaction() as holder:
        # Another turn of Sam's holds the contact and starts a new conversation (/reset).
        await holder.execute(select(Contact).where(Contact.id == contact_id).with_for_update())
        waiting = asyncio.create_task(arrive_later(db, chat, binding, clock))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the contact's lock
        await holder.execute(
            update(Conversation).where(Conversation.id == old_id).values(status="closed")
        )
        fresh = Conversation(creator_id=binding.creator_id, contact_id=contact_id)
        holder.add(fresh)
        await holder.flush()
        new_id = fresh.id
    _, contact, conversation = await asyncio.wait_for(waiting, 10)
    assert contact.id == contact_id
    assert conversation.id == new_id
    assert conversation.status == "open"
    async with db.sessions() as session:
        old = await session.get(Conversation, old_id)
    assert old is not None
    assert old.status == "closed"


@pytest.mark.parametrize("general", [False, True], ids=["one-statement", "general"])
async def test_an_identity_moved_while_waiting_for_the_lock_follows_the_move(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock, general: bool
) -> None:
    contact_id, _ = await known_sender(chat, db)
    async with db.transaction() as session:
        target = Contact(creator_id=binding.creator_id, display_name="Sam (web)")
        session.add(target)
        await session.flush()
        target_id = target.id
    async with db.transaction() as holder:
        # Linking: the identity moves to another contact while the old one is locked.
        await holder.execute(select(Contact).where(Contact.id == contact_id).with_for_update())
        waiting = asyncio.create_task(arrive_later(db, chat, binding, clock, general=general))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await holder.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.contact_id == contact_id)
            .values(contact_id=target_id)
        )
    identity, contact, conversation = await asyncio.wait_for(waiting, 10)
    assert identity.contact_id == target_id
    assert contact.id == target_id
    assert conversation.contact_id == target_id
