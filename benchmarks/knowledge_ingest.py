"""Ingestion throughput against the raw encoder on the same chunks, in the same run.

    python benchmarks/knowledge_ingest.py [--docs 120]

The corpus is the sample coaching texts, each written out as many distinct documents (a number
in every paragraph, so no chunk is a duplicate). Baseline: `SentenceEmbedder.embed` on exactly
the chunk texts ingestion embeds, in one call (the best the encoder can do). Ours: the whole
`KnowledgeService.ingest` per document: sniff, extract, clean, chunk, embed, Chroma, SQL.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from importlib import resources

from benchmarks.knowledge_common import fresh_service
from knowledge.chunking import chunk_document
from knowledge.embeddings import SentenceEmbedder
from knowledge.extract import extract


def corpus(count: int) -> list[tuple[str, bytes]]:
    samples = [
        item.read_text(encoding="utf-8")
        for item in sorted(resources.files("knowledge").joinpath("samples").iterdir(), key=str)
        if item.name.endswith(".md")
    ]
    docs = []
    for i in range(count):
        text = samples[i % len(samples)]
        varied = "\n\n".join(
            f"{p} (Note {i}.{j}.)" if p and not p.startswith("#") else p
            for j, p in enumerate(text.split("\n\n"))
        )
        docs.append((f"doc-{i:04d}.md", varied.encode()))
    return docs


async def bench(count: int, batch_size: int, threads: int) -> None:
    embedder = SentenceEmbedder(batch_size=batch_size, threads=threads)
    embedder.embed(["warm up the encoder"] * 8)
    docs = corpus(count)
    texts = [c.embed_text for name, data in docs for c in chunk_document(extract(data, name)[1])]
    started = time.perf_counter()
    embedder.embed(texts)
    raw = len(texts) / (time.perf_counter() - started)

    service, creator_id, _ = await fresh_service(embedder)
    started = time.perf_counter()
    embedded = 0
    for name, data in docs:
        embedded += (await service.ingest(creator_id, name, data)).embedded
    ours = embedded / (time.perf_counter() - started)
    assert embedded == len(texts), (embedded, len(texts))
    started = time.perf_counter()
    for name, data in docs:
        assert (await service.ingest(creator_id, name, data)).embedded == 0
    unchanged = time.perf_counter() - started
    service.close()
    await service.db.dispose()
    print(f"{len(docs)} documents, {len(texts)} chunks, batch {batch_size}, threads {threads}")
    print(f"raw encoder        {raw:7.1f} chunks/s")
    print(f"coachbot ingest    {ours:7.1f} chunks/s   ({ours / raw:.2f}x raw)")
    print(f"unchanged re-ingest of all documents: {unchanged:.2f} s, 0 chunks embedded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(bench(args.docs, args.batch_size, args.threads))


if __name__ == "__main__":
    main()
