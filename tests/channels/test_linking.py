"""One coachee across channels: link codes, confirmation, merging two histories, unlinking."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from engine.bindings import create_binding
from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelBinding, ChannelIdentity, Contact, Creator, Message
from engine.pipeline import Engine
from engine.types import Channel
from programs import models as pm
from programs import store
from tests.transcript import Chat

PROGRAM = """\
version: 1
slug: focus
title: Focus Week
steps:
  - message: "Welcome, {{ contact.first_name }}!"
  - id: mood
    kind: question
    text: How focused do you feel?
    choices: [Very, Somewhat, Not at all]
    store: focus
  - message: "Noted: {{ focus }}."
  - id: minutes
    kind: question
    text: How many minutes can you focus today?
    answer: number
    store: minutes
  - end: "Great, {{ minutes | int }} minutes it is."
"""


async def second_binding(
    db: Database, creator: Creator, clock: ManualClock, channel: Channel
) -> ChannelBinding:
    async with db.transaction() as session:
        fresh = await session.get(Creator, creator.id)
        assert fresh is not None
        return await create_binding(session, fresh, channel, name=channel.value, now=clock.now())


async def code_from(chat: Chat) -> str:
    texts = await chat.say("/link")
    found = re.search(r"\*\*(\d{6})\*\*", texts[0])
    assert found, texts
    return found.group(1)


async def telegram_and_whatsapp(
    engine: Engine, db: Database, creator: Creator, clock: ManualClock
) -> tuple[Chat, Chat]:
    """Sam on a Telegram bot and a WhatsApp number of the same coach, not linked yet."""
    a = await second_binding(db, creator, clock, Channel.TELEGRAM)
    b = await second_binding(db, creator, clock, Channel.WHATSAPP)
    return (
        Chat(engine, a.id, user_id="1", channel=Channel.TELEGRAM),
        Chat(engine, b.id, user_id="whatsapp:+1", channel=Channel.WHATSAPP),
    )


async def contact_count(db: Database) -> int:
    async with db.sessions() as session:
        return (await session.scalar(select(func.count()).select_from(Contact))) or 0


async def test_program_started_on_one_channel_continues_on_the_other(
    engine: Engine, db: Database, creator: Creator, clock: ManualClock
) -> None:
    telegram = await second_binding(db, creator, clock, Channel.TELEGRAM)
    whatsapp = await second_binding(db, creator, clock, Channel.WHATSAPP)
    async with db.transaction() as session:
        await store.publish(session, creator.id, PROGRAM, clock.now())
    tg = Chat(engine, telegram.id, user_id="777", name="Sam Lee", channel=Channel.TELEGRAM)
    wa = Chat(
        engine, whatsapp.id, user_id="whatsapp:+15550001", name=None, channel=Channel.WHATSAPP
    )

    await tg.dialog(
        """
        > /join focus
        < Welcome, Sam!
        < How focused do you feel?
        """
    )
    await wa.say("hello there")  # a second contact with its own history
    assert await contact_count(db) == 2
    code = await code_from(tg)
    await wa.dialog(
        f"""
        > /link {code}
        < This joins this WhatsApp chat with your Telegram chat:...Link them?
        > /link yes
        < Done! This chat and your Telegram chat are now one...
        """
    )
    assert await contact_count(db) == 1
    await wa.dialog(
        """
        > 2
        < Noted: Somewhat.
        < How many minutes can you focus today?
        """
    )
    await tg.dialog(
        """
        > 25
        < Great, 25 minutes it is.
        """
    )
    async with db.sessions() as session:
        contact = await session.scalar(select(Contact))
        assert contact is not None
        assert contact.first_name == "Sam"
        identities = (await session.scalars(select(ChannelIdentity.channel))).all()
        assert sorted(identities) == ["telegram", "whatsapp"]
        owners = set((await session.scalars(select(Message.contact_id))).all())
        assert owners == {contact.id}  # both histories, one person
        enrollment = await session.scalar(select(pm.Enrollment))
        assert enrollment is not None
        assert enrollment.status == "completed"


async def test_codes_are_single_use_expire_and_are_rate_limited(
    engine: Engine, db: Database, creator: Creator, clock: ManualClock
) -> None:
    a = await second_binding(db, creator, clock, Channel.TELEGRAM)
    b = await second_binding(db, creator, clock, Channel.WHATSAPP)
    one = Chat(engine, a.id, user_id="1", channel=Channel.TELEGRAM)
    two = Chat(engine, b.id, user_id="whatsapp:+1", channel=Channel.WHATSAPP)
    three = Chat(engine, b.id, user_id="whatsapp:+2", channel=Channel.WHATSAPP)

    code = await code_from(one)
    clock.advance(timedelta(minutes=11))
    assert "doesn't work" in (await two.say(f"/link {code}"))[0]

    code = await code_from(one)
    assert "Link them?" in (await two.say(f"/link {code}"))[0]
    assert "doesn't work" in (await three.say(f"/link {code}"))[0]  # claimed by `two`
    assert "nothing was linked" in (await two.say("/link no"))[0]
    assert "no link waiting" in (await two.say("/link yes"))[0]
    assert "Link them?" in (await three.say(f"/link {code}"))[0]
    assert "Done!" in (await three.say("/link yes"))[0]
    assert "doesn't work" in (await two.say(f"/link {code}"))[0]  # used

    for _ in range(4):
        await two.say("/link 000000")
    assert "Too many wrong codes" in (await two.say("/link 123456"))[0]
    for _ in range(4):
        await one.say("/link")
    assert "try again in an hour" in (await one.say("/link"))[0]


async def test_merge_keeps_both_histories_and_opt_out(
    engine: Engine, db: Database, creator: Creator, clock: ManualClock
) -> None:
    tg, wa = await telegram_and_whatsapp(engine, db, creator, clock)
    await tg.say("/start")
    await wa.say("STOP")
    code = await code_from(tg)
    await wa.say(f"/link {code}")
    await wa.say("/link yes")
    async with db.sessions() as session:
        contact = await session.scalar(select(Contact))
        assert contact is not None
        assert contact.opted_out_at is not None
        texts = (await session.scalars(select(Message.text).order_by(Message.id))).all()
    assert "/start" in texts
    assert "STOP" in texts
    assert "Welcome back!" in (await tg.say("START"))[0]

    assert "now separate" in (await wa.say("/unlink"))[0]
    assert await contact_count(db) == 2
    assert "nothing to unlink" in (await wa.say("/unlink"))[0]


async def test_the_unlink_message_and_its_answer_start_the_fresh_history(
    engine: Engine, db: Database, creator: Creator, clock: ManualClock
) -> None:
    tg, wa = await telegram_and_whatsapp(engine, db, creator, clock)
    await tg.say("/start")
    await wa.say(f"/link {await code_from(tg)}")
    await wa.say("/link yes")
    await wa.say("/unlink")
    async with db.sessions() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.binding_id == wa.binding_id)
        )
        assert identity is not None
        rows = (
            await session.execute(
                select(Message.direction, Message.contact_id, Message.conversation_id)
                .where(Message.id >= select(func.max(Message.id) - 1).scalar_subquery())
                .order_by(Message.id)
            )
        ).all()
    inbound, answer = rows
    assert inbound.direction == "in"
    assert answer.direction == "out"
    # The /unlink itself moved with the turn to the WhatsApp side's fresh contact.
    assert inbound.contact_id == answer.contact_id == identity.contact_id
    assert inbound.conversation_id == answer.conversation_id
