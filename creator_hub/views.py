"""Objects as JSON, shared by the API (and its OpenAPI schemas)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.audience import ContactRow
from engine.models import Message
from programs import models as pm
from programs.parse import Problem


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def document_json(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.source_name,
        "title": d.title,
        "kind": d.kind,
        "status": d.status,
        "chunks": d.chunks,
        "size_bytes": d.size_bytes,
        "error": d.error,
    }


def contact_json(row: ContactRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "channels": row.channels,
        "program": row.program,
        "step": row.step,
        "status": row.status,
        "last_active": iso(row.last_active),
        "streak": row.streak,
        "tags": row.tags,
        "opted_out": row.opted_out,
        "flagged": row.flagged,
        "handoff": row.handoff,
    }


def message_json(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "direction": m.direction,
        "channel": m.channel,
        "text": m.text,
        "route": m.route,
        "status": m.status,
        "created_at": iso(m.created_at),
    }


def enrollment_json(e: pm.Enrollment, slug: str) -> dict[str, Any]:
    return {
        "id": e.id,
        "contact_id": e.contact_id,
        "program": slug,
        "status": e.status,
        "step": e.cursor,
        "started_at": iso(e.started_at),
        "completed_at": iso(e.completed_at),
    }


def problems_json(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    return [{"line": p.line, "column": p.column, "message": p.message} for p in problems]
