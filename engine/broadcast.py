"""A one-off message to a segment of a creator's contacts, at a local time in each contact's own
timezone, through the same outbox and send-time policies as every proactive message (opt-out,
quiet hours, daily cap, WhatsApp window, rate limits).

Each recipient gets an outbox row keyed `broadcast:<id>:<contact>` whose `next_attempt_at` is the
chosen local date and time in their zone (the creator's when theirs is unknown); a time already
past goes out at once. Sending the same broadcast twice adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import outbox
from engine.audience import ContactTag
from engine.models import ChannelIdentity, Contact, Creator
from engine.types import OutboundMessage
from programs import models as pm
from programs.store import ACTIVE_STATUSES

MAX_TEXT = 4000


class BroadcastError(ValueError):
    """A broadcast that cannot be sent as asked; the message says why."""


@dataclass(frozen=True)
class Segment:
    program: str | None = None  # a program slug: its running (or paused) coachees
    channel: str | None = None  # telegram | whatsapp | web | terminal
    tag: str | None = None

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def _zone(contact: Contact, creator: Creator) -> ZoneInfo:
    for name in (contact.timezone, creator.timezone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


async def segment_contacts(
    session: AsyncSession, creator_id: int, segment: Segment
) -> list[Contact]:
    """The creator's contacts in the segment who have not opted out."""
    query = select(Contact).where(Contact.creator_id == creator_id, Contact.opted_out_at.is_(None))
    if segment.program:
        query = query.where(
            Contact.id.in_(
                select(pm.Enrollment.contact_id)
                .join(pm.Program, pm.Program.id == pm.Enrollment.program_id)
                .where(
                    pm.Program.creator_id == creator_id,
                    pm.Program.slug == segment.program,
                    pm.Enrollment.status.in_((*ACTIVE_STATUSES, "paused")),
                )
            )
        )
    if segment.channel:
        query = query.where(
            Contact.id.in_(
                select(ChannelIdentity.contact_id).where(
                    ChannelIdentity.channel == segment.channel,
                    ChannelIdentity.unreachable_at.is_(None),
                )
            )
        )
    if segment.tag:
        query = query.where(
            Contact.id.in_(select(ContactTag.contact_id).where(ContactTag.tag == segment.tag))
        )
    return list((await session.scalars(query.order_by(Contact.id))).all())


def parse_when(day: str, at: str) -> tuple[date, time]:
    try:
        return date.fromisoformat(day), time.fromisoformat(at)
    except ValueError:
        raise BroadcastError("give the date as YYYY-MM-DD and the time as HH:MM") from None


async def schedule_broadcast(
    session: AsyncSession,
    creator: Creator,
    broadcast_id: int,
    text: str,
    segment: Segment,
    day: date,
    at: time,
    now: datetime,
) -> int:
    """Queue the message for everyone in the segment; returns how many rows were added."""
    text = text.strip()
    if not text:
        raise BroadcastError("write the message first")
    if len(text) > MAX_TEXT:
        raise BroadcastError(f"a broadcast can have at most {MAX_TEXT} characters")
    count = 0
    for contact in await segment_contacts(session, creator.id, segment):
        due = datetime.combine(day, at, tzinfo=_zone(contact, creator))
        ids = await outbox.enqueue(
            session,
            key=f"broadcast:{broadcast_id}:{contact.id}",
            kind="broadcast",
            contact=contact,
            messages=[OutboundMessage(text)],
            now=now,
            due_at=max(due, now),
        )
        count += len(ids)
    return count
