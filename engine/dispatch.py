"""What each kind of scheduled work does. A handler runs inside the transaction that marks its
row done and writes the outbox rows it produces, so the work and its messages commit together;
handlers are idempotent, so a row that runs twice (a worker died after committing) sends nothing
twice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from engine import enrollment as enroll_ops
from engine import outbox
from engine.models import Contact, ScheduledWork

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, ScheduledWork, datetime], Awaitable[tuple[str, list[int]]]]


async def program_wake(
    session: AsyncSession, work: ScheduledWork, now: datetime
) -> tuple[str, list[int]]:
    """A program's wait (or delayed start) has come: advance it and queue what it says."""
    if work.enrollment_id is None:
        return "no enrollment", []
    occurrence = work.payload.get("occurrence")
    enrollment, messages = await enroll_ops.fire_due(
        session, work.enrollment_id, now, occurrence=occurrence
    )
    if not messages:
        return "nothing due", []
    contact = await session.get(Contact, enrollment.contact_id)
    assert contact is not None
    step = work.payload.get("step") or ""
    ids = await outbox.enqueue(
        session,
        key=work.key,
        kind="program",
        contact=contact,
        messages=messages,
        now=now,
        template_key=f"{work.payload.get('program', '')}:{step}" if step else None,
    )
    return f"queued {len(ids)}", ids


async def _queue_for_enrollment(
    session: AsyncSession, work: ScheduledWork, messages: list[Any], now: datetime, kind: str
) -> tuple[str, list[int]]:
    if not messages or work.contact_id is None:
        return "nothing due", []
    contact = await session.get(Contact, work.contact_id)
    if contact is None:
        return "contact gone", []
    ids = await outbox.enqueue(
        session,
        key=work.key,
        kind=kind,
        contact=contact,
        messages=messages,
        now=now,
        template_key=f"{work.payload.get('program', '')}:{work.payload.get('step', '')}",
    )
    return f"queued {len(ids)}", ids


async def program_nudge(
    session: AsyncSession, work: ScheduledWork, now: datetime
) -> tuple[str, list[int]]:
    """A question still unanswered after a while: its nudge (if that ask is still open)."""
    _, messages = await enroll_ops.remind(
        session, work.enrollment_id or 0, int(work.payload.get("asked", -1)), now
    )
    return await _queue_for_enrollment(session, work, messages, now, "nudge")


async def program_timeout(
    session: AsyncSession, work: ScheduledWork, now: datetime
) -> tuple[str, list[int]]:
    """A question unanswered for too long: pause the enrollment or move on."""
    _, messages = await enroll_ops.expire(
        session, work.enrollment_id or 0, int(work.payload.get("asked", -1)), now
    )
    return await _queue_for_enrollment(session, work, messages, now, "program")


async def window_reask(
    session: AsyncSession, work: ScheduledWork, now: datetime
) -> tuple[str, list[int]]:
    """Re-ask a pending question shortly before WhatsApp's 24-hour window closes, unless the
    person wrote since (then the window is open again and the question is being answered)."""
    if work.contact_id is None:
        return "no contact", []
    contact = await session.get(Contact, work.contact_id)
    identity = await outbox.choose_identity(session, contact) if contact else None
    last = identity.last_inbound_at if identity else None
    if last is None or last.isoformat() != work.payload.get("last_inbound"):
        return "person wrote since", []
    _, messages = await enroll_ops.remind(
        session, work.enrollment_id or 0, int(work.payload.get("asked", -1)), now
    )
    return await _queue_for_enrollment(session, work, messages, now, "nudge")


HANDLERS: dict[str, Handler] = {
    "program_wake": program_wake,
    "program_nudge": program_nudge,
    "program_timeout": program_timeout,
    "window_reask": window_reask,
}
