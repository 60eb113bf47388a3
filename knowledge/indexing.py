"""Ingestion: accept an upload, then index it (extract → clean → chunk → embed → index).

`submit` stores the bytes and a `queued` document row, or recognizes an unchanged re-upload and
does nothing. `index_document` does the work for one document id; it is idempotent and safe to
retry, so a job queue (RQ, or the in-process runner) can call it with nothing but the id. Chunks
whose embedded text is unchanged keep their rows and vectors: a changed document re-embeds only
what changed. SQL commits after the vectors are written, so a crash in between leaves at worst
vectors without rows, which retrieval ignores (it resolves every hit through SQL) and
`reconcile` removes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from engine.db import Database
from knowledge.chunking import Chunk as ChunkDraft
from knowledge.chunking import ChunkingConfig, chunk_document
from knowledge.embeddings import Embedder
from knowledge.errors import DocumentNotFoundError, KnowledgeError
from knowledge.extract import Limits, check_size, extract
from knowledge.models import FAILED, INDEXING, QUEUED, READY, Chunk, Document, KnowledgeBase
from knowledge.sniff import sniff
from knowledge.store import VectorStore

if TYPE_CHECKING:
    from knowledge.embeddings import Vectors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexResult:
    document_id: int
    source_name: str
    status: str  # ready | failed | unchanged
    chunks: int = 0
    embedded: int = 0
    error: str | None = None


Progress = Callable[[IndexResult], None]


@dataclass
class _Work:
    """One document on its way through indexing: what was stored, what parsing made of it, and
    the plan (chunks kept with their vectors, fresh ones to embed, vanished ones to delete)."""

    doc_id: int
    creator_id: int
    name: str
    data: bytes
    digest: str
    existing: dict[int, str]  # chunk id → content hash, as indexed before
    title: str = ""
    drafts: list[ChunkDraft] = field(default_factory=list)
    kept: dict[int, ChunkDraft] = field(default_factory=dict)
    fresh: list[ChunkDraft] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    def planned(self, title: str, drafts: list[ChunkDraft]) -> _Work:
        self.title, self.drafts = title, drafts
        reusable: dict[str, list[int]] = {}
        for chunk_id, content_hash in sorted(self.existing.items()):
            reusable.setdefault(content_hash, []).append(chunk_id)
        for draft in drafts:
            ids = reusable.get(draft.content_hash)
            if ids:
                self.kept[ids.pop(0)] = draft
            else:
                self.fresh.append(draft)
        self.removed = [i for ids in reusable.values() for i in ids]
        self.data = b""  # parsed: the bytes are not needed any more
        return self


@dataclass
class _Batch:
    results: dict[int, IndexResult] = field(default_factory=dict)  # settled without embedding
    work: list[_Work] = field(default_factory=list)  # parsed, waiting for vectors

    @property
    def fresh(self) -> int:
        return sum(len(w.fresh) for w in self.work)

    def add(self, other: _Batch) -> None:
        self.results.update(other.results)
        self.work += other.work


def now() -> datetime:
    return datetime.now(UTC)


async def knowledge_base(session: AsyncSession, creator_id: int, model: str) -> KnowledgeBase:
    kb = await session.scalar(select(KnowledgeBase).where(KnowledgeBase.creator_id == creator_id))
    if kb is None:
        kb = KnowledgeBase(creator_id=creator_id, embedding_model=model, revision=0)
        session.add(kb)
        await session.flush()
    return kb


async def bump_revision(session: AsyncSession, creator_id: int) -> None:
    await session.execute(
        update(KnowledgeBase)
        .where(KnowledgeBase.creator_id == creator_id)
        .values(revision=KnowledgeBase.revision + 1, updated_at=now())
    )


async def find_document(session: AsyncSession, creator_id: int, ref: str) -> Document:
    """A creator's document by id or by source name."""
    query = select(Document).where(Document.creator_id == creator_id)
    if ref.isdigit():
        doc = await session.scalar(query.where(Document.id == int(ref)))
        if doc is not None:
            return doc
    doc = await session.scalar(query.where(Document.source_name == ref))
    if doc is None:
        raise DocumentNotFoundError(f"no document {ref!r}; see `coachbot kb list`")
    return doc


