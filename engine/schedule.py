"""Scheduling due work in SQL and claiming it atomically.

Claims are one statement: on PostgreSQL `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED)`, so two schedulers never take the same row and never wait on each other; on SQLite the
same UPDATE runs inside a BEGIN IMMEDIATE transaction, which already excludes other writers, and
the `state = 'pending'` condition makes a row claimable once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import dialect_name, upsert_insert
from engine.models import ScheduledWork

# A claimed row whose handler never reported back (a killed worker, a lost queue) returns to
# pending after this long; handlers are idempotent, so running one twice is harmless.
CLAIM_TIMEOUT = timedelta(minutes=5)


async def schedule(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    creator_id: int,
    due_at: datetime,
    contact_id: int | None = None,
    enrollment_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Add due work unless work with this key exists already. True if it was added."""
    stmt = (
        upsert_insert(session, ScheduledWork)
        .values(
            key=key,
            kind=kind,
            creator_id=creator_id,
            contact_id=contact_id,
            enrollment_id=enrollment_id,
            payload=payload or {},
            due_at=due_at,
            state="pending",
            attempts=0,
            created_at=due_at,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(ScheduledWork.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` pending rows due by `now`, oldest first; returns their ids."""
    due = (
        select(ScheduledWork.id)
        .where(ScheduledWork.state == "pending", ScheduledWork.due_at <= now)
        .order_by(ScheduledWork.due_at, ScheduledWork.id)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(ScheduledWork)
        .where(ScheduledWork.id.in_(due.scalar_subquery()), ScheduledWork.state == "pending")
        .values(state="claimed", claimed_at=now, attempts=ScheduledWork.attempts + 1)
        .returning(ScheduledWork.id)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars())


async def finish(session: AsyncSession, ids: Sequence[int], now: datetime, result: str) -> None:
    await session.execute(
        update(ScheduledWork)
        .where(ScheduledWork.id.in_(ids))
        .values(state="done", done_at=now, result=result[:2000])
        .execution_options(synchronize_session=False)
    )


async def release_stale(
    session: AsyncSession, now: datetime, older_than: timedelta = CLAIM_TIMEOUT
) -> int:
    """Return rows claimed longer than `older_than` ago to pending (their worker died)."""
    result = await session.execute(
        update(ScheduledWork)
        .where(ScheduledWork.state == "claimed", ScheduledWork.claimed_at < now - older_than)
        .values(state="pending")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def cancel(session: AsyncSession, keys_prefix: str, now: datetime) -> None:
    """Mark pending work whose key starts with `keys_prefix` done (e.g. a left enrollment)."""
    await session.execute(
        update(ScheduledWork)
        .where(ScheduledWork.state == "pending", ScheduledWork.key.startswith(keys_prefix))
        .values(state="done", done_at=now, result="cancelled")
        .execution_options(synchronize_session=False)
    )
