"""The atomic claim on an inbound message: INSERT … ON CONFLICT DO NOTHING on (binding, external
message id). Never check-then-insert: two deliveries racing must not both see "not there yet"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import upsert_insert
from engine.models import InboundReceipt
from engine.types import InboundMessage


async def claim(session: AsyncSession, inbound: InboundMessage, now: datetime) -> int | None:
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
    stmt = (
        upsert_insert(session, InboundReceipt)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["binding_id", "external_message_id"])
        .returning(InboundReceipt.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


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
