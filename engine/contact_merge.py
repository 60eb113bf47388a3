"""Joining two contacts of one creator into one (after a confirmed link code), and detaching an
identity into a contact of its own. Everything is kept; where two rows cannot both stay, the
rule below decides, and history rows (step logs, check-ins, habit logs) follow the survivor.

Merging `source` into `target` (the contact that asked for the code):

- identities, conversations, messages, check-ins, link attempts and any other row that points at
  the contact (found through the foreign keys, so tables added later follow too) move over;
- conversations: if both have an open one, the source's is closed (its messages stay in it);
- enrollments, unique per (contact, program): when both were in the same program, the one
  still running wins over a finished one, else the most recently updated; the other's step log
  and check-ins are moved onto the winner and its row is dropped. When both run *different*
  programs, the target's most recently updated one keeps running and the other is paused, so
  `/leave` then `/resume` picks it up (one running program per contact);
- habits, goals and badges, unique per (contact, key): habits keep the target's row, gain the
  source's logs (one per day) and stay active if either was; a goal done on either side is done
  (earliest completion); a badge keeps its earliest award;
- the contact's fields: the target's, filled in from the source where empty; opted out if either
  is opted out now (consent given on one channel is not assumed for the other); first seen is
  the earlier, last seen the later.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.channel_models import LinkCode
from engine.contacts import lock_contact
from engine.db import Base
from engine.models import ChannelIdentity, Contact, Conversation
from programs import models as pm
from programs import store

RUNNING = ("active", "waiting_answer", "waiting_until", "scheduled", "paused")

# Tables this module merges by its own rules; every other contact foreign key is moved as is.
_SPECIAL = {"contacts", "enrollments", "habits", "goals", "badges", "conversations", "link_codes"}


async def merge_contacts(
    session: AsyncSession, source_id: int, target_id: int, now: datetime
) -> Contact:
    """Move everything of contact `source_id` onto `target_id` and delete the source; returns the
    target, locked. Both must belong to the same creator. Runs in the caller's transaction."""
    if source_id == target_id:
        raise ValueError("a contact cannot be merged into itself")
    first, second = sorted((source_id, target_id))  # one lock order: no deadlock between merges
    contacts = {
        first: await lock_contact(session, first),
        second: await lock_contact(session, second),
    }
    source, target = contacts[source_id], contacts[target_id]
    if source.creator_id != target.creator_id:
        raise ValueError("contacts of different creators cannot be merged")

    await _merge_enrollments(session, source_id, target_id, now)
    await _merge_keyed(session, source_id, target_id)
    await _merge_conversations(session, source_id, target_id, now)
    await session.execute(
        delete(LinkCode).where(LinkCode.contact_id == source_id, LinkCode.used_at.is_(None))
    )
    for table, column in _contact_references():
        await session.execute(
            update(table).where(table.c[column] == source_id).values({column: target_id})
        )
    _merge_fields(source, target)
    await session.flush()
    await session.execute(delete(Contact).where(Contact.id == source_id))
    session.expunge(source)
    return target


def _contact_references() -> list[tuple[Table, str]]:
    found = []
    for table in Base.metadata.sorted_tables:
        if table.name in _SPECIAL:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == "contacts" and fk.column.name == "id":
                found.append((table, fk.parent.name))
    return found


def _merge_fields(source: Contact, target: Contact) -> None:
    for name in ("display_name", "first_name", "locale", "timezone"):
        if not getattr(target, name) and getattr(source, name):
            setattr(target, name, getattr(source, name))
    if target.opted_out_at is None and source.opted_out_at is not None:
        target.opted_out_at = source.opted_out_at
    target.created_at = min(target.created_at, source.created_at)
    seen = [t for t in (target.last_seen_at, source.last_seen_at) if t is not None]
    target.last_seen_at = max(seen) if seen else None


async def _merge_conversations(
    session: AsyncSession, source_id: int, target_id: int, now: datetime
) -> None:
    target_open = await session.scalar(
        select(Conversation.id)
        .where(Conversation.contact_id == target_id, Conversation.status == "open")
        .limit(1)
    )
    if target_open is not None:
        await session.execute(
            update(Conversation)
            .execution_options(synchronize_session=False)
            .where(Conversation.contact_id == source_id, Conversation.status == "open")
            .values(status="closed", closed_at=now)
        )
    await session.execute(
        update(Conversation)
        .execution_options(synchronize_session=False)
        .where(Conversation.contact_id == source_id)
        .values(contact_id=target_id)
    )


