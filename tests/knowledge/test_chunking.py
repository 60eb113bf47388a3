"""Chunking follows headings, keeps title and heading path, respects size and overlap."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.blocks import Block, Extracted
from knowledge.chunking import ChunkingConfig, chunk_document, split_sentences
from knowledge.clean import clean_text


def doc(*blocks: Block, title: str = "Guide") -> Extracted:
    return Extracted(title=title, blocks=blocks)


def test_sections_follow_the_heading_path() -> None:
    chunks = chunk_document(
        doc(
            Block("Intro text."),
            Block("Sleep", heading_level=2),
            Block("Evening", heading_level=3),
            Block("Dim the lights."),
            Block("Morning", heading_level=3),
            Block("Get daylight."),
            Block("Running", heading_level=2),
            Block("Go easy."),
        )
    )
    assert [(c.heading, c.text) for c in chunks] == [
        ("", "Intro text."),
        ("Sleep > Evening", "Dim the lights."),
        ("Sleep > Morning", "Get daylight."),
        ("Running", "Go easy."),
    ]
    assert chunks[1].embed_text == "Guide\nSleep > Evening\n\nDim the lights."
    assert chunks[1].heading_path == ["Sleep", "Evening"]
    assert [c.position for c in chunks] == [0, 1, 2, 3]


def test_long_sections_are_cut_between_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {i} says something useful about recovery." for i in range(40)]
    chunks = chunk_document(doc(Block(" ".join(sentences))), ChunkingConfig(size=300, overlap=80))
    assert len(chunks) > 5
    for chunk in chunks:
        assert len(chunk.text) <= 300
        assert chunk.text.endswith(".")
    for before, after in itertools.pairwise(chunks):
        assert after.text.split(". ")[0] + "." in before.text  # the overlap sentence
    covered = " ".join(c.text for c in chunks)
    assert all(s in covered for s in sentences)


def test_small_paragraphs_are_packed_and_never_repeated() -> None:
    paragraphs = [Block(f"Paragraph {i} is short.") for i in range(30)]
    chunks = chunk_document(doc(*paragraphs), ChunkingConfig(size=200, overlap=50))
    joined = "\n\n".join(c.text for c in chunks)
    assert joined == "\n\n".join(b.text for b in paragraphs)


def test_hashes_change_with_text_or_heading_only() -> None:
    a = chunk_document(doc(Block("H", heading_level=2), Block("Same text.")))
    b = chunk_document(doc(Block("H", heading_level=2), Block("Same text.")))
    c = chunk_document(doc(Block("Other", heading_level=2), Block("Same text.")))
    assert a[0].content_hash == b[0].content_hash != c[0].content_hash


def test_page_of_a_chunk_is_its_first_block() -> None:
    chunks = chunk_document(doc(Block("One.", page=3), Block("Two.", page=4)))
    assert chunks[0].page == 3


def test_sentence_splitting_keeps_abbreviations() -> None:
    assert split_sentences("Eat e.g. oats. Then rest! Dr. Lee agrees? Yes.") == [
        "Eat e.g. oats.",
        "Then rest!",
        "Dr. Lee agrees?",
        "Yes.",
    ]


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="at least 100"):
        ChunkingConfig(size=50)
    with pytest.raises(ValueError, match="half"):
        ChunkingConfig(size=200, overlap=150)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=900), min_size=1, max_size=12))
def test_no_text_is_lost(paragraphs: list[str]) -> None:
    blocks = [Block(p) for p in (clean_text(p) for p in paragraphs) if p]
    chunks = chunk_document(doc(*blocks), ChunkingConfig(size=200, overlap=40))
    covered = " ".join(" ".join(c.text.split()) for c in chunks)
    for block in blocks:
        for word in block.text.split():
            assert word[:200] in covered
