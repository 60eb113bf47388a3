"""Unanswered questions: a nudge after a while, a timeout that pauses or moves on, and a re-ask
before WhatsApp's 24-hour window closes (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelBinding
from engine.pipeline import Engine
from engine.types import Channel
from programs import models as pm
from tests.delivery.conftest import RecordingQueue
from tests.delivery.fakes import FakeSender
from tests.delivery.test_scheduling import join, run

CHECKIN = """\
version: 1
slug: nudges
title: Check-in
whatsapp_reask: true
keywords: {later: other}
steps:
  - message: Welcome
  - id: mood
    kind: checkin
    metric: mood
    text: How is your mood, 1-5?
    answer: scale 1-5
    nudge: {after: 4h, text: "Still there, {{ contact.first_name }}? Mood 1-5?"}
    timeout: {after: 1d, then: THEN}
  - end: "Thanks, logged {{ metrics.mood.last }}."
  - id: other
    end: We'll try again another day.
"""


async def status(db: Database) -> str:
    async with db.sessions() as session:
        return (await session.scalars(select(pm.Enrollment.status))).one()


async def test_a_nudge_then_a_pause_and_an_answer_picks_it_up_again(
    engine: Engine,
    db: Database,
    telegram: ChannelBinding,
    clock: ManualClock,
    queue: RecordingQueue,
    sender: FakeSender,
) -> None:
    chat = await join(engine, db, telegram, clock, source=CHECKIN.replace("THEN", "pause"))
    assert chat.last is not None
    assert chat.last.texts[-1] == "How is your mood, 1-5?"
    clock.advance(timedelta(hours=4))
    await run(engine, queue, clock)
    assert [s.message.text for s in sender.sent] == ["Still there, Sam? Mood 1-5?"]
    assert len(sender.sent[0].message.choices) == 0 or sender.sent[0].message.choices
    clock.advance(timedelta(hours=20))
    await run(engine, queue, clock)
    assert await status(db) == "paused"
    assert len(sender.sent) == 1  # pausing sends nothing
    clock.advance(timedelta(days=2))
    assert await chat.say("4") == ["Thanks, logged 4."]  # a late answer picks it up again
    assert await status(db) == "completed"


async def test_an_answer_before_the_nudge_cancels_it(
    engine: Engine,
    db: Database,
    telegram: ChannelBinding,
    clock: ManualClock,
    queue: RecordingQueue,
    sender: FakeSender,
) -> None:
    chat = await join(engine, db, telegram, clock, source=CHECKIN.replace("THEN", "pause"))
    clock.advance(timedelta(hours=1))
    await chat.say("5")
    clock.advance(timedelta(days=2))
    await run(engine, queue, clock)
    assert sender.sent == []
    assert await status(db) == "completed"


async def test_a_timeout_can_move_on_to_another_step(
    engine: Engine,
    db: Database,
    telegram: ChannelBinding,
    clock: ManualClock,
    queue: RecordingQueue,
    sender: FakeSender,
) -> None:
    await join(engine, db, telegram, clock, source=CHECKIN.replace("THEN", "other"))
    clock.advance(timedelta(days=1))
    await run(engine, queue, clock)
    assert [s.message.text for s in sender.sent][-1] == "We'll try again another day."
    assert await status(db) == "completed"


async def test_whatsapp_reask_an_hour_before_the_window_closes(
    engine: Engine,
    db: Database,
    whatsapp: ChannelBinding,
    clock: ManualClock,
    queue: RecordingQueue,
    sender: FakeSender,
) -> None:
    source = CHECKIN.replace("THEN", "pause").replace("nudge: {after: 4h", "nudge: {after: 30h")
    await join(
        engine, db, whatsapp, clock, channel=Channel.WHATSAPP, user="whatsapp:+1", source=source
    )
    clock.advance(timedelta(hours=23))
    await run(engine, queue, clock)
    (reask,) = sender.sent
    assert reask.message.text == "Still there, Sam? Mood 1-5?"
    assert reask.template is None  # still inside the window: free text


async def test_no_reask_when_the_person_wrote_since(
    engine: Engine,
    db: Database,
    whatsapp: ChannelBinding,
    clock: ManualClock,
    queue: RecordingQueue,
    sender: FakeSender,
) -> None:
    source = CHECKIN.replace("THEN", "pause").replace("nudge: {after: 4h", "nudge: {after: 30h")
    chat = await join(
        engine, db, whatsapp, clock, channel=Channel.WHATSAPP, user="whatsapp:+1", source=source
    )
    clock.advance(timedelta(hours=10))
    await chat.say("/help")  # wrote since: the window is open again, nothing to re-ask
    clock.advance(timedelta(hours=13))
    await run(engine, queue, clock)
    assert sender.sent == []