def _rank(e: pm.Enrollment) -> tuple[bool, datetime]:
    return (e.status in RUNNING, e.updated_at)


async def _merge_enrollments(
    session: AsyncSession, source_id: int, target_id: int, now: datetime
) -> None:
    rows = (
        await session.scalars(
            select(pm.Enrollment)
            .where(pm.Enrollment.contact_id.in_((source_id, target_id)))
            .with_for_update()
        )
    ).all()
    by_program: dict[int, list[pm.Enrollment]] = {}
    for row in rows:
        by_program.setdefault(row.program_id, []).append(row)
    kept: list[pm.Enrollment] = []
    for pair in by_program.values():
        winner = max(pair, key=_rank)
        for loser in pair:
            if loser is winner:
                continue
            for model in (pm.StepLog, pm.Checkin):
                await session.execute(
                    update(model)
                    .execution_options(synchronize_session=False)
                    .where(model.enrollment_id == loser.id)
                    .values(enrollment_id=winner.id)
                )
            await session.delete(loser)
        kept.append(winner)
    await session.flush()  # the losers go first: (contact, program) is unique
    for winner in kept:
        winner.contact_id = target_id
    await session.flush()
    running = sorted((e for e in kept if e.status in RUNNING), key=_rank, reverse=True)
    for other in running[1:]:  # one running program per contact: the freshest goes on
        if other.status == "paused":
            continue
        state = store.state_of(other)
        paused = dataclasses.replace(
            state, status="paused", paused_status=state.status, paused_reason="coachee"
        )
        other.state, other.status, other.updated_at = paused.to_json(), "paused", now
        other.wait_until = None
    await session.flush()


_Keyed = pm.Habit | pm.Goal | pm.Badge


async def _merge_keyed(session: AsyncSession, source_id: int, target_id: int) -> None:
    models: tuple[type[pm.Habit] | type[pm.Goal] | type[pm.Badge], ...] = (
        pm.Habit,
        pm.Goal,
        pm.Badge,
    )
    for model in models:
        rows: list[_Keyed] = list(
            await session.scalars(select(model).where(model.contact_id.in_((source_id, target_id))))
        )
        ours = {r.key: r for r in rows if r.contact_id == target_id}
        for row in (r for r in rows if r.contact_id == source_id):
            mine = ours.get(row.key)
            if mine is None:
                row.contact_id = target_id
                continue
            if isinstance(row, pm.Habit) and isinstance(mine, pm.Habit):
                await _move_habit_logs(session, row.id, mine.id)
                mine.active = mine.active or row.active
            elif isinstance(row, pm.Goal) and isinstance(mine, pm.Goal) and row.status == "done":
                if mine.status != "done" or (
                    row.completed_at and mine.completed_at and row.completed_at < mine.completed_at
                ):
                    mine.status, mine.completed_at = "done", row.completed_at
            elif isinstance(row, pm.Badge) and isinstance(mine, pm.Badge):
                mine.awarded_at = min(mine.awarded_at, row.awarded_at)
            await session.delete(row)
        await session.flush()


async def _move_habit_logs(session: AsyncSession, from_habit: int, to_habit: int) -> None:
    taken = set(
        await session.scalars(
            select(pm.HabitLog.local_date).where(pm.HabitLog.habit_id == to_habit)
        )
    )
    for log in await session.scalars(select(pm.HabitLog).where(pm.HabitLog.habit_id == from_habit)):
        if log.local_date not in taken:
            log.habit_id = to_habit
            taken.add(log.local_date)
    await session.flush()


async def detach_identity(
    session: AsyncSession, identity: ChannelIdentity, now: datetime
) -> Contact | None:
    """Give `identity` a contact of its own (a copy of its contact's profile and opt-out state,
    without history). None when it is the contact's only identity: nothing to unlink."""
    count = len(
        (
            await session.scalars(
                select(ChannelIdentity.id).where(ChannelIdentity.contact_id == identity.contact_id)
            )
        ).all()
    )
    if count < 2:
        return None
    old = await lock_contact(session, identity.contact_id)
    fresh = Contact(
        creator_id=old.creator_id,
        display_name=identity.display_name or old.display_name,
        first_name=old.first_name,
        locale=old.locale,
        timezone=old.timezone,
        opted_out_at=old.opted_out_at,
        created_at=now,
        last_seen_at=now,
    )
    session.add(fresh)
    await session.flush()
    identity.contact_id = fresh.id
    await session.flush()
    return fresh
