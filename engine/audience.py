"""A creator's audience as the hub and the REST API show it: contacts with their channels,
program, step, last activity and streak; one contact's transcript and check-in series; tags
(the segments of a broadcast); conversations flagged for the coach.

Every function takes the creator's id and filters on it: a contact id of another creator
reads as "not found", never as someone else's data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, BigId
from engine.models import ChannelIdentity, Contact, Conversation, Message, Outbox
from programs import models as pm
from programs.facts import streak
from programs.store import ACTIVE_STATUSES

MAX_TAG = 40
DECLINE_MARK = "isn't covered in"  # in the free-question decline (engine.answering)


class ContactTag(Base):
    """A label the coach puts on a contact ("vip", "cohort-3"): a broadcast segment."""

    __tablename__ = "contact_tags"

    contact_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(MAX_TAG), primary_key=True)


class NotFound(LookupError):
    """No such object in this creator's workspace."""


@dataclass
class ContactRow:
    id: int
    name: str
    channels: list[str]
    program: str | None
    step: str | None
    status: str | None
    last_active: datetime | None
    streak: int
    tags: list[str] = field(default_factory=list)
    opted_out: bool = False
    flagged: str | None = None
    handoff: bool = False


def display(contact: Contact) -> str:
    return contact.display_name or contact.first_name or f"Contact {contact.id}"


async def get_contact(session: AsyncSession, creator_id: int, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.creator_id != creator_id:
        raise NotFound(f"no contact {contact_id}")
    return contact


async def list_contacts(
    session: AsyncSession,
    creator_id: int,
    *,
    today: date,
    limit: int = 50,
    offset: int = 0,
    search: str | None = None,
    contact_id: int | None = None,
) -> list[ContactRow]:
    """Contacts, flagged and handed-off conversations first, then the most recently active."""
    open_conv = (
        select(Conversation)
        .where(Conversation.creator_id == creator_id, Conversation.status == "open")
        .subquery()
    )
    query = (
        select(Contact, open_conv.c.flag_reason, open_conv.c.handoff_active)
        .outerjoin(open_conv, open_conv.c.contact_id == Contact.id)
        .where(Contact.creator_id == creator_id)
        .order_by(
            open_conv.c.flagged_at.is_(None),
            Contact.last_seen_at.desc().nulls_last(),
            Contact.id.desc(),
        )
        .limit(limit)
        .offset(offset)
    )
    if contact_id is not None:
        query = query.where(Contact.id == contact_id)
    if search:
        query = query.where(func.lower(Contact.display_name).contains(search.lower()))
    rows = (await session.execute(query)).all()
    ids = [c.id for c, _, _ in rows]
    channels = await _channels(session, ids)
    programs = await _current_programs(session, ids)
    streaks = await streaks_for(session, ids, today)
    tags = await tags_for(session, ids)
    out = []
    for contact, flag, handoff in rows:
        program = programs.get(contact.id)
        out.append(
            ContactRow(
                id=contact.id,
                name=display(contact),
                channels=channels.get(contact.id, []),
                program=program[0] if program else None,
                step=program[1] if program else None,
                status=program[2] if program else None,
                last_active=contact.last_seen_at,
                streak=streaks.get(contact.id, 0),
                tags=tags.get(contact.id, []),
                opted_out=contact.opted_out_at is not None,
                flagged=flag,
                handoff=bool(handoff),
            )
        )
    return out


async def count_contacts(session: AsyncSession, creator_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).where(Contact.creator_id == creator_id)) or 0
    )


async def _channels(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(ChannelIdentity.contact_id, ChannelIdentity.channel)
            .where(ChannelIdentity.contact_id.in_(ids))
            .order_by(ChannelIdentity.id)
        )
        for contact_id, channel in rows:
            if channel not in found[contact_id]:
                found[contact_id].append(channel)
    return found


async def _current_programs(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, tuple[str, str | None, str]]:
    found: dict[int, tuple[str, str | None, str]] = {}
    if ids:
        rows = await session.execute(
            select(pm.Enrollment.contact_id, pm.Program.title, pm.Enrollment.cursor)
            .add_columns(pm.Enrollment.status)
            .join(pm.Program, pm.Program.id == pm.Enrollment.program_id)
            .where(pm.Enrollment.contact_id.in_(ids))
            .order_by(pm.Enrollment.updated_at)
        )
        for contact_id, title, cursor, status in rows:
            running = status in (*ACTIVE_STATUSES, "paused")
            if running or contact_id not in found:
                found[contact_id] = (title, cursor, status)
    return found


async def streaks_for(session: AsyncSession, ids: Sequence[int], today: date) -> dict[int, int]:
    """The longest current streak of each contact, over their check-in metrics and habits."""
    if not ids:
        return {}
    since = today - timedelta(days=120)
    days: dict[tuple[int, str], set[date]] = defaultdict(set)
    checkins = await session.execute(
        select(pm.Checkin.contact_id, pm.Checkin.metric, pm.Checkin.local_date).where(
            pm.Checkin.contact_id.in_(ids), pm.Checkin.local_date >= since
        )
    )
    for contact_id, metric, day in checkins:
        days[(contact_id, "m:" + metric)].add(day)
    habits = await session.execute(
        select(pm.Habit.contact_id, pm.Habit.key, pm.HabitLog.local_date)
        .join(pm.HabitLog, pm.HabitLog.habit_id == pm.Habit.id)
        .where(pm.Habit.contact_id.in_(ids), pm.HabitLog.local_date >= since)
    )
    for contact_id, key, day in habits:
        days[(contact_id, "h:" + key)].add(day)
    best: dict[int, int] = {}
    for (contact_id, _), logged in days.items():
        best[contact_id] = max(best.get(contact_id, 0), streak(logged, today))
    return best


