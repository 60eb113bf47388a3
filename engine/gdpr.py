"""GDPR for one contact: export everything stored about them as JSON, and erase it.

Both walk the schema instead of listing tables: every table with a foreign key to `contacts` (and
the tables hanging off those: habit logs, step logs, web visitors…) is found through the foreign
keys, so a table added later is exported and erased without touching this module. Inbound
receipts hold the raw provider payload (the person's words) but point at the binding, not the
contact: they are found through the contact's messages.

Erasure deletes the rows (foreign keys cascade), the receipts, pending scheduled work and outbox
rows (so no queued job sends anything: a job that still holds an id finds nothing). The vector
index holds only the coach's material, never a coachee's words, so there is nothing to remove
there; `vectors_removed` says so in the report.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.audience import get_contact
from engine.db import Base
from engine.models import Contact, InboundReceipt, Message


def _children(parent: str) -> list[tuple[Table, str, str]]:
    """(table, its column, the parent's column) for every foreign key into `parent`."""
    found = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == parent and table.name != parent:
                found.append((table, fk.parent.name, fk.column.name))
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


async def _collect(
    session: AsyncSession, parent: str, ids: list[Any], column: str, depth: int, out: dict[str, Any]
) -> None:
    if not ids or depth > 2:
        return
    for table, col, parent_col in _children(parent):
        if parent_col != column:
            continue
        rows = (await session.execute(select(table).where(table.c[col].in_(ids)))).mappings().all()
        if not rows:
            continue
        bucket = out.setdefault(table.name, [])
        # A row reached twice (a message through its contact and through its conversation)
        # is listed once.
        seen = {str(sorted(r.items())) for r in bucket}
        fresh = []
        for row in rows:
            plain = {k: _plain(v) for k, v in row.items()}
            if str(sorted(plain.items())) not in seen:
                seen.add(str(sorted(plain.items())))
                fresh.append(plain)
        bucket.extend(fresh)
        if "id" in table.c and fresh:
            await _collect(session, table.name, [r["id"] for r in fresh], "id", depth + 1, out)


async def export_contact(session: AsyncSession, creator_id: int, contact_id: int) -> dict[str, Any]:
    """Everything about the contact: their row and every row that refers to it, by table."""
    contact = await get_contact(session, creator_id, contact_id)
    data: dict[str, Any] = {
        "contact": {c.name: _plain(getattr(contact, c.key)) for c in Contact.__table__.columns}
    }
    related: dict[str, Any] = {}
    await _collect(session, "contacts", [contact.id], "id", 0, related)
    receipt_ids = [m["receipt_id"] for m in related.get("messages", []) if m.get("receipt_id")]
    if receipt_ids:
        receipts = await session.scalars(
            select(InboundReceipt).where(InboundReceipt.id.in_(receipt_ids))
        )
        related["inbound_receipts"] = [
            {c.name: _plain(getattr(r, c.key)) for c in InboundReceipt.__table__.columns}
            for r in receipts
        ]
    data["related"] = {name: related[name] for name in sorted(related)}
    return data


async def erase_contact(session: AsyncSession, creator_id: int, contact_id: int) -> dict[str, int]:
    """Delete the contact and everything about them; returns how many rows went, by table."""
    await get_contact(session, creator_id, contact_id)
    related: dict[str, Any] = {}
    await _collect(session, "contacts", [contact_id], "id", 0, related)
    counts = {name: len(rows) for name, rows in related.items()}
    receipt_ids = list(
        await session.scalars(
            select(Message.receipt_id).where(
                Message.contact_id == contact_id, Message.receipt_id.is_not(None)
            )
        )
    )
    # Children first where a foreign key does not cascade (e.g. an enrollment's version).
    for table, col, _ in _children("contacts"):
        await session.execute(delete(table).where(table.c[col] == contact_id))
    await session.execute(delete(Contact).where(Contact.id == contact_id))
    if receipt_ids:
        await session.execute(delete(InboundReceipt).where(InboundReceipt.id.in_(receipt_ids)))
    counts["inbound_receipts"] = len(receipt_ids)
    counts["contacts"] = 1
    counts["vectors_removed"] = 0  # the index holds the coach's material only
    return counts