class Indexer:
    def __init__(
        self,
        db: Database,
        store: VectorStore,
        embedder: Embedder,
        *,
        chunking: ChunkingConfig | None = None,
        limits: Limits | None = None,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.on_change = on_change  # called with a creator id after its chunks changed
        self.db = db
        self.store = store
        self.embedder = embedder
        self.chunking = chunking or ChunkingConfig()
        self.limits = limits or Limits()

    async def submit(self, creator_id: int, source_name: str, data: bytes) -> tuple[int, bool]:
        """Store an upload; (document id, whether it is unchanged and already indexed).
        Raises a KnowledgeError (nothing stored) when the file is too large or not a format we
        read: those are known from the bytes at once."""
        stored = await self._store(creator_id, source_name, data, start=False)
        if isinstance(stored, IndexResult):
            return stored.document_id, True
        assert isinstance(stored, int)
        return stored, False

    async def _store(
        self, creator_id: int, source_name: str, data: bytes, *, start: bool
    ) -> IndexResult | _Work | int:
        """`submit`, and with `start` also what `_begin` does, in the same transaction: the
        unchanged result, the work to do, or (without `start`) the queued document's id."""
        check_size(data, source_name, self.limits)
        kind = sniff(data, source_name)
        digest = hashlib.sha256(data).hexdigest()
        async with self.db.transaction() as session:
            kb = await knowledge_base(session, creator_id, self.embedder.name)
            doc = await session.scalar(
                select(Document).where(
                    Document.knowledge_base_id == kb.id, Document.source_name == source_name
                )
            )
            if doc is not None and doc.indexed_hash == digest and doc.status == READY:
                return IndexResult(doc.id, source_name, "unchanged", doc.chunk_count, 0)
            if doc is None:
                doc = Document(knowledge_base_id=kb.id, creator_id=creator_id, attempts=0)
                doc.source_name = source_name
                doc.title = source_name[:300]
                session.add(doc)
            doc.kind = kind.value
            doc.size_bytes = len(data)
            doc.content = data
            doc.content_hash = digest
            doc.status = INDEXING if start else QUEUED
            doc.error = None
            doc.updated_at = now()
            await session.flush()
            if not start:
                return doc.id
            doc.attempts += 1
            existing = await self._chunk_hashes(session, doc.id)
            return _Work(doc.id, creator_id, source_name, data, digest, existing)

    async def ingest(self, creator_id: int, source_name: str, data: bytes) -> IndexResult:
        """Submit and index inline (the CLI's way; the hub queues `index_document` instead)."""
        document_id, unchanged = await self.submit(creator_id, source_name, data)
        if unchanged:
            async with self.db.sessions() as session:
                doc = await session.get(Document, document_id)
                assert doc is not None
                return IndexResult(document_id, source_name, "unchanged", doc.chunk_count, 0)
        return await self.index_document(document_id)

    async def ingest_many(
        self,
        creator_id: int,
        files: Iterable[tuple[str, bytes]],
        *,
        progress: Progress | None = None,
        chunks: int = 256,
        group: int = 64,
    ) -> list[IndexResult]:
        """Submit and index many files as a pipeline of three overlapping stages: storing and
        parsing documents until their new chunks reach `chunks` (or `group` documents),
        embedding that whole group in one encoder call (which sorts the texts by length into
        batches), and writing the group before to SQL and Chroma in one transaction. A file
        refused at submission (too large, not a format we read) becomes a failed result without
        a document row, and the others go on."""
        results: list[IndexResult] = []
        parsed: asyncio.Queue[tuple[list[tuple[int, int]], _Batch] | None] = asyncio.Queue(1)
        embedded: asyncio.Queue[tuple[list[tuple[int, int]], _Batch, Vectors] | None]
        embedded = asyncio.Queue(1)

        async def produce() -> None:
            pending: list[tuple[int, int]] = []  # (document id, its slot in results)
            batch = _Batch()
            wanted = min(32, chunks)  # a small first group gets the encoder going early
            for name, data in files:
                try:
                    stored = await self._store(creator_id, name, data, start=True)
                except KnowledgeError as exc:
                    stored = IndexResult(0, name, FAILED, error=str(exc))
                if isinstance(stored, IndexResult):
                    results.append(stored)
                    if progress is not None:
                        progress(stored)
                    continue
                assert isinstance(stored, _Work)
                results.append(IndexResult(stored.doc_id, name, QUEUED))
                pending.append((stored.doc_id, len(results) - 1))
                batch.add(await self._parse_all([stored]))
                if batch.fresh >= wanted or len(pending) >= group:
                    await parsed.put((pending, batch))
                    pending, batch = [], _Batch()
                    wanted = min(2 * wanted, chunks)
            if pending:
                await parsed.put((pending, batch))
            await parsed.put(None)

        async def embed() -> None:
            while (item := await parsed.get()) is not None:
                await embedded.put((*item, await self._embed(item[1])))
            await embedded.put(None)

        async def write() -> None:
            while (item := await embedded.get()) is not None:
                batch, done, vectors = item
                await self._write_all(done, vectors, progress)
                for document_id, slot in batch:
                    results[slot] = done.results[document_id]

        async with asyncio.TaskGroup() as stages:
            stages.create_task(produce())
            stages.create_task(embed())
            stages.create_task(write())
        return results

    async def index_document(self, document_id: int) -> IndexResult:
        return (await self.index_documents([document_id]))[0]

    async def index_documents(
        self, document_ids: Sequence[int], *, progress: Progress | None = None
    ) -> list[IndexResult]:
        """Index stored documents together: parse each, embed the new chunks of all of them in
        one call (the encoder sorts them by length into full batches, which is where its speed
        comes from), then write each document in its own transaction. One document's failure
        never touches the others'."""
        done = await self._prepare(document_ids)
        await self._write_all(done, await self._embed(done), progress)
        return [done.results[i] for i in document_ids]

    async def _prepare(self, document_ids: Sequence[int]) -> _Batch:
        done = _Batch()
        started: list[_Work] = []
        for document_id in document_ids:
            begun = await self._begin(document_id)
            if isinstance(begun, IndexResult):
                done.results[document_id] = begun
            else:
                started.append(begun)
        done.add(await self._parse_all(started))
        return done

    async def _parse_all(self, started: list[_Work]) -> _Batch:
        done = _Batch()
        for w in started:
            try:
                title, drafts = await asyncio.to_thread(self._parse, w.data, w.name)
            except KnowledgeError as exc:
                done.results[w.doc_id] = await self._fail(w.doc_id, w.name, str(exc))
                continue
            except Exception as exc:
                await self._crash(w, exc)
                raise
            done.work.append(w.planned(title, drafts))
        return done

    async def _embed(self, done: _Batch) -> Vectors:
        texts = [d.embed_text for w in done.work for d in w.fresh]
        try:
            return await asyncio.to_thread(self.embedder.embed, texts)
        except Exception as exc:
            for w in done.work:
                await self._crash(w, exc)
            raise

    async def _write_all(self, done: _Batch, vectors: Vectors, progress: Progress | None) -> None:
        try:
            written = await self._write(done.work, vectors)
        except Exception as exc:
            for w in done.work:
                await self._crash(w, exc)
            raise
        done.results.update(written)
        if progress is not None:
            for result in done.results.values():
                progress(result)

    async def _begin(self, document_id: int) -> _Work | IndexResult:
        async with self.db.transaction() as session:
            doc = await session.get(Document, document_id, options=[undefer(Document.content)])
            if doc is None:
                raise DocumentNotFoundError(f"no document {document_id}")
            name = doc.source_name
            if doc.status == READY and doc.indexed_hash == doc.content_hash:
                return IndexResult(document_id, name, "unchanged", doc.chunk_count, 0)
            doc.status = INDEXING
            doc.attempts += 1
            existing = await self._chunk_hashes(session, document_id)
            return _Work(document_id, doc.creator_id, name, doc.content, doc.content_hash, existing)

    async def _crash(self, work: _Work, exc: Exception) -> None:
        log.exception("indexing failed", extra={"document_id": work.doc_id})
        await self._fail(work.doc_id, work.name, f"internal error: {exc!r}")

    def _parse(self, data: bytes, name: str) -> tuple[str, list[ChunkDraft]]:
        _kind, extracted = extract(data, name, self.limits)
        return extracted.title, chunk_document(extracted, self.chunking)

    async def _chunk_hashes(self, session: AsyncSession, document_id: int) -> dict[int, str]:
        rows = await session.execute(
            select(Chunk.id, Chunk.content_hash).where(Chunk.document_id == document_id)
        )
        return {row[0]: row[1] for row in rows}

    async def _write(self, work: list[_Work], vectors: Vectors) -> dict[int, IndexResult]:
        """Write a group of parsed and embedded documents in one transaction: their chunk rows,
        their vectors (before the commit: a crash in between leaves only orphan vectors, which
        retrieval ignores and `reconcile` removes), one revision bump per creator."""
        results: dict[int, IndexResult] = {}
        added: list[tuple[_Work, list[Chunk], Vectors]] = []
        offset = 0
        if not work:
            return results
        async with self.db.transaction() as session:
            for w in work:
                mine = vectors[offset : offset + len(w.fresh)]
                offset += len(w.fresh)
                doc = await session.scalar(
                    select(Document).where(Document.id == w.doc_id).with_for_update()
                )
                if doc is None:
                    error = "the document was deleted while it was being indexed"
                    results[w.doc_id] = IndexResult(w.doc_id, w.name, FAILED, error=error)
                    continue
                if await self._chunk_hashes(session, w.doc_id) != w.existing:
                    # Another run indexed this document meanwhile; its result stands.
                    results[w.doc_id] = IndexResult(
                        w.doc_id, w.name, "unchanged", doc.chunk_count, 0
                    )
                    continue
                if w.removed:
                    await session.execute(delete(Chunk).where(Chunk.id.in_(w.removed)))
                for chunk_id, draft in w.kept.items():
                    await session.execute(
                        update(Chunk)
                        .where(Chunk.id == chunk_id)
                        .values(position=draft.position, text=draft.text, page=draft.page)
                    )
                rows = [
                    Chunk(
                        document_id=w.doc_id,
                        creator_id=w.creator_id,
                        position=d.position,
                        text=d.text,
                        heading=d.heading,
                        page=d.page,
                        content_hash=d.content_hash,
                    )
                    for d in w.fresh
                ]
                session.add_all(rows)
                doc.title = w.title
                doc.status = READY
                doc.error = None
                doc.indexed_hash = w.digest
                doc.chunk_count = len(w.drafts)
                doc.embedded_count = len(w.fresh)
                doc.indexed_at = doc.updated_at = now()
                added.append((w, rows, mine))
                results[w.doc_id] = IndexResult(
                    w.doc_id, w.name, READY, len(w.drafts), len(w.fresh)
                )
            await session.flush()
            for creator_id in sorted({w.creator_id for w, _, _ in added}):
                await bump_revision(session, creator_id)
            await asyncio.to_thread(self._write_vectors, added)
        self._changed({w.creator_id for w, _, _ in added})
        return results

    def _changed(self, creator_ids: Iterable[int]) -> None:
        if self.on_change is not None:
            for creator_id in creator_ids:
                self.on_change(creator_id)

    def _write_vectors(self, added: list[tuple[_Work, list[Chunk], Vectors]]) -> None:
        import numpy as np

        by_creator: dict[int, list[tuple[_Work, list[Chunk], Vectors]]] = {}
        for item in added:
            by_creator.setdefault(item[0].creator_id, []).append(item)
        for creator_id, items in by_creator.items():
            removed = [i for w, _, _ in items for i in w.removed]
            if removed:  # first: an id may come back for a new chunk (chunk ids are vector ids)
                self.store.delete(creator_id, removed)
            ids = [r.id for _, rows, _ in items for r in rows]
            if ids:
                owners = [w.doc_id for w, rows, _ in items for _ in rows]
                self.store.upsert(creator_id, ids, np.concatenate([v for *_, v in items]), owners)

    async def _fail(self, document_id: int, name: str, error: str) -> IndexResult:
        async with self.db.transaction() as session:
            await session.execute(
                update(Document)
                .where(Document.id == document_id)
                .values(status=FAILED, error=error[:2000], updated_at=now())
            )
        log.warning("document failed to index", extra={"document_id": document_id})
        return IndexResult(document_id, name, FAILED, error=error)

    async def delete(self, creator_id: int, ref: str) -> Document:
        """Remove a document, its chunks and its vectors."""
        async with self.db.transaction() as session:
            doc = await find_document(session, creator_id, ref)
            ids = list(await self._chunk_hashes(session, doc.id))
            await session.execute(delete(Chunk).where(Chunk.document_id == doc.id))
            await session.delete(doc)
            await bump_revision(session, creator_id)
            await asyncio.to_thread(self.store.delete, creator_id, ids)
            await asyncio.to_thread(self.store.delete_document, creator_id, doc.id)
        self._changed([creator_id])
        return doc

    async def requeue(self, creator_id: int, *, failed_only: bool) -> list[int]:
        """Mark documents for indexing again (all, or only the failed ones); their ids."""
        async with self.db.transaction() as session:
            query = select(Document).where(Document.creator_id == creator_id)
            if failed_only:
                query = query.where(Document.status == FAILED)
            docs = (await session.scalars(query.order_by(Document.id))).all()
            for doc in docs:
                doc.status = QUEUED
                if not failed_only:
                    doc.indexed_hash = None  # forces re-chunking even when the bytes are the same
            return [d.id for d in docs]
