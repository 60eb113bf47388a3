"""The knowledge base as other packages use it: one object holding the database, the vector
store, the embedder and the settings, with the operations of the CLI, the hub and the engine.
The composition root (config.wiring) builds it; nothing here reads settings itself."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import Database
from knowledge.chunking import ChunkingConfig
from knowledge.embeddings import Embedder
from knowledge.extract import Limits
from knowledge.indexing import (
    Indexer,
    IndexResult,
    Progress,
    bump_revision,
    find_document,
    knowledge_base,
)
from knowledge.models import QUEUED, READY, Chunk, Document, KnowledgeBase
from knowledge.reconcile import ReconcileReport, reconcile
from knowledge.retrieval import Retriever, SearchResult
from knowledge.store import VectorStore


@dataclass(frozen=True)
class KnowledgeConfig:
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    limits: Limits = field(default_factory=Limits)
    top_k: int = 5
    candidates: int = 30
    min_relevance: float = 0.3


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    source_name: str
    title: str
    kind: str
    status: str
    chunks: int
    size_bytes: int
    error: str | None


class KnowledgeService:
    def __init__(
        self,
        db: Database,
        store: VectorStore,
        embedder: Embedder,
        config: KnowledgeConfig | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.embedder = embedder
        self.config = config or KnowledgeConfig()
        self.retriever = Retriever(db, store, embedder, candidates=self.config.candidates)
        self.indexer = Indexer(
            db,
            store,
            embedder,
            chunking=self.config.chunking,
            limits=self.config.limits,
            on_change=self.retriever.invalidate,
        )

    async def ingest(self, creator_id: int, source_name: str, data: bytes) -> IndexResult:
        return await self.indexer.ingest(creator_id, source_name, data)

    async def ingest_many(
        self,
        creator_id: int,
        files: Iterable[tuple[str, bytes]],
        *,
        progress: Progress | None = None,
    ) -> list[IndexResult]:
        """Many files at once: the new chunks of many documents are embedded together."""
        return await self.indexer.ingest_many(creator_id, files, progress=progress)

    async def submit(self, creator_id: int, source_name: str, data: bytes) -> tuple[int, bool]:
        return await self.indexer.submit(creator_id, source_name, data)

    async def index_document(self, document_id: int) -> IndexResult:
        return await self.indexer.index_document(document_id)

    async def index_documents(
        self, document_ids: Sequence[int], *, progress: Progress | None = None
    ) -> list[IndexResult]:
        return await self.indexer.index_documents(document_ids, progress=progress)

    async def retry(self, creator_id: int, ref: str) -> IndexResult:
        """Index one document again now (by id or name): a failed one after its cause was fixed
        (a setting, a limit), or one left queued or indexing by a crash."""
        async with self.db.transaction() as session:
            doc = await find_document(session, creator_id, ref)
            if doc.status != READY:
                doc.status = QUEUED
            document_id = doc.id
        return await self.indexer.index_document(document_id)

    async def delete(self, creator_id: int, ref: str) -> str:
        return (await self.indexer.delete(creator_id, ref)).source_name

    async def reindex(self, creator_id: int, *, failed_only: bool = False) -> list[IndexResult]:
        """Run the pipeline again on the stored bytes (after a change of chunking settings or
        of the embedding model), or only on the documents that failed. Unchanged chunks keep
        their vectors unless the model changed, in which case everything is embedded anew."""
        if not failed_only:
            await self._reset_if_model_changed(creator_id)
        ids = await self.indexer.requeue(creator_id, failed_only=failed_only)
        results: list[IndexResult] = []
        for start in range(0, len(ids), 64):
            results += await self.indexer.index_documents(ids[start : start + 64])
        return results

    async def _reset_if_model_changed(self, creator_id: int) -> None:
        async with self.db.transaction() as session:
            kb = await knowledge_base(session, creator_id, self.embedder.name)
            if kb.embedding_model == self.embedder.name:
                return
            kb.embedding_model = self.embedder.name
            await session.execute(delete(Chunk).where(Chunk.creator_id == creator_id))
            await bump_revision(session, creator_id)
            self.store.drop(creator_id)
        self.retriever.invalidate(creator_id)

    async def reconcile(self, creator_id: int, *, repair: bool = True) -> ReconcileReport:
        return await reconcile(self.db, self.store, self.embedder, creator_id, repair=repair)

    async def search(
        self,
        creator_id: int,
        query: str,
        k: int | None = None,
        *,
        session: AsyncSession | None = None,
    ) -> SearchResult:
        return await self.retriever.search(
            creator_id, query, k or self.config.top_k, session=session
        )

    async def has_material(self, creator_id: int) -> bool:
        async with self.db.sessions() as session:
            found = await session.scalar(
                select(Chunk.id).where(Chunk.creator_id == creator_id).limit(1)
            )
        return found is not None

    async def documents(self, creator_id: int) -> Sequence[DocumentInfo]:
        async with self.db.sessions() as session:
            docs = (
                await session.scalars(
                    select(Document)
                    .where(Document.creator_id == creator_id)
                    .order_by(Document.source_name)
                )
            ).all()
        return [
            DocumentInfo(
                d.id, d.source_name, d.title, d.kind, d.status, d.chunk_count, d.size_bytes, d.error
            )
            for d in docs
        ]

    async def knowledge_base(self, creator_id: int) -> KnowledgeBase | None:
        async with self.db.sessions() as session:
            return await session.scalar(
                select(KnowledgeBase).where(KnowledgeBase.creator_id == creator_id)
            )

    def close(self) -> None:
        self.retriever.close()
        self.store.close()
