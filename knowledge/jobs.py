"""Background indexing, as plain functions of ids that any job runner can call.

`index_document(document_id)` is idempotent and safe to retry: run it from RQ, from the
in-process runner of `coachbot serve`, or inline (the CLI does, with a progress bar). The job
queue itself belongs to the scheduler issue; this module only needs the composition root to
`install` the process's KnowledgeService once (config.wiring does), because a job carries ids,
not live objects.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from knowledge.indexing import IndexResult
from knowledge.service import KnowledgeService

_service: KnowledgeService | None = None


def install(service: KnowledgeService | None) -> None:
    global _service
    _service = service


def current() -> KnowledgeService:
    if _service is None:
        raise RuntimeError("no KnowledgeService installed: call knowledge.jobs.install() first")
    return _service


async def index_document(document_id: int) -> IndexResult:
    """Index (or re-index) one stored document; a no-op if it is already indexed as stored."""
    return await current().index_document(document_id)


async def retry_failed(creator_id: int) -> list[IndexResult]:
    """Index again every document of a creator whose last attempt failed."""
    return await current().reindex(creator_id, failed_only=True)


def index_document_job(document_id: int) -> dict[str, Any]:
    """Synchronous entry point for RQ workers (they call plain functions with JSON-able args)."""
    return asdict(asyncio.run(index_document(document_id)))
