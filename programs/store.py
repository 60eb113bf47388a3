"""Programs in SQL: publishing versions, loading definitions, enrollments and their state, and the
coachee's facts. Works on ids; the engine supplies contacts, timezones and sessions."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypedDict

from sqlalchemy import bindparam, func, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer
from sqlalchemy.orm.attributes import set_committed_value

from engine.db import dialect_name, table_of, upsert_insert
from programs import definition as d
from programs import models as m
from programs.facts import Facts, GoalRecord, HabitRecord
from programs.runner import (
    AwardBadge,
    Effect,
    EnrollmentState,
    GoalChange,
    HabitChange,
    LogHabit,
    Outcome,
    RecordMetric,
)
from programs.validate import load_program

ACTIVE_STATUSES = ("active", "waiting_answer", "waiting_until")
# Written on every program turn and never read back in it: plain inserts, no ORM objects.
CHECKINS = table_of(m.Checkin)
STEP_LOG = table_of(m.StepLog)
ENROLLMENTS = table_of(m.Enrollment)
ADD_CHECKIN = insert(CHECKINS).values(
    contact_id=bindparam("ci_contact"),
    enrollment_id=bindparam("ci_enrollment"),
    metric=bindparam("ci_metric"),
    value=bindparam("ci_value"),
    unit=bindparam("ci_unit"),
    recorded_at=bindparam("ci_recorded_at"),
    local_date=bindparam("ci_local_date"),
)
ADD_STEP_LOG = insert(STEP_LOG).values(
    enrollment_id=bindparam("of_enrollment"),
    step=bindparam("log_step"),
    event=bindparam("log_event"),
    at=bindparam("log_at"),
)


class SavedState(TypedDict):
    """The enrollment columns a turn writes; the statement and its values are both built from
    it, so a column added here is written (mypy checks the values' keys)."""

    state: dict[str, Any]
    status: str
    cursor: str | None
    wait_until: datetime | None
    occurrence: int
    updated_at: datetime
    completed_at: datetime | None


# The enrollment's state after a turn (an UPDATE's parameters may not share a column's name).
SAVE_STATE = (
    update(ENROLLMENTS)
    .where(ENROLLMENTS.c.id == bindparam("of_enrollment"))
    .values({name: bindparam(f"new_{name}") for name in SavedState.__annotations__})
)
# PostgreSQL: the state, the step log and 0 or 1 check-in in one statement (data-modifying CTEs),
# one round trip where there were up to three. They touch different rows, so order is free.
SAVE_TURN = {
    0: ADD_STEP_LOG.add_cte(SAVE_STATE.cte("saved_state")),
    1: ADD_STEP_LOG.add_cte(SAVE_STATE.cte("saved_state"), ADD_CHECKIN.cte("saved_checkin")),
}


@dataclass(frozen=True)
class Published:
    program: m.Program
    version: m.ProgramVersion
    created: bool  # False: the same source was already the latest version


def checksum(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


PARSED_VERSIONS = 256  # parsed programs a process keeps, most recently used first
_parsed: OrderedDict[tuple[int, str], d.Program] = OrderedDict()
# Engine work runs on one event loop per process today; the lock keeps the cache safe if two
# threads ever parse at once, as functools.lru_cache (which this replaced) was.
_parsed_lock = threading.Lock()


def parsed(version: m.ProgramVersion) -> d.Program | None:
    """The version's parsed program if this process has it, without reading its source."""
    key = (version.id, version.checksum)
    with _parsed_lock:
        program = _parsed.get(key)
        if program is not None:
            _parsed.move_to_end(key)
        return program


def definition(version: m.ProgramVersion) -> d.Program:
    """The parsed program of a stored version (parsed once per process). Keyed by id and
    checksum: a version's source never changes, and a test database reusing an id has
    another checksum."""
    program = parsed(version)
    if program is None:
        program = load_program(version.source)
        with _parsed_lock:
            _parsed[(version.id, version.checksum)] = program
            while len(_parsed) > PARSED_VERSIONS:
                _parsed.popitem(last=False)
    return program


def forget_parsed() -> None:
    """Drop every parsed program (tests: a process that has parsed nothing yet)."""
    with _parsed_lock:
        _parsed.clear()


async def definition_to_run(session: AsyncSession, version: m.ProgramVersion) -> d.Program:
    """`definition`, for a version loaded without its source (`CURRENT_WITH_VERSION`): the
    source is read only when this process has not parsed the version yet."""
    program = parsed(version)
    if program is not None:
        return program
    if "source" in inspect(version).unloaded:
        await session.refresh(version, ["source"])
    return definition(version)


async def publish(
    session: AsyncSession,
    creator_id: int,
    source: str,
    now: datetime,
    creator_words: Iterable[str] = (),
) -> Published:
    """Validate and store `source` as the next version (raises ProgramInvalid). Publishing the
    same source as the latest version again creates nothing. `creator_words`: the creator's own
    opt-out and opt-in words, which no keyword may use."""
    program_def = load_program(source, creator_words)
    program = await session.scalar(
        select(m.Program).where(
            m.Program.creator_id == creator_id, m.Program.slug == program_def.slug
        )
    )
    if program is None:
        program = m.Program(
            creator_id=creator_id, slug=program_def.slug, title=program_def.title, created_at=now
        )
        session.add(program)
        await session.flush()
    latest = await latest_version(session, program.id)
    digest = checksum(source)
    if latest is not None and latest.checksum == digest:
        return Published(program, latest, created=False)
    version = m.ProgramVersion(
        program_id=program.id,
        version=(latest.version + 1) if latest else 1,
        source=source,
        checksum=digest,
        published_at=now,
    )
    program.title = program_def.title
    session.add(version)
    await session.flush()
    return Published(program, version, created=True)


async def latest_version(session: AsyncSession, program_id: int) -> m.ProgramVersion | None:
    return await session.scalar(
        select(m.ProgramVersion)
        .where(m.ProgramVersion.program_id == program_id)
        .order_by(m.ProgramVersion.version.desc())
        .limit(1)
    )


async def find_program(session: AsyncSession, creator_id: int, slug: str) -> m.Program | None:
    return await session.scalar(
        select(m.Program).where(m.Program.creator_id == creator_id, m.Program.slug == slug)
    )


async def latest_definitions(session: AsyncSession, creator_id: int) -> list[tuple[str, d.Program]]:
    """Each of the creator's programs, by slug, as its latest version defines it."""
    other = aliased(m.ProgramVersion)
    newest = (
        select(func.max(other.version)).where(other.program_id == m.Program.id).scalar_subquery()
    )
    rows = await session.execute(
        select(m.Program.slug, m.ProgramVersion)
        .join(m.ProgramVersion, m.ProgramVersion.program_id == m.Program.id)
        .where(m.Program.creator_id == creator_id, m.ProgramVersion.version == newest)
        .order_by(m.Program.slug)
    )
    return [(slug, definition(version)) for slug, version in rows]


@dataclass(frozen=True)
class ProgramSummary:
    slug: str
    title: str
    version: int
    active: int
    completed: int


async def list_programs(session: AsyncSession, creator_id: int) -> list[ProgramSummary]:
    programs = (
        await session.scalars(
            select(m.Program).where(m.Program.creator_id == creator_id).order_by(m.Program.slug)
        )
    ).all()
    out = []
    for program in programs:
        latest = await latest_version(session, program.id)
        counts = dict(
            (
                await session.execute(
                    select(m.Enrollment.status, func.count())
                    .where(m.Enrollment.program_id == program.id)
                    .group_by(m.Enrollment.status)
                )
            ).all()
        )
        active = sum(counts.get(s, 0) for s in (*ACTIVE_STATUSES, "paused"))
        out.append(
            ProgramSummary(
                program.slug,
                program.title,
                latest.version if latest else 0,
                active,
                counts.get("completed", 0),
            )
        )
    return out


# -- enrollments -------------------------------------------------------------------------------


async def enrollment_for(
    session: AsyncSession, contact_id: int, program_id: int
) -> m.Enrollment | None:
    return await session.scalar(
        select(m.Enrollment).where(
            m.Enrollment.contact_id == contact_id, m.Enrollment.program_id == program_id
        )
    )


# The contact's running (or paused) enrollment; built once, as it is asked on every turn.
CURRENT = (
    select(m.Enrollment)
    .where(
        m.Enrollment.contact_id == bindparam("contact_id"),
        m.Enrollment.status.in_((*ACTIVE_STATUSES, "paused")),
    )
    .order_by(m.Enrollment.updated_at.desc())
    .limit(1)
)
# A turn's query: the version without its source (a whole program, kilobytes read on every
# turn), which `definition_to_run` reads once per process. Reading it any other way raises
# at once (raiseload) instead of attempting a lazy load, which async sessions cannot do.
CURRENT_WITH_VERSION = (
    CURRENT.add_columns(m.ProgramVersion)
    .join(m.ProgramVersion, m.ProgramVersion.id == m.Enrollment.version_id)
    .options(defer(m.ProgramVersion.source, raiseload=True))
)


async def current_enrollment(session: AsyncSession, contact_id: int) -> m.Enrollment | None:
    """The contact's running (or paused) enrollment, if any: one at a time per contact."""
    return await session.scalar(CURRENT, {"contact_id": contact_id})


async def current_enrollment_with_version(
    session: AsyncSession, contact_id: int
) -> tuple[m.Enrollment, m.ProgramVersion] | None:
    """The current enrollment and its program version, in one query (for running it)."""
    row = (await session.execute(CURRENT_WITH_VERSION, {"contact_id": contact_id})).first()
    return (row[0], row[1]) if row is not None else None


def state_of(enrollment: m.Enrollment) -> EnrollmentState:
    return EnrollmentState.from_json(enrollment.state)


async def save_outcome(
    session: AsyncSession, enrollment: m.Enrollment, outcome: Outcome, now: datetime, tz_today: date
) -> None:
    """Persist the runner's new state and effects, and log the step reached.

    Core statements by primary key, the ORM object only told what was written (an ORM flush of
    the enrollment costs more than the round trip). On PostgreSQL a plain turn (at most one
    check-in, no other effect) is a single statement: the state, the check-in and the log line.
    """
    state = outcome.state
    completed_at = enrollment.completed_at
    if state.status == "completed" and completed_at is None:
        completed_at = now
    written: SavedState = {
        "state": state.to_json(),
        "status": state.status,
        "cursor": state.cursor,
        "wait_until": state.wait_until if state.status == "waiting_until" else None,
        "occurrence": state.occurrence,
        "updated_at": now,
        "completed_at": completed_at,
    }
    params: dict[str, Any] = {f"new_{name}": value for name, value in written.items()}
    params |= {
        "of_enrollment": enrollment.id,
        "log_step": state.cursor or "-",
        "log_event": state.status,
        "log_at": now,
    }
    readings = [e for e in outcome.effects if isinstance(e, RecordMetric)]
    others = [e for e in outcome.effects if not isinstance(e, RecordMetric)]
    if len(readings) <= 1 and dialect_name(session) == "postgresql":
        for effect in readings:
            params |= _checkin_params(enrollment.contact_id, enrollment.id, effect, now, tz_today)
        await session.execute(SAVE_TURN[len(readings)], params)
    else:
        await session.execute(SAVE_STATE, params)
        await session.execute(ADD_STEP_LOG, params)
        for effect in readings:
            await session.execute(
                ADD_CHECKIN,
                _checkin_params(enrollment.contact_id, enrollment.id, effect, now, tz_today),
            )
    for name, value in written.items():
        set_committed_value(enrollment, name, value)
    if others:
        await save_effects(session, enrollment.contact_id, enrollment.id, others, now, tz_today)


def _checkin_params(
    contact_id: int, enrollment_id: int | None, effect: RecordMetric, now: datetime, today: date
) -> dict[str, Any]:
    return {
        "ci_contact": contact_id,
        "ci_enrollment": enrollment_id,
        "ci_metric": effect.metric,
        "ci_value": effect.value,
        "ci_unit": effect.unit,
        "ci_recorded_at": now,
        "ci_local_date": today,
    }


async def save_effects(
    session: AsyncSession,
    contact_id: int,
    enrollment_id: int | None,
    effects: Sequence[Effect],
    now: datetime,
    today: date,
) -> None:
    for effect in effects:
        if isinstance(effect, RecordMetric):
            await session.execute(
                ADD_CHECKIN, _checkin_params(contact_id, enrollment_id, effect, now, today)
            )
        elif isinstance(effect, LogHabit):
            habit = await _habit(session, contact_id, effect.habit, effect.habit, now)
            await session.execute(
                upsert_insert(session, m.HabitLog)
                .values(habit_id=habit.id, local_date=today, logged_at=now)
                .on_conflict_do_nothing(index_elements=["habit_id", "local_date"])
            )
        elif isinstance(effect, HabitChange):
            habit = await _habit(session, contact_id, effect.habit, effect.title, now)
            habit.title, habit.active = effect.title, effect.active
        elif isinstance(effect, GoalChange):
            goal = await session.scalar(
                select(m.Goal).where(m.Goal.contact_id == contact_id, m.Goal.key == effect.goal)
            )
            if goal is None:
                goal = m.Goal(contact_id=contact_id, key=effect.goal, created_at=now)
                session.add(goal)
            goal.title, goal.status = effect.title, effect.status
            goal.completed_at = now if effect.status == "done" else None
        elif isinstance(effect, AwardBadge):
            await session.execute(
                upsert_insert(session, m.Badge)
                .values(contact_id=contact_id, key=effect.badge, title=effect.title, awarded_at=now)
                .on_conflict_do_nothing(index_elements=["contact_id", "key"])
            )
    await session.flush()


async def _habit(
    session: AsyncSession, contact_id: int, key: str, title: str, now: datetime
) -> m.Habit:
    habit = await session.scalar(
        select(m.Habit).where(m.Habit.contact_id == contact_id, m.Habit.key == key)
    )
    if habit is None:
        habit = m.Habit(contact_id=contact_id, key=key, title=title, created_at=now)
        session.add(habit)
        await session.flush()
    return habit


async def load_facts(session: AsyncSession, contact_id: int) -> Facts:
    facts = Facts()
    checkins = await session.scalars(
        select(m.Checkin)
        .where(m.Checkin.contact_id == contact_id)
        .order_by(m.Checkin.recorded_at, m.Checkin.id)
    )
    for checkin in checkins:
        facts.record_metric(checkin.metric, checkin.value, checkin.recorded_at, checkin.local_date)
    habits = (await session.scalars(select(m.Habit).where(m.Habit.contact_id == contact_id))).all()
    for habit in habits:
        facts.habits[habit.key] = HabitRecord(habit.title, habit.active)
    if habits:
        logs = await session.execute(
            select(m.Habit.key, m.HabitLog.local_date)
            .join(m.Habit, m.Habit.id == m.HabitLog.habit_id)
            .where(m.Habit.contact_id == contact_id)
        )
        for key, day in logs:
            facts.habits[key].days.add(day)
    for goal in await session.scalars(select(m.Goal).where(m.Goal.contact_id == contact_id)):
        facts.goals[goal.key] = GoalRecord(goal.title, goal.status)
    for badge in await session.scalars(select(m.Badge).where(m.Badge.contact_id == contact_id)):
        facts.badges[badge.key] = badge.title
    return facts


def _fits(program: d.Program, step_id: str, state: EnrollmentState) -> bool:
    """Whether an enrollment in `state` can sit on `step_id` of `program`: the step exists and
    is of a kind that waits the way the enrollment waits (for an answer, or for a time)."""
    step = program.steps.get(step_id)
    if step is None:
        return False
    waiting = state.paused_status if state.status == "paused" else state.status
    if waiting == "waiting_answer":
        return isinstance(step, (d.AskingStep, d.MessageStep)) and step.blocks
    if waiting == "waiting_until":
        return isinstance(step, d.WaitStep)
    return True


async def migrate_enrollments(
    session: AsyncSession,
    program: m.Program,
    to_version: m.ProgramVersion,
    step_map: dict[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move running enrollments of `program` onto `to_version`, which the creator asked for
    explicitly. A cursor on a step that no longer exists moves to `step_map[step]` when given;
    otherwise the enrollment is paused (reported, never silently broken)."""
    new_def = definition(to_version)
    moved, paused = 0, []
    rows = await session.scalars(
        select(m.Enrollment).where(
            m.Enrollment.program_id == program.id,
            m.Enrollment.version_id != to_version.id,
            m.Enrollment.status.in_((*ACTIVE_STATUSES, "paused")),
        )
    )
    for enrollment in rows:
        state = state_of(enrollment)
        target = (step_map or {}).get(state.cursor or "", state.cursor)
        if target is not None and not _fits(new_def, target, state):
            # Stay on the old version, paused, until a mapping says where to go.
            if state.status != "paused":
                state.paused_status, state.status = state.status, "paused"
                state.paused_reason = "migration"
            paused.append(enrollment.id)
        else:
            state.cursor = target
            if state.paused_reason == "migration":
                state.status, state.paused_status = state.paused_status or "active", None
                state.paused_reason = None
            enrollment.version_id = to_version.id
            moved += 1
        enrollment.state = state.to_json()
        enrollment.status, enrollment.cursor = state.status, state.cursor
        if now is not None:
            enrollment.updated_at = now
    return {"moved": moved, "paused": paused}
