"""A creator's own opt-out and opt-in words: they work like STOP and START for that creator's
coachees (nothing proactive is sent after them), the defaults stay in force, and another
creator's coachees are not affected (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from engine.bindings import terminal_binding
from engine.clock import ManualClock
from engine.creator_settings import FieldError, update_settings
from engine.creators import create_creator, own_keywords
from engine.db import Database
from engine.models import ChannelBinding, Contact, Creator, Message
from engine.pipeline import Engine
from programs import store
from programs.parse import ProgramInvalid
from tests.delivery.conftest import RecordingQueue
from tests.delivery.fakes import FakeSender
from tests.delivery.test_scheduling import join, outbox_rows, run
from tests.transcript import Chat

OPTED_OUT = (
    "Done. Coach Maya won't send you any more reminders or check-ins...Send START anytime..."
)
BACK_IN = "Welcome back! Coach Maya will send your reminders and check-ins again..."
NO_MATERIAL = "I can't answer questions yet..."


async def set_words(db: Database, creator_id: int, opt_out: str, opt_in: str = "") -> None:
    async with db.transaction() as session:
        await update_settings(
            session, creator_id, {"opt_out_words": opt_out, "opt_in_words": opt_in}
        )


async def test_a_creators_word_opts_out_and_nothing_proactive_follows(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    await set_words(db, telegram.creator_id, "pause coaching, unsubscribe me")
    chat = await join(engine, db, telegram, clock)
    await chat.dialog(f"""
        > Pause coaching!
        < {OPTED_OUT}
    """)  # fmt: skip
    clock.advance(timedelta(hours=1))
    await run(engine, queue, clock)
    assert sender.sent == []
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason) == ("skipped", "opted_out")
    async with db.sessions() as session:
        routes = (await session.scalars(
            select(Message.route).where(Message.direction == "in").order_by(Message.id)
        )).all()  # fmt: skip
    assert routes[-1] == "opt_out"


async def test_defaults_stay_and_other_creators_are_not_affected(
    engine: Engine, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    await set_words(db, binding.creator_id, "pause coaching", "ready again")
    async with db.transaction() as session:
        lena = await create_creator(
            session, slug="lena", name="Lena Fischer", email="lena@example.com", password=None,
            bot_name="Coach Lena", now=clock.now(),
        )  # fmt: skip
        lenas_binding = await terminal_binding(session, lena, clock.now())

    maya = Chat(engine, binding.id, user_id="sam")
    await maya.dialog(f"""
        > pause  coaching
        < {OPTED_OUT}
        > ready again!
        < {BACK_IN}
        > STOP
        < {OPTED_OUT}
        > START
        < {BACK_IN}
        > I want to pause coaching for a bit
        < {NO_MATERIAL}
    """)  # fmt: skip

    other = Chat(engine, lenas_binding.id, user_id="kim")
    await other.dialog(f"""
        > pause coaching
        < {NO_MATERIAL}
        > Stop
        < Done. Coach Lena won't send you any more reminders...
        > ready again
        < {NO_MATERIAL}
    """)  # fmt: skip
    async with db.sessions() as session:
        opted = dict((await session.execute(
            select(Creator.slug, Contact.opted_out_at).join(Creator, Contact.creator_id == Creator.id)
        )).all())  # fmt: skip
    assert opted["maya"] is None
    assert opted["lena"] is not None


async def test_words_edited_by_hand_still_match_normalized(
    engine: Engine, db: Database, binding: ChannelBinding
) -> None:
    """Stored lists are normalized by the settings service; a row written by other means (an
    operator's SQL) is normalized when matched."""
    async with db.transaction() as session:
        await session.execute(update(Creator).values(opt_out_words=["Take A Break!"]))
    chat = Chat(engine, binding.id)
    await chat.dialog(f"""
        > take a break
        < {OPTED_OUT}
    """)  # fmt: skip


JUMPING_PROGRAM = """\
version: 1
slug: breaks
title: Breaks
keywords:
  pause: rest
steps:
  - id: hello
    message: "Hello!"
  - id: rest
    message: "Take five."
"""


async def test_a_word_and_a_program_keyword_cannot_collide(
    db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    """Whichever comes second is refused with the word named: a custom opt-out word equal to a
    program's jump keyword would silently win, and the jump could never happen."""
    async with db.transaction() as session:
        await store.publish(session, binding.creator_id, JUMPING_PROGRAM, clock.now())
    with pytest.raises(FieldError, match="'pause' is a keyword of your program 'breaks'"):
        await set_words(db, binding.creator_id, "Pause!")
    with pytest.raises(FieldError, match="opt-in words: 'pause'"):
        await set_words(db, binding.creator_id, "", "pause")
    await set_words(db, binding.creator_id, "take a break")  # unrelated words are fine

    changed = JUMPING_PROGRAM.replace("pause: rest", "take a break: rest")
    async with db.transaction() as session:
        creator = await session.get(Creator, binding.creator_id)
        assert creator is not None
        with pytest.raises(ProgramInvalid) as refused:
            await store.publish(session, creator.id, changed, clock.now(), own_keywords(creator))
    [problem] = refused.value.problems
    assert problem.line == 5  # the keyword's own line
    assert "one of your own opt-out or opt-in words" in problem.message
