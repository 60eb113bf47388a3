"""Creator-level re-engagement: a nudge after N silent days, and an evening reminder for a streak
about to break (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelBinding, Contact, Creator, Outbox
from engine.pipeline import Engine
from engine.scheduler import Scheduler
from engine.types import Channel
from programs import models as pm
from tests.delivery.conftest import RecordingQueue
from tests.delivery.fakes import FakeSender
from tests.transcript import Chat


async def housekeeping(engine: Engine, queue: RecordingQueue, clock: ManualClock) -> None:
    scheduler = Scheduler(engine.db, queue, clock)
    await scheduler.housekeeping()
    await scheduler.tick(housekeeping=False)
    await queue.run_all()


async def test_silent_contacts_get_one_nudge_per_silence(
    engine: Engine,
    db: Database,
    telegram: ChannelBinding,
    clock: ManualClock,
    queue: RecordingQueue,
    sender: FakeSender,
) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Creator).values(inactivity_days=3, inactivity_message="Miss you, {first_name}!")
        )
    chat = Chat(engine, telegram.id, user_id="11", name="Ana", channel=Channel.TELEGRAM)
    await chat.say("/start")
    clock.advance(timedelta(days=2))
    await housekeeping(engine, queue, clock)
    assert sender.sent == []  # two days is not yet silence
    clock.advance(timedelta(days=1, hours=1))
    await housekeeping(engine, queue, clock)
    await housekeeping(engine, queue, clock)
    assert [s.message.text for s in sender.sent] == ["Miss you, Ana!"]  # once, not twice
    await chat.say("hi again")  # a new silence starts
    clock.advance(timedelta(days=4))
    await housekeeping(engine, queue, clock)
    assert len(sender.sent) == 2


async def test_a_streak_about_to_break_gets_an_evening_reminder(
    engine: Engine,
    db: Database,
    telegram: ChannelBinding,
    clock: ManualClock,
    queue: RecordingQueue,
    sender: FakeSender,
) -> None:
    await Chat(engine, telegram.id, user_id="12", name="Ben", channel=Channel.TELEGRAM).say(
        "/start"
    )
    async with db.transaction() as session:
        await session.execute(update(Creator).values(streak_reminder_at="20:00"))
        contact = (await session.scalars(select(Contact))).one()
        habit = pm.Habit(
            contact_id=contact.id, key="walk", title="Evening walk", created_at=clock.now()
        )
        session.add(habit)
        await session.flush()
        today = clock.now().date()
        for back in (1, 2, 3):
            session.add(
                pm.HabitLog(
                    habit_id=habit.id,
                    local_date=today - timedelta(days=back),
                    logged_at=clock.now(),
                )
            )
    clock.set(datetime.combine(today, datetime.min.time(), clock.now().tzinfo).replace(hour=19))
    await housekeeping(engine, queue, clock)
    assert sender.sent == []  # before 20:00
    clock.set(clock.now().replace(hour=20, minute=30))
    await housekeeping(engine, queue, clock)
    await housekeeping(engine, queue, clock)
    assert [s.message.text for s in sender.sent] == [
        "Your 3-day streak for **Evening walk** is still alive. Have you done it today? "
        "Reply to your check-in when you have!"
    ]
    async with db.transaction() as session:  # logged today: no reminder the next evening either
        session.add(pm.HabitLog(habit_id=habit.id, local_date=today, logged_at=clock.now()))
    clock.set(clock.now().replace(hour=21))
    await housekeeping(engine, queue, clock)
    assert len(sender.sent) == 1
    async with db.sessions() as session:
        kinds = (await session.scalars(select(Outbox.kind))).all()
    assert kinds == ["reminder"]
