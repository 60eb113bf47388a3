"""Programs through the real engine and database (SQLite and PostgreSQL): joining, answering,
side questions, keywords, pause/resume, due wake-ups, versions and migration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.db import Database
from engine.enrollment import fire_due
from engine.models import ChannelBinding, Contact, Creator
from engine.pipeline import Engine
from programs import models as pm
from programs import store
from tests.transcript import Chat

SLEEP_V1 = """\
version: 1
slug: sleep
title: Sleep Basics
keywords:
  sos: support
steps:
  - message: "Welcome, {{ contact.first_name }}!"
  - id: bedtime
    kind: question
    text: When do you usually go to bed?
    answer: time
    store: bedtime
  - message: "Got it: {{ bedtime }}."
  - id: rest
    wait: next day at 08:00
  - id: rating
    kind: checkin
    metric: sleep
    text: How did you sleep, 1-10?
  - end: "Thanks! Logged {{ metrics.sleep.last | int }}."
  - id: support
    message: You can always reach Maya at maya@example.com.
    next: rest
"""


async def publish(db: Database, binding: ChannelBinding, source: str, clock: ManualClock) -> int:
    async with db.transaction() as session:
        result = await store.publish(session, binding.creator_id, source, clock.now())
        return result.version.version


async def test_join_answer_side_question_and_keyword(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    await publish(db, binding, SLEEP_V1, clock)
    await chat.dialog(
        """
        > /programs
        < Programs you can join:...- **Sleep Basics**: /join sleep
        > /join sleep
        < Welcome, Sam!
        < When do you usually go to bed?
        > What should I eat before bed?
        < I can't answer questions yet...
        < Back to our question: When do you usually go to bed?
        > whenever
        < Sorry, please send a time like 07:30.
        > half past 10
        < Got it: 10:30.
        > sos
        < You can always reach Maya at maya@example.com.
        > /join sleep
        < I can't do that: already in the program 'Sleep Basics'. Send /leave first if you want to switch.
        """
    )
    async with db.sessions() as session:
        enrollment = (await session.scalars(select(pm.Enrollment))).one()
    assert enrollment.status == "waiting_until"
    assert enrollment.state["variables"] == {"bedtime": "10:30"}


async def test_a_due_wait_fires_once_at_its_time(
    chat: Chat, engine: Engine, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    await publish(db, binding, SLEEP_V1, clock)
    await chat.say("/join sleep")
    await chat.say("23:00")
    async with db.sessions() as session:
        enrollment = (await session.scalars(select(pm.Enrollment))).one()
    assert enrollment.wait_until is not None
    async with db.transaction() as session:  # too early: nothing
        _, messages = await fire_due(
            session, enrollment.id, enrollment.wait_until - timedelta(seconds=1)
        )
    assert messages == []
    async with db.transaction() as session:
        _, messages = await fire_due(session, enrollment.id, enrollment.wait_until)
    assert [m.text for m in messages] == ["How did you sleep, 1-10?"]
    async with db.transaction() as session:  # a second delivery of the same wake-up: nothing
        _, again = await fire_due(session, enrollment.id, enrollment.wait_until)
    assert again == []
    clock.set(enrollment.wait_until + timedelta(minutes=3))
    await chat.dialog("> 8\n< Thanks! Logged 8.")
    async with db.sessions() as session:
        checkins = (await session.scalars(select(pm.Checkin))).all()
        done = (await session.scalars(select(pm.Enrollment))).one()
    assert [(c.metric, c.value) for c in checkins] == [("sleep", 8.0)]
    assert done.status == "completed"
    assert done.completed_at is not None


async def test_skipwait_pause_resume_and_leave(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    await publish(db, binding, SLEEP_V1, clock)
    await chat.dialog(
        """
        > /join sleep
        < Welcome, Sam!
        < When do you usually go to bed?
        > 22:45
        < Got it: 22:45.
        > /pause
        < Paused. Nothing from your program until you send /resume.
        > /resume
        < Your program is running; I'll be in touch at the next step.
        > /skipwait
        < (skipped ahead)
        < How did you sleep, 1-10?
        > /leave
        < You've left Sleep Basics. You can /join it again anytime.
        > /skipwait
        < Nothing to skip: your program isn't waiting.
        > /join sleep
        < Welcome, Sam!
        < When do you usually go to bed?
        """
    )


async def test_a_wait_that_ended_during_a_pause_fires_on_resume(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    await publish(db, binding, SLEEP_V1, clock)
    await chat.say("/join sleep")
    await chat.say("22:00")
    await chat.say("/pause")
    clock.advance(timedelta(days=1))  # the 08:00 (creator's zone: UTC) wake-up passes while
    clock.set(clock.now().replace(hour=8, minute=30))  # paused; resumed half an hour later
    await chat.dialog("> /resume\n< Welcome back!\n< How did you sleep, 1-10?")


async def test_skipwait_is_only_for_the_terminal(
    engine: Engine, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    from engine.bindings import create_binding
    from engine.types import Channel

    async with db.transaction() as session:
        creator = await session.get(Creator, binding.creator_id)
        assert creator is not None
        web = await create_binding(session, creator, Channel.WEB, name="widget", now=clock.now())
    visitor = Chat(engine, web.id, channel=Channel.WEB)
    assert (await visitor.say("/skipwait"))[0].startswith("I don't know the command")


async def test_new_versions_leave_running_coachees_on_theirs(
    engine: Engine, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    await publish(db, binding, SLEEP_V1, clock)
    people = [Chat(engine, binding.id, user_id=f"p{i}", name=f"P{i}") for i in range(3)]
    for person in people:
        await person.say("/join sleep")
    v2 = SLEEP_V1.replace("When do you usually go to bed?", "What time is lights-out for you?")
    v2 = v2.replace('"Got it: {{ bedtime }}."', '"Lovely, {{ bedtime }} it is."')
    assert await publish(db, binding, v2, clock) == 2
    assert await publish(db, binding, v2, clock) == 2  # unchanged source: no new version
    for person in people:  # mid-program on v1: v1's texts continue
        assert await person.say("21:30") == ["Got it: 21:30."]
    newcomer = Chat(engine, binding.id, user_id="new", name="Nia")
    assert await newcomer.say("/join sleep") == [
        "Welcome, Nia!",
        "What time is lights-out for you?",
    ]
    async with db.sessions() as session:
        rows = await session.execute(
            select(pm.Enrollment.contact_id, pm.ProgramVersion.version).join(pm.ProgramVersion)
        )
        versions = dict(rows.all())
    assert sorted(versions.values()) == [1, 1, 1, 2]


async def test_migrating_moves_people_and_pauses_those_on_removed_steps(
    engine: Engine, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    await publish(db, binding, SLEEP_V1, clock)
    waiting, asking = Chat(engine, binding.id, user_id="w"), Chat(engine, binding.id, user_id="a")
    await waiting.say("/join sleep")
    await waiting.say("22:00")  # now on step "rest"
    await asking.say("/join sleep")  # on step "bedtime"
    v2 = SLEEP_V1.replace("  - id: bedtime\n", "  - id: lights_out\n")
    await publish(db, binding, v2, clock)
    async with db.transaction() as session:
        program = (await session.scalars(select(pm.Program))).one()
        latest = await store.latest_version(session, program.id)
        assert latest is not None
        result = await store.migrate_enrollments(session, program, latest, now=clock.now())
    assert result["moved"] == 1
    assert len(result["paused"]) == 1
    async with db.transaction() as session:
        program = (await session.scalars(select(pm.Program))).one()
        latest = await store.latest_version(session, program.id)
        assert latest is not None
        result = await store.migrate_enrollments(
            session, program, latest, {"bedtime": "lights_out"}, clock.now()
        )
    assert result == {"moved": 1, "paused": []}
    async with db.sessions() as session:
        statuses = (
            await session.scalars(select(pm.Enrollment.status).order_by(pm.Enrollment.id))
        ).all()
        on_latest = await session.scalar(
            select(func.count())
            .select_from(pm.Enrollment)
            .where(pm.Enrollment.version_id == latest.id)
        )
    assert on_latest == 2
    assert statuses == ["waiting_until", "waiting_answer"]  # back where they were, on v2


async def test_each_turn_is_rebuilt_from_storage(
    db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    """A new engine (a restarted process) for every message gives the same conversation."""
    await publish(db, binding, SLEEP_V1, clock)
    script = ["/join sleep", "what is deep sleep?", "11pm", "sos", "/skipwait", "9"]

    async def run(user: str, fresh_engine_each_turn: bool) -> list[list[str]]:
        engine = Engine(db, clock=clock)
        replies = []
        for line in script:
            if fresh_engine_each_turn:
                engine = Engine(db, clock=clock)
            replies.append(await Chat(engine, binding.id, user_id=user, name="Sam").say(line))
        return replies

    assert await run("steady", False) == await run("restarted", True)
    async with db.sessions() as session:
        contacts = await session.scalar(select(func.count()).select_from(Contact))
    assert contacts == 2


async def test_restart_and_skip_to_a_step(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    from engine.enrollment import EnrollmentError, restart, skip_to

    await publish(db, binding, SLEEP_V1, clock)
    await chat.say("/join sleep")
    await chat.say("22:00")
    async with db.transaction() as session:
        enrollment = (await session.scalars(select(pm.Enrollment))).one()
        messages = await skip_to(session, enrollment.id, "rating", clock.now())
    assert [m.text for m in messages] == ["How did you sleep, 1-10?"]
    async with db.transaction() as session:
        with pytest.raises(EnrollmentError, match="no step 'no-such-step'"):
            await skip_to(session, enrollment.id, "no-such-step", clock.now())
    async with db.transaction() as session:
        creator = await session.get(Creator, binding.creator_id)
        contact = (await session.scalars(select(Contact))).one()
        assert creator is not None
        again = await restart(session, creator, contact, clock.now())
    assert [m.text for m in again] == ["Welcome, Sam!", "When do you usually go to bed?"]
    async with db.sessions() as session:
        restarted = (await session.scalars(select(pm.Enrollment))).one()
    assert restarted.state["variables"] == {}


async def test_migration_pauses_people_whose_step_changed_kind(
    engine: Engine, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    await publish(db, binding, SLEEP_V1, clock)
    person = Chat(engine, binding.id, user_id="k")
    await person.say("/join sleep")  # waiting for an answer on "bedtime"
    v2 = SLEEP_V1.replace(
        "  - id: bedtime\n    kind: question\n    text: When do you usually go to bed?\n    answer: time\n    store: bedtime\n",
        "  - id: bedtime\n    wait: 1h\n",
    ).replace("Got it: {{ bedtime }}.", "Got it.")
    await publish(db, binding, v2, clock)
    async with db.transaction() as session:
        program = (await session.scalars(select(pm.Program))).one()
        latest = await store.latest_version(session, program.id)
        assert latest is not None
        result = await store.migrate_enrollments(session, program, latest, now=clock.now())
    assert result["moved"] == 0
    assert len(result["paused"]) == 1


async def test_a_keyword_with_punctuation_matches_what_people_type(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    await publish(
        db, binding, SLEEP_V1.replace("  sos: support", '  "can\'t sleep": support'), clock
    )
    await chat.say("/join sleep")
    assert await chat.say("Can't sleep!") == ["You can always reach Maya at maya@example.com."]
