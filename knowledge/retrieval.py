"""Hybrid retrieval for one creator: dense (Chroma, cosine) and lexical (BM25) candidates fused
by their scores (each list min-max normalized, then weighted 0.7 dense, 0.3 lexical), then
resolved through SQL, which drops anything the index holds
that SQL does not (so an index out of step can never surface a deleted chunk).

Query embedding, the vector search and BM25 are CPU-bound and run in a worker thread, never on
the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import Database
from knowledge.embeddings import Embedder
from knowledge.lexical import LexicalCache, LexicalIndex
from knowledge.models import Chunk, Document, KnowledgeBase
from knowledge.store import VectorStore

log = logging.getLogger(__name__)

# Measured on benchmarks/knowledge_quality.py (dev questions; held-out ones confirm): on
# conversational questions MiniLM alone finds the answer in the top 5 far more often than BM25
# alone (0.95 vs 0.80), and reciprocal rank fusion with equal weights dragged the dense winner
# below chunks that were middling in both lists (0.90). Fusing normalized scores keeps how far
# ahead a candidate is, not just its rank; 0.7–0.8 for the dense share is a plateau.
DENSE_WEIGHT = 0.7


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    doc: str  # source file name
    title: str
    heading: str
    page: int | None
    text: str
    rank: int
    score: float  # fused, 0..1
    similarity: float | None  # cosine to the query, when the dense search found it


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: list[Hit] = field(default_factory=list)
    best_similarity: float = 0.0  # of the best dense candidate: how on-topic the material is
    lexical_matches: int = 0


def _normalized(scored: list[tuple[int, float]]) -> dict[int, float]:
    if not scored:
        return {}
    low = min(v for _, v in scored)
    high = max(v for _, v in scored)
    span = high - low
    return {item: (v - low) / span if span > 0 else 1.0 for item, v in scored}


def fuse(
    dense: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    dense_weight: float = DENSE_WEIGHT,
) -> list[tuple[int, float]]:
    """Relative score fusion: each list's scores scaled to 0..1 (best 1, worst 0), summed with
    weights; a candidate missing from a list scores 0 there. Best first, ties by id."""
    d, lex = _normalized(dense), _normalized(lexical)
    scores = {
        item: dense_weight * d.get(item, 0.0) + (1 - dense_weight) * lex.get(item, 0.0)
        for item in d.keys() | lex.keys()
    }
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


class Retriever:
    def __init__(
        self,
        db: Database,
        store: VectorStore,
        embedder: Embedder,
        *,
        candidates: int = 30,
        dense_weight: float = DENSE_WEIGHT,
        query_workers: int = 2,
        revision_ttl: float = 1.0,
        rebuild_in_background: int = 5_000,
    ) -> None:
        self.db = db
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.dense_weight = dense_weight
        self.lexical = LexicalCache()
        # Queries run on threads of their own, each with one torch thread (see
        # SentenceEmbedder.prepare_query_thread), so a query never waits on ingestion's pool.
        self._query_workers = query_workers
        self._executor: ThreadPoolExecutor | None = None
        # The knowledge base's revision, as last read from SQL, and when: a search re-reads it
        # only after `revision_ttl` seconds, unless this process changed the knowledge base
        # (`invalidate`). Another process's change is seen within the TTL; hits are resolved
        # through SQL on every search, so a deleted chunk is never shown in the meantime.
        self.revision_ttl = revision_ttl
        self._revisions: dict[int, tuple[float, int]] = {}
        self.rebuild_in_background = rebuild_in_background
        self._rebuilds: dict[int, asyncio.Task[None]] = {}

    def invalidate(self, creator_id: int) -> None:
        self._revisions.pop(creator_id, None)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            prepare = getattr(self.embedder, "prepare_query_thread", None)
            self._executor = ThreadPoolExecutor(
                self._query_workers,
                thread_name_prefix="coachbot-query",
                initializer=prepare,
            )
        return self._executor

    def close(self) -> None:
        for task in self._rebuilds.values():
            task.cancel()
        self._rebuilds.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    @asynccontextmanager
    async def _session(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        """The caller's session (a turn's: on SQLite a second one would wait for the turn's
        write lock), or a short one of our own."""
        if session is not None:
            yield session
            return
        async with self.db.sessions() as own:
            yield own

    async def search(
        self, creator_id: int, query: str, k: int = 5, *, session: AsyncSession | None = None
    ) -> SearchResult:
        query = " ".join(query.split())
        if not query:
            return SearchResult(query)
        lexical = await self.lexical_index(creator_id, session=session)
        if lexical is None or not lexical.ids:
            return SearchResult(query)
        # Dense (embedding, then Chroma) and BM25 run at once on the two query threads: BM25's
        # tail on a large index would otherwise add to the embedding's.
        loop, pool = asyncio.get_running_loop(), self._pool()
        n = min(self.candidates, len(lexical.ids))
        dense, sparse = await asyncio.gather(
            loop.run_in_executor(pool, self._dense, creator_id, query, n),
            loop.run_in_executor(pool, lexical.search, query, n),
        )
        fused = fuse(dense, sparse, self.dense_weight)
        similarity = dict(dense)
        wanted = [chunk_id for chunk_id, _ in fused[: k * 2]]
        rows = await self._rows(creator_id, wanted, session)
        hits: list[Hit] = []
        for chunk_id, score in fused:
            row = rows.get(chunk_id)
            if row is None:
                continue  # in the index but not in SQL: deleted meanwhile, or an orphan
            chunk, title, doc = row
            hits.append(
                Hit(
                    chunk_id=chunk_id,
                    document_id=chunk.document_id,
                    doc=doc,
                    title=title,
                    heading=chunk.heading,
                    page=chunk.page,
                    text=chunk.text,
                    rank=len(hits) + 1,
                    score=score,
                    similarity=similarity.get(chunk_id),
                )
            )
            if len(hits) == k:
                break
        best = max((s for _, s in dense), default=0.0)
        return SearchResult(query, hits, best, len(sparse))

    def _dense(self, creator_id: int, query: str, n: int) -> list[tuple[int, float]]:
        return self.store.query(creator_id, self.embedder.embed_query(query), n)

    async def lexical_index(
        self, creator_id: int, *, session: AsyncSession | None = None
    ) -> LexicalIndex | None:
        known = self._revisions.get(creator_id)
        if known is not None and time.monotonic() - known[0] < self.revision_ttl:
            cached = self.lexical.get(creator_id, known[1])
            if cached is not None:
                return cached
        async with self._session(session) as s:
            checked = time.monotonic()
            revision = await s.scalar(
                select(KnowledgeBase.revision).where(KnowledgeBase.creator_id == creator_id)
            )
            if revision is None:
                return None
            self._revisions[creator_id] = (checked, revision)
            cached = self.lexical.get(creator_id, revision)
            if cached is not None:
                return cached
            stale = self.lexical.latest(creator_id)
            if stale is not None and len(stale.ids) >= self.rebuild_in_background:
                # A large index takes seconds to rebuild: answer from the one we have (hits are
                # resolved through SQL, so nothing deleted is shown; new chunks are found by the
                # dense half meanwhile) and rebuild it once, in the background.
                self._rebuild_later(creator_id, revision)
                return stale
            return await self._build(creator_id, revision, s)

    async def _build(self, creator_id: int, revision: int, session: AsyncSession) -> LexicalIndex:
        rows = (
            await session.execute(
                select(Chunk.id, Document.title, Chunk.heading, Chunk.text)
                .join(Document, Document.id == Chunk.document_id)
                .where(Chunk.creator_id == creator_id)
                .order_by(Chunk.id)
            )
        ).all()
        ids = [r[0] for r in rows]
        texts = [f"{title}\n{heading}\n{text}" for _, title, heading, text in rows]
        index = await asyncio.to_thread(LexicalIndex, ids, texts)
        self.lexical.put(creator_id, revision, index)
        return index

    def _rebuild_later(self, creator_id: int, revision: int) -> None:
        running = self._rebuilds.get(creator_id)
        if running is not None and not running.done():
            return

        async def rebuild() -> None:
            try:
                async with self.db.sessions() as session:
                    await self._build(creator_id, revision, session)
            except Exception:
                log.exception("rebuilding the lexical index failed", extra={"creator": creator_id})

        self._rebuilds[creator_id] = asyncio.create_task(rebuild(), name=f"bm25:{creator_id}")

    async def _rows(
        self, creator_id: int, ids: list[int], session: AsyncSession | None
    ) -> dict[int, tuple[Chunk, str, str]]:
        if not ids:
            return {}
        async with self._session(session) as s:
            result = await s.execute(
                select(Chunk, Document.title, Document.source_name)
                .join(Document, Document.id == Chunk.document_id)
                .where(Chunk.id.in_(ids), Chunk.creator_id == creator_id)
            )
            return {chunk.id: (chunk, title, name) for chunk, title, name in result.all()}
