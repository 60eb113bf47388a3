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
from dataclasses import dataclass
from datetime import UTC, datetime

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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexResult:
    document_id: int
    source_name: str
    status: str  # ready | failed | unchanged
    chunks: int = 0
    embedded: int = 0
    error: str | None = None


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
    ) -> None:
        self.db = db
        self.store = store
        self.embedder = embedder
        self.chunking = chunking or ChunkingConfig()
        self.limits = limits or Limits()

    async def submit(self, creator_id: int, source_name: str, data: bytes) -> tuple[int, bool]:
        """Store an upload; (document id, whether it is unchanged and already indexed).
        Raises a KnowledgeError (nothing stored) when the file is too large or not a format we
        read: those are known from the bytes at once."""
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
                return doc.id, True
            if doc is None:
                doc = Document(knowledge_base_id=kb.id, creator_id=creator_id)
                doc.source_name = source_name
                doc.title = source_name[:300]
                session.add(doc)
            doc.kind = kind.value
            doc.size_bytes = len(data)
            doc.content = data
            doc.content_hash = digest
            doc.status = QUEUED
            doc.error = None
            doc.updated_at = now()
            await session.flush()
            return doc.id, False

    async def ingest(self, creator_id: int, source_name: str, data: bytes) -> IndexResult:
        """Submit and index inline (the CLI's way; the hub queues `index_document` instead)."""
        document_id, unchanged = await self.submit(creator_id, source_name, data)
        if unchanged:
            async with self.db.sessions() as session:
                doc = await session.get(Document, document_id)
                assert doc is not None
                return IndexResult(document_id, source_name, "unchanged", doc.chunk_count, 0)
        return await self.index_document(document_id)

    async def index_document(self, document_id: int) -> IndexResult:
        async with self.db.transaction() as session:
            doc = await session.get(Document, document_id, options=[undefer(Document.content)])
            if doc is None:
                raise DocumentNotFoundError(f"no document {document_id}")
            name, creator_id = doc.source_name, doc.creator_id
            if doc.status == READY and doc.indexed_hash == doc.content_hash:
                return IndexResult(document_id, name, "unchanged", doc.chunk_count, 0)
            data, digest = doc.content, doc.content_hash
            doc.status = INDEXING
            doc.attempts += 1
            existing = await self._chunk_hashes(session, document_id)
        try:
            title, drafts = await asyncio.to_thread(self._parse, data, name)
            result = await self._write(
                doc_id=document_id,
                creator_id=creator_id,
                name=name,
                title=title,
                drafts=drafts,
                existing=existing,
                digest=digest,
            )
        except KnowledgeError as exc:
            return await self._fail(document_id, name, str(exc))
        except Exception as exc:
            log.exception("indexing failed", extra={"document_id": document_id})
            await self._fail(document_id, name, f"internal error: {exc!r}")
            raise
        return result

    def _parse(self, data: bytes, name: str) -> tuple[str, list[ChunkDraft]]:
        _kind, extracted = extract(data, name, self.limits)
        return extracted.title, chunk_document(extracted, self.chunking)

    async def _chunk_hashes(self, session: AsyncSession, document_id: int) -> dict[int, str]:
        rows = await session.execute(
            select(Chunk.id, Chunk.content_hash).where(Chunk.document_id == document_id)
        )
        return {row[0]: row[1] for row in rows}

    async def _write(
        self,
        *,
        doc_id: int,
        creator_id: int,
        name: str,
        title: str,
        drafts: list[ChunkDraft],
        existing: dict[int, str],
        digest: str,
    ) -> IndexResult:
        reusable: dict[str, list[int]] = {}
        for chunk_id, content_hash in sorted(existing.items()):
            reusable.setdefault(content_hash, []).append(chunk_id)
        kept: dict[int, ChunkDraft] = {}
        fresh: list[ChunkDraft] = []
        for draft in drafts:
            ids = reusable.get(draft.content_hash)
            if ids:
                kept[ids.pop(0)] = draft
            else:
                fresh.append(draft)
        removed = [i for ids in reusable.values() for i in ids]
        vectors = await asyncio.to_thread(self.embedder.embed, [d.embed_text for d in fresh])

        async with self.db.transaction() as session:
            doc = await session.scalar(
                select(Document).where(Document.id == doc_id).with_for_update()
            )
            if doc is None:
                raise DocumentNotFoundError(f"document {doc_id} was deleted while indexing")
            if await self._chunk_hashes(session, doc_id) != existing:
                # Another run indexed this document meanwhile; its result stands.
                return IndexResult(doc_id, name, "unchanged", doc.chunk_count, 0)
            if removed:
                await session.execute(delete(Chunk).where(Chunk.id.in_(removed)))
            for chunk_id, draft in kept.items():
                await session.execute(
                    update(Chunk)
                    .where(Chunk.id == chunk_id)
                    .values(position=draft.position, text=draft.text, page=draft.page)
                )
            rows = [
                Chunk(
                    document_id=doc_id,
                    creator_id=creator_id,
                    position=d.position,
                    text=d.text,
                    heading=d.heading,
                    page=d.page,
                    content_hash=d.content_hash,
                )
                for d in fresh
            ]
            session.add_all(rows)
            await session.flush()
            doc.title = title
            doc.status = READY
            doc.error = None
            doc.indexed_hash = digest
            doc.chunk_count = len(drafts)
            doc.embedded_count = len(fresh)
            doc.indexed_at = doc.updated_at = now()
            await bump_revision(session, creator_id)
            new_ids = [r.id for r in rows]
            await asyncio.to_thread(
                self._write_vectors, creator_id, doc_id, new_ids, vectors, removed
            )
        return IndexResult(doc_id, name, READY, len(drafts), len(fresh))

    def _write_vectors(
        self, creator_id: int, doc_id: int, new_ids: list[int], vectors: object, removed: list[int]
    ) -> None:
        if removed:  # first: an id may come back for a new chunk (chunk ids are vector ids)
            self.store.delete(creator_id, removed)
        if new_ids:
            self.store.upsert(creator_id, new_ids, vectors, [doc_id] * len(new_ids))  # type: ignore[arg-type]

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
