"""Background indexing on the shared job queue: the `index_documents` job in process (as
`coachbot serve` runs it), failed documents visible with their error and retried, and the RQ
entry point's refusal to open a local index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.runtime import NoSenders
from engine.db import Database
from engine.jobs import JOB_NAMES, InProcessQueue, JobName
from engine.models import Creator
from engine.pipeline import Engine
from engine.ratelimit import LocalRateLimiter
from engine.runtime import Runtime
from knowledge import jobs
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import CountingEmbedder

NOTE = b"# Walking\n\nA ten-minute walk after dinner helps blood sugar."


@pytest.fixture
def installed(kb: KnowledgeService) -> Iterator[KnowledgeService]:
    jobs.install(kb)
    yield kb
    jobs.install(None)


async def test_uploads_are_indexed_by_the_in_process_job_queue(
    installed: KnowledgeService, engine: Engine, creator: Creator, embedder: CountingEmbedder
) -> None:
    assert "index_documents" in JOB_NAMES
    holder: dict[str, Runtime] = {}

    async def run(job: JobName, ids: list[int]) -> object:
        return await holder["runtime"].run(job, ids)

    queue = InProcessQueue(run)
    holder["runtime"] = Runtime(engine, NoSenders(), LocalRateLimiter(), queue=queue)
    first, unchanged = await jobs.submit(installed, queue, creator.id, "walk.md", NOTE)
    second, _ = await jobs.submit(installed, queue, creator.id, "broken.pdf", b"%PDF-1.4\n1 0")
    assert not unchanged
    await queue.drain()
    docs = {d.source_name: d for d in await installed.documents(creator.id)}
    assert (docs["walk.md"].status, docs["walk.md"].chunks) == ("ready", 1)
    assert docs["broken.pdf"].status == "failed"
    assert "damaged" in (docs["broken.pdf"].error or "")

    # Running the job again (a retry, a duplicate delivery) changes nothing.
    embedder.embedded = 0
    assert await holder["runtime"].run("index_documents", [first, second]) == {
        "unchanged": 1,
        "failed": 1,
    }
    assert embedder.embedded == 0
    # An unchanged re-upload is not queued at all.
    assert (await jobs.submit(installed, queue, creator.id, "walk.md", NOTE))[1] is True
    assert queue.busy == 0


async def test_a_failed_document_is_retried_by_name(
    installed: KnowledgeService, creator: Creator, db: Database
) -> None:
    from sqlalchemy import update

    from knowledge.models import Document

    failed = await installed.ingest(creator.id, "notes.pdf", b"%PDF-1.4\n1 0 obj")
    assert failed.status == "failed"
    # The cause is fixed where the bytes live (in the hub: a new upload; here: the stored copy).
    async with db.transaction() as session:
        await session.execute(
            update(Document).where(Document.id == failed.document_id).values(content=NOTE)
        )
    again = await installed.retry(creator.id, "notes.pdf")
    assert (again.status, again.chunks) == ("ready", 1)
    assert [d.status for d in await installed.documents(creator.id)] == ["ready"]


def test_the_rq_entry_point_refuses_to_open_a_local_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from config import jobs as rq_jobs

    monkeypatch.delenv("COACHBOT_CHROMA_URL", raising=False)
    monkeypatch.setenv("COACHBOT_DATA_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="needs COACHBOT_CHROMA_URL"):
        rq_jobs.index_documents([1])
