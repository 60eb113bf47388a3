"""Prove the vector index matches SQL, and repair it from SQL when it does not.

SQL is the source of truth: a vector whose chunk is gone is removed, a chunk without a vector is
embedded again from its stored text, title and heading path (the same text ingestion embedded).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select

from engine.db import Database
from knowledge.chunking import embed_text
from knowledge.embeddings import Embedder
from knowledge.models import Chunk, Document
from knowledge.store import VectorStore

REPAIR_BATCH = 256


@dataclass(frozen=True)
class ReconcileReport:
    sql_chunks: int
    vectors_before: int
    missing: int  # chunks in SQL without a vector
    orphans: int  # vectors without a chunk in SQL
    vectors_after: int
    repaired: bool

    @property
    def equal(self) -> bool:
        return self.sql_chunks == self.vectors_after and (
            self.repaired or (self.missing == 0 and self.orphans == 0)
        )


async def reconcile(
    db: Database, store: VectorStore, embedder: Embedder, creator_id: int, *, repair: bool = True
) -> ReconcileReport:
    async with db.sessions() as session:
        sql_ids = set(
            (await session.scalars(select(Chunk.id).where(Chunk.creator_id == creator_id))).all()
        )
    index_ids = await asyncio.to_thread(store.ids, creator_id)
    missing = sorted(sql_ids - index_ids)
    orphans = sorted(index_ids - sql_ids)
    if repair:
        if orphans:
            await asyncio.to_thread(store.delete, creator_id, orphans)
        for start in range(0, len(missing), REPAIR_BATCH):
            await _restore(db, store, embedder, creator_id, missing[start : start + REPAIR_BATCH])
    after = await asyncio.to_thread(store.count, creator_id)
    return ReconcileReport(
        sql_chunks=len(sql_ids),
        vectors_before=len(index_ids),
        missing=len(missing),
        orphans=len(orphans),
        vectors_after=after if repair else len(index_ids),
        repaired=repair,
    )


async def _restore(
    db: Database, store: VectorStore, embedder: Embedder, creator_id: int, ids: list[int]
) -> None:
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(Chunk.id, Chunk.document_id, Document.title, Chunk.heading, Chunk.text)
                .join(Document, Document.id == Chunk.document_id)
                .where(Chunk.id.in_(ids))
            )
        ).all()
    texts = [embed_text(title, heading, text) for _, _, title, heading, text in rows]
    vectors = await asyncio.to_thread(embedder.embed, texts)
    await asyncio.to_thread(
        store.upsert, creator_id, [r[0] for r in rows], vectors, [r[1] for r in rows]
    )
