"""Ingestion against SQL and Chroma: dedupe by content, re-embedding only what changed, delete,
failures that leave nothing half-indexed, retry, and reconcile."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.db import Database
from engine.models import Creator
from knowledge import jobs
from knowledge.errors import DocumentNotFoundError, FileTooLargeError, UnsupportedFileError
from knowledge.extract import Limits
from knowledge.models import Chunk, Document
from knowledge.service import KnowledgeConfig, KnowledgeService
from knowledge.store import VectorStore
from tests.knowledge.conftest import CountingEmbedder
from tests.knowledge.files import make_pdf

SLEEP = """# Sleep basics

## How much
Most adults need seven to nine hours of sleep a night. Teenagers need more.

## Wind-down routine
Dim the lights an hour before bed and put the phone in another room.

## Caffeine
Stop caffeine about eight hours before bed: its half-life is around five hours.
"""


async def chunk_count(db: Database, creator_id: int) -> int:
    async with db.sessions() as session:
        return int(
            await session.scalar(select(func.count()).where(Chunk.creator_id == creator_id)) or 0
        )


async def test_ingest_then_unchanged_then_changed(
    kb: KnowledgeService, creator: Creator, embedder: CountingEmbedder, db: Database
) -> None:
    first = await kb.ingest(creator.id, "sleep.md", SLEEP.encode())
    assert (first.status, first.chunks, first.embedded) == ("ready", 3, 3)
    assert kb.store.count(creator.id) == 3 == await chunk_count(db, creator.id)
    [doc] = await kb.documents(creator.id)
    assert (doc.title, doc.kind, doc.status, doc.chunks) == ("Sleep basics", "markdown", "ready", 3)

    embedder.embedded = 0
    again = await kb.ingest(creator.id, "sleep.md", SLEEP.encode())
    assert (again.status, again.embedded) == ("unchanged", 0)
    assert embedder.embedded == 0

    changed = SLEEP.replace("eight hours", "eight to ten hours")
    third = await kb.ingest(creator.id, "sleep.md", changed.encode())
    assert (third.status, third.chunks, third.embedded) == ("ready", 3, 1)
    assert embedder.embedded == 1
    assert kb.store.count(creator.id) == 3 == await chunk_count(db, creator.id)
    hits = (await kb.search(creator.id, "when should I stop drinking coffee?")).hits
    assert "eight to ten hours" in hits[0].text
    assert (await kb.reconcile(creator.id)).equal


async def test_delete_removes_chunks_and_vectors(
    kb: KnowledgeService, creator: Creator, db: Database
) -> None:
    result = await kb.ingest(creator.id, "sleep.md", SLEEP.encode())
    await kb.ingest(creator.id, "run.txt", b"Easy runs\n\nRun at a pace where you can talk.")
    assert await kb.delete(creator.id, str(result.document_id)) == "sleep.md"
    assert kb.store.count(creator.id) == 1 == await chunk_count(db, creator.id)
    search = await kb.search(creator.id, "how many hours of sleep")
    assert all(hit.doc == "run.txt" for hit in search.hits)
    assert await kb.delete(creator.id, "run.txt") == "run.txt"
    with pytest.raises(DocumentNotFoundError, match=r"no document 'run\.txt'"):
        await kb.delete(creator.id, "run.txt")


async def test_bad_uploads_store_nothing_or_fail_visibly(
    kb: KnowledgeService, creator: Creator, db: Database
) -> None:
    with pytest.raises(UnsupportedFileError, match="PNG"):
        await kb.ingest(creator.id, "photo.pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    assert await kb.documents(creator.id) == []

    good = make_pdf([["Protein at every meal helps you stay full and recover."]])
    ready = await kb.ingest(creator.id, "food.pdf", good)
    assert ready.status == "ready"
    broken = good[: len(good) // 3]  # a truncated upload of a new version
    failed = await kb.ingest(creator.id, "food.pdf", broken)
    assert failed.status == "failed"
    assert failed.error
    assert "damaged" in failed.error
    [doc] = await kb.documents(creator.id)
    assert doc.status == "failed"
    assert doc.error == failed.error
    # The version indexed before is still answerable, and the index is consistent.
    hits = (await kb.search(creator.id, "protein with meals")).hits
    assert hits
    assert "Protein at every meal" in hits[0].text
    assert (await kb.reconcile(creator.id, repair=False)).equal

    # Retrying a failed document after fixing the upload works.
    fixed = await kb.ingest(creator.id, "food.pdf", make_pdf([["Eat beans for fibre."]]))
    assert fixed.status == "ready"
    assert (await kb.search(creator.id, "fibre")).hits[0].text == "Eat beans for fibre."


async def test_size_limit_is_checked_on_submit(db: Database, tmp_path, embedder, creator) -> None:  # type: ignore[no-untyped-def]
    config = KnowledgeConfig(limits=Limits(max_file_bytes=1000))
    service = KnowledgeService(db, VectorStore.persistent(tmp_path / "c"), embedder, config)
    try:
        with pytest.raises(FileTooLargeError, match="over the limit"):
            await service.ingest(creator.id, "big.txt", b"word " * 1000)
    finally:
        service.close()


async def test_jobs_index_by_id_idempotently_and_retry_failed(
    kb: KnowledgeService, creator: Creator, embedder: CountingEmbedder, db: Database
) -> None:
    jobs.install(kb)
    try:
        document_id, unchanged = await kb.submit(creator.id, "sleep.md", SLEEP.encode())
        assert not unchanged
        async with db.sessions() as session:
            queued = await session.get(Document, document_id)
            assert queued is not None
            assert queued.status == "queued"
        assert (await jobs.index_document(document_id)).status == "ready"
        embedder.embedded = 0
        assert (await jobs.index_document(document_id)).status == "unchanged"
        assert embedder.embedded == 0

        bad_id, _ = await kb.submit(creator.id, "bad.pdf", b"%PDF-1.4 nothing else")
        assert (await jobs.index_document(bad_id)).status == "failed"
        retried = await jobs.retry_failed(creator.id)
        assert [(r.document_id, r.status) for r in retried] == [(bad_id, "failed")]
    finally:
        jobs.install(None)


async def test_reconcile_repairs_the_index_from_sql(kb: KnowledgeService, creator: Creator) -> None:
    await kb.ingest(creator.id, "sleep.md", SLEEP.encode())
    ids = sorted(kb.store.ids(creator.id))
    kb.store.delete(creator.id, ids[:2])  # lost vectors
    kb.store.upsert(creator.id, [999_999], kb.embedder.embed(["stray"]), [0])  # an orphan
    report = await kb.reconcile(creator.id, repair=False)
    assert (report.sql_chunks, report.missing, report.orphans, report.equal) == (3, 2, 1, False)
    repaired = await kb.reconcile(creator.id)
    assert (repaired.missing, repaired.orphans, repaired.vectors_after) == (2, 1, 3)
    assert repaired.equal
    assert kb.store.ids(creator.id) == set(ids)
    hits = (await kb.search(creator.id, "how many hours of sleep do adults need")).hits
    assert "seven to nine hours" in hits[0].text


async def test_reindex_keeps_unchanged_vectors(
    kb: KnowledgeService, creator: Creator, embedder: CountingEmbedder
) -> None:
    await kb.ingest(creator.id, "sleep.md", SLEEP.encode())
    embedder.embedded = 0
    results = await kb.reindex(creator.id)
    assert [(r.status, r.chunks, r.embedded) for r in results] == [("ready", 3, 0)]
    assert embedder.embedded == 0


async def test_ingest_many_embeds_across_documents_and_isolates_failures(
    kb: KnowledgeService, creator: Creator, embedder: CountingEmbedder, db: Database
) -> None:
    notes = [
        (f"note-{i:02d}.md", f"# Note {i}\n\nWalk {i} minutes after dinner.".encode())
        for i in range(40)
    ]
    files = [
        *notes[:20],
        ("photo.md", b"\x89PNG\r\n\x1a\n" + b"\0" * 64),  # refused from its bytes: no row
        ("broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog"),  # stored, then fails to parse
        *notes[20:],
    ]
    seen: list[str] = []
    results = await kb.ingest_many(creator.id, files, progress=lambda r: seen.append(r.source_name))
    assert [r.source_name for r in results] == [name for name, _ in files]
    assert sorted(seen) == sorted(name for name, _ in files)
    by_name = {r.source_name: r for r in results}
    assert by_name["photo.md"].status == "failed"
    assert by_name["photo.md"].document_id == 0
    assert by_name["broken.pdf"].status == "failed"
    assert by_name["broken.pdf"].error
    assert all(by_name[name].status == "ready" for name, _ in notes)
    assert embedder.embedded == 40
    assert embedder.calls < 10  # many documents per encoder call, not one call each
    assert kb.store.count(creator.id) == 40 == await chunk_count(db, creator.id)
    statuses = {d.source_name: d.status for d in await kb.documents(creator.id)}
    assert statuses["broken.pdf"] == "failed"
    assert "photo.md" not in statuses

    embedder.embedded = 0
    again = await kb.ingest_many(creator.id, notes)
    assert {r.status for r in again} == {"unchanged"}
    assert embedder.embedded == 0
    report = await kb.reconcile(creator.id, repair=False)
    assert report.equal
    assert report.sql_chunks == 40
