"""The atomic claim on an inbound message: INSERT … ON CONFLICT DO NOTHING on (binding, external
message id). Never check-then-insert: two deliveries racing must not both see "not there yet"."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from engine.db import UPSERT_INSERTS, dialect_name, table_of
from engine.models import InboundReceipt
from engine.types import InboundMessage

# Core statements on the table, built once: the claim and the take run on every inbound, and the
# ORM's per-statement work (entity compile state, session sync) cost more than the round trip.
RECEIPTS = table_of(InboundReceipt)
CLAIM = {  # per dialect; the values are given when it runs
    dialect: insert_of(RECEIPTS)
    .on_conflict_do_nothing(index_elements=["binding_id", "external_message_id"])
    .returning(RECEIPTS.c.id)
    for dialect, insert_of in UPSERT_INSERTS.items()
}
TAKE = (
    update(RECEIPTS)
    .where(RECEIPTS.c.id == bindparam("receipt_id"), RECEIPTS.c.status == "claimed")
    .values(status="processed", processed_at=bindparam("now"), error=None)
    .returning(RECEIPTS.c.binding_id, RECEIPTS.c.inbound, RECEIPTS.c.raw)
)


async def claim(
    conn: AsyncSession | AsyncConnection, inbound: InboundMessage, now: datetime
) -> int | None:
    """Store the inbound durably and return its receipt id, or None if it was claimed before."""
    values = {
        "binding_id": inbound.binding_id,
        "external_message_id": inbound.external_message_id,
        "status": "claimed",
        "inbound": inbound.to_json(),
        "raw": dict(inbound.raw),
        "received_at": inbound.received_at,
        "claimed_at": now,
    }
    return (await conn.execute(CLAIM[dialect_name(conn)], values)).scalar_one_or_none()


async def take(session: AsyncSession, receipt_id: int, now: datetime) -> InboundMessage | None:
    """Mark a claimed receipt processed and return its inbound, locking the row for the rest of
    the transaction; None if it is not (or no longer) waiting for its turn."""
    row = (await session.execute(TAKE, {"receipt_id": receipt_id, "now": now})).one_or_none()
    return InboundMessage.from_json(row.inbound, raw=row.raw) if row is not None else None


async def stored_inbound(session: AsyncSession, receipt_id: int) -> InboundMessage | None:
    row = (
        await session.execute(
            select(InboundReceipt.inbound, InboundReceipt.raw).where(
                InboundReceipt.id == receipt_id
            )
        )
    ).one_or_none()
    return InboundMessage.from_json(row.inbound, raw=row.raw) if row is not None else None


async def finish(
    session: AsyncSession, receipt_id: int, now: datetime, error: str | None = None
) -> None:
    await session.execute(
        update(InboundReceipt)
        .execution_options(synchronize_session=False)
        .where(InboundReceipt.id == receipt_id)
        .values(
            status="failed" if error else "processed",
            processed_at=now,
            error=error[:4000] if error else None,
        )
    )


async def stuck(
    session: AsyncSession, now: datetime, older_than: timedelta, limit: int
) -> list[int]:
    """Receipts still 'claimed' after `older_than`: their turn never finished (the process died
    between the provider's 200 and the reply). Their claim time is refreshed so that another
    scheduler does not pick them up at the same moment."""
    stale = (
        select(InboundReceipt.id)
        .where(InboundReceipt.status == "claimed", InboundReceipt.claimed_at < now - older_than)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    result = await session.execute(
        update(InboundReceipt)
        .where(InboundReceipt.id.in_(stale.scalar_subquery()), InboundReceipt.status == "claimed")
        .values(claimed_at=now)
        .returning(InboundReceipt.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())
