"""A provider delivering the same message twice, in a row or at once, gets it stored and answered
once (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from engine.db import Database
from engine.models import ChannelIdentity, Contact, InboundReceipt, Message
from engine.pipeline import Engine
from engine.types import Reply
from tests.transcript import Chat


async def counts(db: Database) -> dict[str, int]:
    async with db.sessions() as session:

        async def count(model: type, *where: object) -> int:
            query = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
            return int(await session.scalar(query) or 0)

        return {
            "receipts": await count(InboundReceipt),
            "in": await count(Message, Message.direction == "in"),
            "out": await count(Message, Message.direction == "out"),
            "contacts": await count(Contact),
            "identities": await count(ChannelIdentity),
        }


def answered(replies: list[Reply]) -> list[Reply]:
    return [r for r in replies if not r.duplicate]


async def test_sequential_redelivery_is_stored_and_answered_once(chat: Chat, db: Database) -> None:
    first = await chat.send("/help", external_message_id="update-1001")
    second = await chat.send("/help", external_message_id="update-1001")
    assert first.texts
    assert not first.duplicate
    assert second.duplicate
    assert second.texts == []
    assert await counts(db) == {"receipts": 1, "in": 1, "out": 1, "contacts": 1, "identities": 1}


async def test_ten_concurrent_deliveries_are_stored_and_answered_once(
    engine: Engine, chat: Chat, db: Database
) -> None:
    inbound = chat.inbound("/help", external_message_id="SM-concurrent")
    replies = await asyncio.gather(*(engine.handle(inbound) for _ in range(10)))
    assert len(answered(replies)) == 1
    assert answered(replies)[0].texts[0].startswith("Here's what I can do")
    assert all(r.texts == [] for r in replies if r.duplicate)
    assert await counts(db) == {"receipts": 1, "in": 1, "out": 1, "contacts": 1, "identities": 1}


async def test_concurrent_first_messages_from_a_new_person_make_one_contact(
    engine: Engine, chat: Chat, db: Database
) -> None:
    messages = [chat.inbound(f"hello {i}", external_message_id=f"first-{i}") for i in range(10)]
    replies = await asyncio.gather(*(engine.handle(m) for m in messages))
    assert len(answered(replies)) == 10
    assert await counts(db) == {"receipts": 10, "in": 10, "out": 10, "contacts": 1, "identities": 1}


async def test_same_external_id_on_another_binding_is_a_different_message(
    engine: Engine, chat: Chat, db: Database, binding: object
) -> None:
    from engine.bindings import create_binding
    from engine.models import Creator
    from engine.types import Channel

    async with db.transaction() as session:
        creator = (await session.scalars(select(Creator))).one()
        other = await create_binding(
            session, creator, Channel.WEB, name="widget", now=engine.clock.now()
        )
    await chat.send("/help", external_message_id="42")
    reply = await Chat(engine, other.id, channel=Channel.WEB).send(
        "/help", external_message_id="42"
    )
    assert not reply.duplicate
    assert (await counts(db))["receipts"] == 2


async def test_processing_a_receipt_twice_runs_the_turn_once(
    engine: Engine, chat: Chat, db: Database
) -> None:
    receipt_id = await engine.claim(chat.inbound("/start"))
    assert receipt_id is not None
    first, second = await asyncio.gather(engine.process(receipt_id), engine.process(receipt_id))
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    assert (await counts(db))["out"] == 1
