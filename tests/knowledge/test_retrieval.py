"""Hybrid retrieval: fusion, tenant isolation with near-duplicate material, the LangChain
retriever, and one owner per index directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.db import Database
from engine.models import Creator
from knowledge.errors import IndexLockedError
from knowledge.models import Chunk
from knowledge.retrieval import fuse
from knowledge.service import KnowledgeService
from knowledge.store import VectorStore

NOTES = {
    "sleep": "# Sleep\n\nAim for seven to nine hours of sleep. Keep a fixed wake time, even at weekends.",
    "caffeine": "# Caffeine\n\nStop coffee eight hours before bed; caffeine lingers for hours.",
    "running": "# Easy runs\n\nRun easy enough to talk in full sentences. Most weekly miles should be easy.",
    "protein": "# Protein\n\nEat a palm-sized portion of protein with each meal to recover and stay full.",
    "habits": "# Habits\n\nAttach a new habit to an existing one: after I pour my coffee, I stretch.",
}
QUESTIONS = {
    "how many hours should I sleep": "sleep",
    "when to stop drinking coffee": "caffeine",
    "how fast should my easy runs be": "running",
    "how much protein per meal": "protein",
    "how do I make a new habit stick": "habits",
}


def test_score_fusion_keeps_a_clear_dense_winner_first() -> None:
    dense = [(1, 0.80), (2, 0.50), (3, 0.48)]
    lexical = [(3, 9.0), (2, 8.5), (4, 1.0)]
    fused = fuse(dense, lexical, dense_weight=0.7)
    assert [item for item, _ in fused] == [1, 2, 3, 4]
    scores = dict(fused)
    assert scores[1] == pytest.approx(0.7)  # best dense, absent from BM25
    assert scores[2] == pytest.approx(0.7 * 0.02 / 0.32 + 0.3 * 7.5 / 8)
    assert scores[3] == pytest.approx(0.3)  # worst dense, best BM25
    assert scores[4] == pytest.approx(0.0)
    [(only, score)] = fuse([], [(5, 2.0)], dense_weight=0.7)
    assert only == 5
    assert score == pytest.approx(0.3)


async def test_hybrid_search_finds_the_right_note(kb: KnowledgeService, creator: Creator) -> None:
    for name, text in NOTES.items():
        await kb.ingest(creator.id, f"{name}.md", text.encode())
    for question, expected in QUESTIONS.items():
        result = await kb.search(creator.id, question, k=3)
        assert result.hits[0].doc == f"{expected}.md", question
        assert [h.rank for h in result.hits] == [1, 2, 3]
        assert result.best_similarity > 0.3
    off_topic = await kb.search(creator.id, "what is the capital of Australia")
    assert off_topic.best_similarity < 0.3


async def test_no_query_of_one_creator_returns_anothers_chunk(
    kb: KnowledgeService, creator: Creator, other_creator: Creator, db: Database
) -> None:
    for name, text in NOTES.items():
        await kb.ingest(creator.id, f"maya-{name}.md", text.encode())
        near_duplicate = text.replace(".", ", says Lena.", 1)
        await kb.ingest(other_creator.id, f"lena-{name}.md", near_duplicate.encode())
    async with db.sessions() as session:
        owner = dict((await session.execute(select(Chunk.id, Chunk.creator_id))).all())
    for who, prefix in ((creator, "maya-"), (other_creator, "lena-")):
        for question in [*QUESTIONS, *(f"{q}, says Lena" for q in QUESTIONS), "Lena"]:
            result = await kb.search(who.id, question, k=10)
            assert result.hits
            for hit in result.hits:
                assert hit.doc.startswith(prefix)
                assert owner[hit.chunk_id] == who.id
        # The index itself holds only this creator's vectors.
        assert {owner[i] for i in kb.store.ids(who.id)} == {who.id}


async def test_langchain_retriever(kb: KnowledgeService, creator: Creator) -> None:
    from knowledge.langchain_retriever import KnowledgeRetriever

    for name, text in NOTES.items():
        await kb.ingest(creator.id, f"{name}.md", text.encode())
    retriever = KnowledgeRetriever(retriever=kb.retriever, creator_id=creator.id, k=2)
    docs = await retriever.ainvoke("when should I stop coffee")
    assert len(docs) == 2
    assert docs[0].metadata["doc"] == "caffeine.md"
    assert docs[0].metadata["title"] == "Caffeine"
    assert docs[0].metadata["rank"] == 1
    assert "eight hours" in docs[0].page_content


async def test_empty_knowledge_base_searches_to_nothing(
    kb: KnowledgeService, creator: Creator
) -> None:
    result = await kb.search(creator.id, "anything")
    assert result.hits == []
    assert result.best_similarity == 0.0
    assert not await kb.has_material(creator.id)


def test_one_owner_per_index_directory(tmp_path: Path) -> None:
    store = VectorStore.persistent(tmp_path / "index")
    try:
        with pytest.raises(IndexLockedError, match=r"in use by pid \d+"):
            VectorStore.persistent(tmp_path / "index")
        code = (
            "import sys; from pathlib import Path; from knowledge.store import VectorStore\n"
            "from knowledge.errors import IndexLockedError\n"
            f"try: VectorStore.persistent(Path({str(tmp_path / 'index')!r}))\n"
            "except IndexLockedError as e: print(e); sys.exit(3)\n"
        )
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode == 3, other.stderr
        assert "COACHBOT_CHROMA_URL" in other.stdout
    finally:
        store.close()
    VectorStore.persistent(tmp_path / "index").close()  # free again once released


async def test_a_large_lexical_index_is_rebuilt_in_the_background(
    kb: KnowledgeService, creator: Creator
) -> None:
    retriever = kb.retriever
    retriever.rebuild_in_background = 1  # "large" from one chunk on, for the test
    await kb.ingest(creator.id, "sleep.md", NOTES["sleep"].encode())
    first = await retriever.lexical_index(creator.id)
    assert first is not None
    assert len(first.ids) == 1
    await kb.ingest(creator.id, "protein.md", NOTES["protein"].encode())
    # The change is seen at once (this process made it), but the old index answers meanwhile.
    assert await retriever.lexical_index(creator.id) is first
    hits = (await kb.search(creator.id, "palm-sized portion of protein")).hits
    assert hits[0].doc == "protein.md"  # the dense half finds the new chunk meanwhile
    await retriever._rebuilds[creator.id]
    fresh = await retriever.lexical_index(creator.id)
    assert fresh is not None
    assert len(fresh.ids) == 2
