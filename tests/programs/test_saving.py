"""Saving a runner's outcome (SQLite and PostgreSQL): the enrollment's state, its check-ins, the
step log and the other effects all land, and the session's object agrees with the row. On
PostgreSQL a plain turn (state, at most one check-in, the log line) is one statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select

from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelBinding
from programs import models as pm
from programs import store
from programs.runner import LogHabit, Outcome, RecordMetric
from tests.transcript import Chat

CHECKIN = """\
version: 1
slug: daily
title: Daily
steps:
  - id: mood
    kind: checkin
    metric: mood
    text: Mood, 1-10?
  - end: Bye.
"""


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def enrolled(chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock) -> int:
    async with db.transaction() as session:
        await store.publish(session, binding.creator_id, CHECKIN, clock.now())
    await chat.dialog(
        """
        > /join daily
        < Mood, 1-10?
        """
    )
    async with db.sessions() as session:
        return (await session.scalars(select(pm.Enrollment.id))).one()


async def save(db: Database, enrollment_id: int, clock: ManualClock, *effects: Any) -> None:
    async with db.transaction() as session:
        enrollment = await session.get(pm.Enrollment, enrollment_id)
        assert enrollment is not None
        state = replace(store.state_of(enrollment), status="completed", cursor="end-1")
        await store.save_outcome(
            session,
            enrollment,
            Outcome(state, effects=list(effects)),
            clock.now(),
            clock.now().date(),
        )
        # The object holds what was written, and nothing is left for a flush to write again.
        assert enrollment.status == "completed"
        assert enrollment.completed_at == clock.now()
        assert enrollment.state["status"] == "completed"
        assert not session.dirty


async def rows(db: Database, enrollment_id: int) -> tuple[Any, list[Any], list[Any]]:
    async with db.sessions() as session:
        enrollment = await session.get(pm.Enrollment, enrollment_id)
        checkins = [
            tuple(row)
            for row in await session.execute(
                select(pm.Checkin.metric, pm.Checkin.value).where(
                    pm.Checkin.enrollment_id == enrollment_id
                )
            )
        ]
        log = [
            tuple(row)
            for row in await session.execute(
                select(pm.StepLog.step, pm.StepLog.event)
                .where(pm.StepLog.enrollment_id == enrollment_id)
                .order_by(pm.StepLog.id)
            )
        ]
    return enrollment, checkins, log


async def test_a_plain_turn_saves_state_checkin_and_log(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    enrollment_id = await enrolled(chat, db, binding, clock)
    clock.advance(timedelta(minutes=5))
    with statements(db) as seen:
        await save(db, enrollment_id, clock, RecordMetric("mood", 7.0, None))
    enrollment, checkins, log = await rows(db, enrollment_id)
    assert enrollment is not None
    assert (enrollment.status, enrollment.cursor) == ("completed", "end-1")
    assert enrollment.completed_at == clock.now()
    assert enrollment.updated_at == clock.now()
    assert checkins == [("mood", 7.0)]
    assert log[-1] == ("end-1", "completed")
    writes = [s for s in seen if not s.lstrip().upper().startswith(("SELECT", "BEGIN", "COMMIT"))]
    if db.engine.dialect.name == "postgresql":
        assert len(writes) == 1, writes
    else:
        assert len(writes) == 3, writes  # SQLite has no data-modifying CTEs


async def test_several_readings_and_other_effects_are_all_saved(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    enrollment_id = await enrolled(chat, db, binding, clock)
    await save(
        db,
        enrollment_id,
        clock,
        RecordMetric("mood", 6.0, None),
        RecordMetric("sleep", 7.5, "h"),
        LogHabit("walk"),
    )
    enrollment, checkins, log = await rows(db, enrollment_id)
    assert enrollment is not None
    assert enrollment.status == "completed"
    assert sorted(checkins) == [("mood", 6.0), ("sleep", 7.5)]
    assert log[-1] == ("end-1", "completed")
    async with db.sessions() as session:
        habit = await session.scalar(select(pm.Habit).where(pm.Habit.key == "walk"))
        assert habit is not None
        logged = await session.scalar(select(pm.HabitLog).where(pm.HabitLog.habit_id == habit.id))
        assert logged is not None
        assert logged.local_date == clock.now().date()


LOOP = """\
version: 1
slug: loop
title: Loop
steps:
  - id: mood
    kind: checkin
    metric: mood
    text: Mood, 1-10?
  - message: Noted {{ answer }}.
    next: mood
"""


async def test_a_turn_reads_the_program_source_only_where_it_is_not_parsed_yet(
    chat: Chat, db: Database, binding: ChannelBinding, clock: ManualClock
) -> None:
    async with db.transaction() as session:
        await store.publish(session, binding.creator_id, LOOP, clock.now())
    await chat.dialog(
        """
        > /join loop
        < Mood, 1-10?
        """
    )
    with statements(db) as seen:
        await chat.dialog(
            """
            > 7
            < Noted 7.
            < Mood, 1-10?
            """
        )
    assert not [s for s in seen if "program_versions.source" in s]
    store.forget_parsed()  # as in a process that has not run this version yet
    with statements(db) as seen:
        await chat.dialog(
            """
            > 4
            < Noted 4.
            < Mood, 1-10?
            """
        )
    assert len([s for s in seen if "program_versions.source" in s]) == 1
