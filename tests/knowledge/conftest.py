from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from engine.clock import ManualClock
from engine.db import Database
from engine.models import Creator
from knowledge.embeddings import SentenceEmbedder
from knowledge.service import KnowledgeService
from knowledge.store import VectorStore

if TYPE_CHECKING:
    from knowledge.embeddings import Vectors


class CountingEmbedder:
    """The real encoder, counting how many texts it was asked to embed."""

    def __init__(self, inner: SentenceEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.embedded = 0
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.embedded += len(texts)
        self.calls += 1 if texts else 0
        return self.inner.embed(texts)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


@pytest.fixture(scope="session")
def sentence_embedder(tmp_path_factory: pytest.TempPathFactory) -> SentenceEmbedder:
    """The packaged MiniLM, loaded once for the whole run (its ONNX query export too)."""
    embedder = SentenceEmbedder(cache_dir=tmp_path_factory.mktemp("models"))
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture
def embedder(sentence_embedder: SentenceEmbedder) -> CountingEmbedder:
    return CountingEmbedder(sentence_embedder)


@pytest.fixture
async def kb(
    db: Database, tmp_path: Path, embedder: CountingEmbedder
) -> AsyncIterator[KnowledgeService]:
    service = KnowledgeService(db, VectorStore.persistent(tmp_path / "chroma"), embedder)
    yield service
    service.close()


@pytest.fixture
async def other_creator(db: Database, clock: ManualClock) -> Creator:
    from engine.creators import create_creator

    async with db.transaction() as session:
        return await create_creator(
            session,
            slug="lena",
            name="Lena Fischer",
            email="lena@example.com",
            password=None,
            now=clock.now(),
        )
