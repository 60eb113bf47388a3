"""Retrieval latency (query embedding + dense + BM25 + fusion + SQL) at N chunks in one creator.

    python benchmarks/knowledge_latency.py --chunks 10000 100000 [--queries 300]

The index is filled directly, not through ingestion (embedding 100k real chunks takes an hour on
2 cores): chunk rows with varied coaching sentences go into SQL, and their vectors are real
embeddings of a few hundred such sentences plus small noise, normalized. Queries are real
questions embedded at query time. p50/p99 are over the queries after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time

import numpy as np
from sqlalchemy import insert

from benchmarks.knowledge_common import fresh_service
from knowledge.embeddings import SentenceEmbedder
from knowledge.indexing import bump_revision, knowledge_base
from knowledge.models import Chunk, Document

TOPICS = [
    "sleep",
    "running",
    "protein",
    "habits",
    "stretching",
    "water",
    "stress",
    "walking",
    "strength training",
    "breakfast",
    "caffeine",
    "recovery",
    "motivation",
    "snacks",
]
ADVICE = [
    "helps most people",
    "works best in the morning",
    "is easier with a plan",
    "matters more than willpower",
    "needs a steady routine",
    "can start with five minutes",
    "improves with a friend",
    "is worth tracking for a week",
]
QUESTIONS = [
    "how much sleep do I need",
    "how fast should easy runs be",
    "protein per meal",
    "how to build a habit",
    "when to stop coffee",
    "how to recover after a long run",
    "best snacks for the afternoon",
    "how to stay motivated",
    "how much water to drink",
    "how to start strength training",
]


def sentence(rng: random.Random) -> str:
    return (
        f"{rng.choice(TOPICS).capitalize()} {rng.choice(ADVICE)}; "
        f"{rng.choice(TOPICS)} {rng.choice(ADVICE)} (note {rng.randrange(10**6)})."
    )


async def bench(sizes: list[int], queries: int) -> None:
    embedder = SentenceEmbedder()
    rng = random.Random(7)
    base_texts = [sentence(rng) for _ in range(400)]
    base = embedder.embed(base_texts)
    for size in sizes:
        service, creator_id, _ = await fresh_service(embedder)
        async with service.db.transaction() as session:
            kb = await knowledge_base(session, creator_id, embedder.name)
            doc = Document(
                knowledge_base_id=kb.id,
                creator_id=creator_id,
                source_name="bulk.md",
                title="Bulk",
                kind="markdown",
                size_bytes=0,
                content=b"",
                content_hash="-",
                status="ready",
                chunk_count=size,
            )
            session.add(doc)
            await session.flush()
            rows = [
                {
                    "document_id": doc.id,
                    "creator_id": creator_id,
                    "position": i,
                    "text": " ".join(sentence(rng) for _ in range(4)),
                    "heading": "",
                    "content_hash": str(i),
                }
                for i in range(size)
            ]
            for start in range(0, size, 5000):
                await session.execute(insert(Chunk), rows[start : start + 5000])
            await bump_revision(session, creator_id)
        picks = np.random.default_rng(7).integers(0, len(base), size)
        noise = np.random.default_rng(8).normal(0, 0.08, (size, base.shape[1])).astype(np.float32)
        vectors = base[picks] + noise
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        started = time.perf_counter()
        service.store.upsert(creator_id, list(range(1, size + 1)), vectors, [doc.id] * size)
        fill = time.perf_counter() - started
        started = time.perf_counter()
        await service.search(creator_id, "warm up")  # builds the BM25 index from SQL
        build = time.perf_counter() - started
        timings = []
        for i in range(queries + 20):
            question = f"{QUESTIONS[i % len(QUESTIONS)]} {i}"
            started = time.perf_counter()
            result = await service.search(creator_id, question, 5)
            if i >= 20:
                timings.append((time.perf_counter() - started) * 1000)
            assert len(result.hits) == 5

        def embed_alone() -> list[float]:
            out = []
            for i in range(100):
                started = time.perf_counter()
                embedder.embed_query(f"{QUESTIONS[i % len(QUESTIONS)]} {i}")
                out.append((time.perf_counter() - started) * 1000)
            return out

        # On a query thread, as retrieval runs it (one torch thread; see Retriever).
        embed_only = await asyncio.get_running_loop().run_in_executor(
            service.retriever._pool(), embed_alone
        )
        timings.sort()
        p50 = statistics.median(timings)
        p99 = timings[int(len(timings) * 0.99) - 1]
        load = os.getloadavg()[0]
        print(
            f"{size:>7} chunks: p50 {p50:5.1f} ms  p99 {p99:5.1f} ms  (load average {load:.1f}) "
            f"(query embedding alone p50 {statistics.median(embed_only):.1f} ms; "
            f"index fill {fill:.0f} s, BM25 build {build:.1f} s)"
        )
        service.close()
        await service.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(bench(args.chunks, args.queries))


if __name__ == "__main__":
    main()
