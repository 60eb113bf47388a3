"""What each kind of scheduled work does. A handler runs inside the transaction that marks its
row done and writes the outbox rows it produces, so the work and its messages commit together;
handlers are idempotent, so a row that runs twice (a worker died after committing) sends nothing
twice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

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


HANDLERS: dict[str, Handler] = {
    "program_wake": program_wake,
}
