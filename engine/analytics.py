"""What a creator's bot has been doing, for the hub's analytics page: active contacts per day,
messages per channel, the program funnel with drop-off per step, check-in trends, nudge outcomes
and the reply rate after nudges, and the questions the material could not answer.

Days are UTC calendar days. Every query filters on the creator.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from engine.audience import DECLINE_MARK
from engine.models import Contact, Message, Outbox
from programs import models as pm
from programs import store

NUDGE_KINDS = ("nudge", "reminder", "broadcast", "program")
REPLY_WINDOW = timedelta(hours=24)


def _day(value: object) -> date:
    """SQLite's date() gives text, PostgreSQL's a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def days_between(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


async def active_per_day(
    session: AsyncSession, creator_id: int, since: datetime
) -> dict[date, int]:
    """Distinct contacts who wrote, per day."""
    rows = await session.execute(
        select(func.date(Message.created_at), func.count(distinct(Message.contact_id)))
        .join(Contact, Contact.id == Message.contact_id)
        .where(
            Contact.creator_id == creator_id,
            Message.direction == "in",
            Message.created_at >= since,
        )
        .group_by(func.date(Message.created_at))
    )
    return {_day(day): int(n) for day, n in rows}


async def messages_per_channel(
    session: AsyncSession, creator_id: int, since: datetime
) -> dict[str, dict[str, int]]:
    """channel → {"in": n, "out": n}."""
    rows = await session.execute(
        select(Message.channel, Message.direction, func.count())
        .join(Contact, Contact.id == Message.contact_id)
        .where(Contact.creator_id == creator_id, Message.created_at >= since)
        .group_by(Message.channel, Message.direction)
    )
    found: dict[str, dict[str, int]] = defaultdict(lambda: {"in": 0, "out": 0})
    for channel, direction, n in rows:
        found[channel][direction] = int(n)
    return dict(found)


@dataclass(frozen=True)
class FunnelStep:
    step: str
    kind: str
    reached: int
    dropped: int  # reached this step but not the next one


async def funnel(session: AsyncSession, creator_id: int, slug: str) -> list[FunnelStep]:
    """How many enrollments reached each step where the program stops (questions, check-ins,
    waits, buttons), in program order, then completion; drop-off is the difference to the next."""
    program = await store.find_program(session, creator_id, slug)
    if program is None:
        return []
    version = await store.latest_version(session, program.id)
    if version is None:
        return []
    definition = store.definition(version)
    rows = await session.execute(
        select(pm.StepLog.step, func.count(distinct(pm.StepLog.enrollment_id)))
        .join(pm.Enrollment, pm.Enrollment.id == pm.StepLog.enrollment_id)
        .where(pm.Enrollment.program_id == program.id)
        .group_by(pm.StepLog.step)
    )
    reached = {step: int(n) for step, n in rows}
    enrolled = int(
        await session.scalar(select(func.count()).where(pm.Enrollment.program_id == program.id))
        or 0
    )
    completed = int(
        await session.scalar(
            select(func.count()).where(
                pm.Enrollment.program_id == program.id, pm.Enrollment.completed_at.is_not(None)
            )
        )
        or 0
    )
    points = [("enrolled", "start", enrolled)]
    points += [(s.id, s.kind, reached.get(s.id, 0)) for s in definition.steps.values() if s.blocks]
    points.append(("completed", "end", completed))
    out = []
    for index, (step, kind, n) in enumerate(points):
        following = points[index + 1][2] if index + 1 < len(points) else n
        out.append(FunnelStep(step, kind, n, max(n - following, 0)))
    return out


async def checkin_trends(
    session: AsyncSession, creator_id: int, since: date
) -> dict[str, dict[date, float]]:
    """metric → average value per local day, over all the creator's contacts."""
    rows = await session.execute(
        select(pm.Checkin.metric, pm.Checkin.local_date, func.avg(pm.Checkin.value))
        .join(Contact, Contact.id == pm.Checkin.contact_id)
        .where(Contact.creator_id == creator_id, pm.Checkin.local_date >= since)
        .group_by(pm.Checkin.metric, pm.Checkin.local_date)
    )
    found: dict[str, dict[date, float]] = defaultdict(dict)
    for metric, day, avg in rows:
        found[metric][_day(day)] = round(float(avg), 2)
    return dict(found)


async def nudge_outcomes(
    session: AsyncSession, creator_id: int, since: datetime
) -> Counter[tuple[str, str, str]]:
    """(kind, state, reason) → rows, for everything proactive."""
    rows = await session.execute(
        select(Outbox.kind, Outbox.state, Outbox.reason, func.count())
        .where(
            Outbox.creator_id == creator_id,
            Outbox.kind.in_(NUDGE_KINDS),
            Outbox.created_at >= since,
        )
        .group_by(Outbox.kind, Outbox.state, Outbox.reason)
    )
    return Counter({(k, s, r or "-"): int(n) for k, s, r, n in rows})


async def reply_rate(
    session: AsyncSession, creator_id: int, since: datetime
) -> dict[str, tuple[int, int]]:
    """kind → (sent, followed by a message from the person within 24 hours). Computed here,
    not in SQL: interval arithmetic differs between SQLite and PostgreSQL."""
    sent = (
        await session.execute(
            select(Outbox.kind, Outbox.contact_id, Outbox.sent_at).where(
                Outbox.creator_id == creator_id,
                Outbox.kind.in_(NUDGE_KINDS),
                Outbox.state == "sent",
                Outbox.sent_at >= since,
            )
        )
    ).all()
    if not sent:
        return {}
    inbound: dict[int, list[datetime]] = defaultdict(list)
    rows = await session.execute(
        select(Message.contact_id, Message.created_at)
        .where(
            Message.contact_id.in_(sorted({c for _, c, _ in sent})),
            Message.direction == "in",
            Message.created_at >= since,
        )
        .order_by(Message.created_at)
    )
    for contact_id, at in rows:
        inbound[contact_id].append(at)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for kind, contact_id, sent_at in sent:
        assert sent_at is not None  # sent rows have their time
        times = inbound.get(contact_id, [])
        i = bisect_right(times, sent_at)
        totals[kind][0] += 1
        if i < len(times) and times[i] <= sent_at + REPLY_WINDOW:
            totals[kind][1] += 1
    return {k: (v[0], v[1]) for k, v in totals.items()}


async def unanswered_questions(
    session: AsyncSession, creator_id: int, since: datetime, limit: int = 50
) -> list[tuple[str, int, datetime]]:
    """Questions the material did not cover (the bot declined them), most asked first: the
    knowledge gaps to write next. (question text, times asked, last asked)."""
    reply = aliased(Message)
    rows = await session.execute(
        select(Message.text, Message.created_at)
        .join(reply, reply.reply_to_id == Message.id)
        .join(Contact, Contact.id == Message.contact_id)
        .where(
            Contact.creator_id == creator_id,
            Message.direction == "in",
            Message.route == "free_question",
            reply.text.contains(DECLINE_MARK),
            Message.created_at >= since,
        )
    )
    counts: Counter[str] = Counter()
    last: dict[str, datetime] = {}
    shown: dict[str, str] = {}
    for text, at in rows:
        key = " ".join(text.lower().split()).rstrip("?!. ")
        counts[key] += 1
        shown.setdefault(key, text.strip())
        last[key] = max(last.get(key, at), at)
    return [(shown[k], n, last[k]) for k, n in counts.most_common(limit)]
