"""Background indexing, as plain functions of ids that any job runner can call.

`index_documents(ids)` is idempotent and safe to retry: a document already indexed as stored is a
no-op, one that fails is marked `failed` with its error (and can be retried: `coachbot kb retry`),
and a run that lost a race to another leaves the other's result. The engine's job queue runs it
as the `index_documents` job: in-process inside `coachbot serve` (embedded mode) or on RQ
workers (scaled mode, `config.jobs.index_documents`). `submit` stores an upload and queues it.

A job carries ids, not live objects, so this module holds the process's KnowledgeService: the
composition root either installs the one it opened (`install`) or says how to open it on first
use (`install_factory`); there is one per process, because a local index has one owner.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Final

from knowledge.indexing import IndexResult
from knowledge.service import KnowledgeService

if TYPE_CHECKING:
    from engine.jobs import JobQueue

JOB: Final = "index_documents"
_service: KnowledgeService | None = None
_factory: Callable[[], KnowledgeService] | None = None
# Reentrant: the factory may install the service it opens (config.wiring.process_knowledge).
_lock = threading.RLock()


def install(service: KnowledgeService | None) -> None:
    global _service
    with _lock:
        _service = service


def install_factory(factory: Callable[[], KnowledgeService] | None) -> None:
    """How to open the process's KnowledgeService if a job needs it before anything else did."""
    global _factory
    with _lock:
        _factory = factory


def current() -> KnowledgeService:
    """The process's KnowledgeService, opened with the installed factory on first use
    (blocking: it imports chromadb; async callers use a worker thread)."""
    global _service
    with _lock:
        if _service is None and _factory is not None:
            _service = _factory()
        if _service is None:
            raise RuntimeError("no KnowledgeService installed: call knowledge.jobs.install() first")
        return _service


def shutdown() -> None:
    """Close and forget the process's KnowledgeService (an RQ job's process, at its end)."""
    global _service
    with _lock:
        service, _service = _service, None
    if service is not None:
        service.close()


async def service() -> KnowledgeService:
    return _service if _service is not None else await asyncio.to_thread(current)


async def index_document(document_id: int) -> IndexResult:
    """Index (or re-index) one stored document; a no-op if it is already indexed as stored."""
    return await (await service()).index_document(document_id)


async def index_documents(document_ids: Sequence[int]) -> dict[str, int]:
    """The `index_documents` job: index stored documents, their new chunks embedded together.
    Returns how many ended ready, unchanged and failed (failed ones keep their error)."""
    results = await (await service()).index_documents(list(document_ids))
    return dict(Counter(r.status for r in results))


async def submit(
    knowledge: KnowledgeService, queue: JobQueue, creator_id: int, source_name: str, data: bytes
) -> tuple[int, bool]:
    """Store an upload as `queued` and queue its indexing; (document id, unchanged). Too large
    or unreadable files raise at once, and nothing is stored or queued."""
    document_id, unchanged = await knowledge.submit(creator_id, source_name, data)
    if not unchanged:
        await queue.enqueue(JOB, [document_id])
    return document_id, unchanged


async def retry_failed(creator_id: int) -> list[IndexResult]:
    """Index again, inline, every document of a creator whose last attempt failed."""
    return await (await service()).reindex(creator_id, failed_only=True)


def index_document_job(document_id: int) -> dict[str, Any]:
    """Synchronous form of `index_document`, for a runner that calls plain functions."""
    return asdict(asyncio.run(index_document(document_id)))
