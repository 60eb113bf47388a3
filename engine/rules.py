"""Creator-level re-engagement rules, run by the scheduler every few minutes: a nudge for contacts
silent for N days, and a reminder in the evening (local time) when a habit or check-in streak is
about to break. Both go through the outbox, so every delivery policy applies; both are keyed so
that each is sent once (per silence, per streak day)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import outbox
from engine.models import Contact, Creator
from engine.persona import fill
from engine.types import OutboundMessage
from programs import models as pm
from programs.facts import streak

DEFAULT_INACTIVITY_MESSAGE = (
    "Hi {first_name}, it's been a little while! Whenever you're ready, I'm here: what's one small "
    "thing you could do today?"
)
BATCH = 500


def _zone(contact: Contact, creator: Creator) -> ZoneInfo:
    for name in (contact.timezone, creator.timezone):
        try:
            return ZoneInfo(name) if name else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


async def inactivity_nudges(session: AsyncSession, now: datetime) -> list[int]:
    """Outbox rows for contacts silent for their creator's `inactivity_days`."""
    created: list[int] = []
    creators = (
        await session.scalars(select(Creator).where(Creator.inactivity_days.is_not(None)))
    ).all()
    for creator in creators:
        days = creator.inactivity_days or 0
        if days <= 0:
            continue
        silent = await session.scalars(
            select(Contact)
            .where(
                Contact.creator_id == creator.id,
                Contact.opted_out_at.is_(None),
                Contact.last_seen_at.is_not(None),
                Contact.last_seen_at < now - timedelta(days=days),
                Contact.last_seen_at > now - timedelta(days=days * 4),  # not forever
            )
            .limit(BATCH)
        )
        for contact in silent:
            assert contact.last_seen_at is not None
            text = fill(creator.inactivity_message or DEFAULT_INACTIVITY_MESSAGE, creator, contact)
            created += await outbox.enqueue(
                session,
                key=f"inactive:{contact.id}:{contact.last_seen_at.isoformat()}",
                kind="nudge",
                contact=contact,
                messages=[OutboundMessage(text)],
                now=now,
                template_key="inactivity",
            )
    return created


async def streak_reminders(session: AsyncSession, now: datetime) -> list[int]:
    """Outbox rows for habit streaks of 2+ days not logged yet today, once the contact's local
    time has passed their creator's `streak_reminder_at`."""
    created: list[int] = []
    creators = (
        await session.scalars(select(Creator).where(Creator.streak_reminder_at.is_not(None)))
    ).all()
    for creator in creators:
        at = datetime.strptime(creator.streak_reminder_at or "20:00", "%H:%M").time()
        rows = await session.execute(
            select(pm.Habit, Contact)
            .join(Contact, Contact.id == pm.Habit.contact_id)
            .where(
                Contact.creator_id == creator.id,
                pm.Habit.active.is_(True),
                Contact.opted_out_at.is_(None),
            )
            .limit(BATCH)
        )
        for habit, contact in rows:
            local = now.astimezone(_zone(contact, creator))
            if local.time() < at:
                continue
            today = local.date()
            days = set(
                (
                    await session.scalars(
                        select(pm.HabitLog.local_date).where(
                            pm.HabitLog.habit_id == habit.id,
                            pm.HabitLog.local_date >= today - timedelta(days=60),
                        )
                    )
                ).all()
            )
            length = streak(days, today)
            if today in days or length < 2:
                continue
            text = (
                f"Your {length}-day streak for **{habit.title}** is still alive. Have you done it "
                "today? Reply to your check-in when you have!"
            )
            created += await outbox.enqueue(
                session,
                key=f"streak:{habit.id}:{today.isoformat()}",
                kind="reminder",
                contact=contact,
                messages=[OutboundMessage(text)],
                now=now,
                template_key="streak",
            )
    return created
