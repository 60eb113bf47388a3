"""A slice of benchmarks/knowledge_quality.py as a regression guard: eight documents of the
quality corpus (two of each format) with their questions, our pipeline against the naive
LangChain one in the same run, and off-topic questions declined."""

from __future__ import annotations

from benchmarks.knowledge_quality import (
    evaluate,
    load_documents,
    load_out_of_scope,
    load_questions,
)
from engine.models import Creator
from knowledge.service import KnowledgeService

DOCUMENTS = [
    "sleep-basics.md",
    "habit-stacking.md",
    "wind-down-routine.pdf",
    "protein-guide.pdf",
    "caffeine-and-sleep.html",
    "snacking.html",
    "shift-work-sleep.docx",
    "strength-basics.docx",
]
OFF_TOPIC = [
    "How do I file my tax return as a freelancer?",
    "What is the capital of Australia?",
    "How do I reset my wifi router?",
    "Which mortgage is better, fixed or variable rate?",
    "What's the difference between a crocodile and an alligator?",
]


async def test_ours_beats_the_naive_pipeline_and_declines_off_topic_questions(
    kb: KnowledgeService, creator: Creator
) -> None:
    questions = [q for q in load_questions() if q.doc in DOCUMENTS]
    assert len(questions) >= 40
    assert set(OFF_TOPIC) <= set(load_out_of_scope())
    report = await evaluate(kb, creator, load_documents(DOCUMENTS), questions, OFF_TOPIC, k=5)
    ours, naive = (
        next(s for s in report.scores if (s.pipeline, s.split) == (p, "all"))
        for p in ("ours", "naive")
    )
    assert ours.hit5 >= naive.hit5, report.scores
    assert ours.mrr >= naive.mrr, report.scores
    assert ours.hit5 >= 0.9, report.scores
    assert report.out_of_scope_declined == 1.0, report.accepted_out_of_scope
    assert report.in_scope_declined <= 0.05, report.declined_examples