async def tags_for(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(ContactTag.contact_id, ContactTag.tag)
            .where(ContactTag.contact_id.in_(ids))
            .order_by(ContactTag.tag)
        )
        for contact_id, tag in rows:
            found[contact_id].append(tag)
    return found


def clean_tags(raw: str) -> list[str]:
    """ "vip, Cohort 3" → ["cohort-3", "vip"]: lower case, hyphens for spaces, deduplicated."""
    tags = set()
    for part in raw.split(","):
        tag = "-".join(part.strip().lower().split())[:MAX_TAG]
        if tag:
            tags.add(tag)
    return sorted(tags)


async def set_tags(
    session: AsyncSession, creator_id: int, contact_id: int, tags: Sequence[str]
) -> None:
    await get_contact(session, creator_id, contact_id)
    await session.execute(delete(ContactTag).where(ContactTag.contact_id == contact_id))
    session.add_all(ContactTag(contact_id=contact_id, tag=t) for t in tags)


async def transcript(
    session: AsyncSession, creator_id: int, contact_id: int, limit: int = 300
) -> list[Message]:
    """The contact's messages on every channel, oldest first (the last `limit`)."""
    await get_contact(session, creator_id, contact_id)
    rows = (
        await session.scalars(
            select(Message)
            .where(Message.contact_id == contact_id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
    ).all()
    return list(reversed(rows))


async def checkin_series(
    session: AsyncSession, creator_id: int, contact_id: int
) -> dict[str, list[tuple[date, float]]]:
    """Each check-in metric of the contact as (local date, value) points."""
    await get_contact(session, creator_id, contact_id)
    series: dict[str, list[tuple[date, float]]] = defaultdict(list)
    rows = await session.execute(
        select(pm.Checkin.metric, pm.Checkin.local_date, pm.Checkin.value)
        .where(pm.Checkin.contact_id == contact_id)
        .order_by(pm.Checkin.recorded_at)
    )
    for metric, day, value in rows:
        series[metric].append((day, float(value)))
    return dict(series)


async def open_conversation_of(
    session: AsyncSession, creator_id: int, contact_id: int
) -> Conversation | None:
    await get_contact(session, creator_id, contact_id)
    return await session.scalar(
        select(Conversation)
        .where(Conversation.contact_id == contact_id, Conversation.status == "open")
        .order_by(Conversation.id.desc())
        .limit(1)
    )


@dataclass
class Flagged:
    contact_id: int
    name: str
    reason: str  # crisis | unanswered (repeated "I don't know")
    at: datetime | None


async def flagged(session: AsyncSession, creator_id: int, *, repeated: int = 2) -> list[Flagged]:
    """Conversations the coach should look at first: crisis flags, then open conversations
    where the bot declined `repeated` or more questions."""
    found: list[Flagged] = []
    crisis = await session.execute(
        select(Conversation, Contact)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.creator_id == creator_id, Conversation.flagged_at.is_not(None))
        .order_by(Conversation.flagged_at.desc())
        .limit(50)
    )
    seen = set()
    for conversation, contact in crisis:
        seen.add(contact.id)
        found.append(
            Flagged(
                contact.id,
                display(contact),
                conversation.flag_reason or "flag",
                conversation.flagged_at,
            )
        )
    declines = await session.execute(
        select(Message.contact_id, func.count(), func.max(Message.created_at))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.creator_id == creator_id,
            Conversation.status == "open",
            Message.direction == "out",
            Message.route == "free_question",
            Message.text.contains(DECLINE_MARK),
        )
        .group_by(Message.contact_id)
        .having(func.count() >= repeated)
    )
    for contact_id, _count, at in declines:
        if contact_id in seen:
            continue
        person = await session.get(Contact, contact_id)
        if person is not None:
            found.append(Flagged(contact_id, display(person), "unanswered", at))
    return found


async def identities(
    session: AsyncSession, creator_id: int, contact_id: int
) -> list[ChannelIdentity]:
    await get_contact(session, creator_id, contact_id)
    rows = await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.contact_id == contact_id)
        .order_by(ChannelIdentity.id)
    )
    return list(rows)


async def outbox_problems(
    session: AsyncSession, creator_id: int, limit: int = 50
) -> list[tuple[Outbox, Contact, Message]]:
    """Recent proactive messages that failed or were skipped, with whom and what: for a retry."""
    rows = await session.execute(
        select(Outbox, Contact, Message)
        .join(Contact, Contact.id == Outbox.contact_id)
        .join(Message, Message.id == Outbox.message_id)
        .where(Outbox.creator_id == creator_id, Outbox.state.in_(("failed", "skipped")))
        .order_by(Outbox.id.desc())
        .limit(limit)
    )
    return [(o, c, m) for o, c, m in rows]


async def owned_outbox(session: AsyncSession, creator_id: int, ids: Sequence[int]) -> list[int]:
    """The ids among `ids` that are this creator's outbox rows."""
    rows = await session.scalars(
        select(Outbox.id).where(Outbox.id.in_(list(ids)), Outbox.creator_id == creator_id)
    )
    return list(rows)
