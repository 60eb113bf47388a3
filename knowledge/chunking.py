"""Structure-aware chunking: sections follow the document's headings; paragraphs of a section are
packed up to the chunk size; a long section is cut between sentences, with a few sentences of
overlap. Every chunk carries the title and its heading path, and is embedded with them, so
"Evening routine" under "Sleep" is found by a question about sleep."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from knowledge.blocks import Block, Extracted

HEADING_SEPARATOR = " > "
# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by a space and a
# capital, digit or opening quote; "e.g. this" and "Dr. Smith" mostly survive.
_SENTENCE = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"')\]”’]))\s+(?=[\"'(“‘A-Z0-9])")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|Dr|Mr|Mrs|Ms|St|approx|min|max|no)\.$", re.I)


@dataclass(frozen=True)
class ChunkingConfig:
    size: int = 700  # characters of body text per chunk, at most (a sentence may overrun)
    overlap: int = 120  # characters of trailing sentences repeated at the start of the next

    def __post_init__(self) -> None:
        if self.size < 100:
            raise ValueError("chunk size must be at least 100 characters")
        if not 0 <= self.overlap < self.size // 2:
            raise ValueError("chunk overlap must be between 0 and half the chunk size")


@dataclass(frozen=True)
class Chunk:
    position: int
    text: str
    heading: str  # the heading path, joined with " > "
    page: int | None
    embed_text: str  # what the encoder sees: title, heading path, text
    content_hash: str  # of embed_text: unchanged chunks keep their vectors

    @property
    def heading_path(self) -> list[str]:
        return self.heading.split(HEADING_SEPARATOR) if self.heading else []


def embed_text(title: str, heading: str, text: str) -> str:
    """What the encoder sees for a chunk (and what `reconcile` rebuilds from SQL)."""
    return "\n".join(p for p in (title, heading) if p) + "\n\n" + text


def split_sentences(text: str) -> list[str]:
    pieces = _SENTENCE.split(text)
    sentences: list[str] = []
    for piece in pieces:
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return [s.strip() for s in sentences if s.strip()]


def chunk_document(doc: Extracted, config: ChunkingConfig | None = None) -> list[Chunk]:
    config = config or ChunkingConfig()
    chunks: list[Chunk] = []
    for path, body in _sections(doc.blocks):
        heading = HEADING_SEPARATOR.join(path)
        for text, page in _pack(body, config):
            embedded = embed_text(doc.title, heading, text)
            chunks.append(
                Chunk(
                    position=len(chunks),
                    text=text,
                    heading=heading,
                    page=page,
                    embed_text=embedded,
                    content_hash=hashlib.sha256(embedded.encode()).hexdigest(),
                )
            )
    return chunks


def _sections(blocks: tuple[Block, ...]) -> list[tuple[list[str], list[Block]]]:
    sections: list[tuple[list[str], list[Block]]] = []
    path: list[tuple[int, str]] = []
    body: list[Block] = []
    for block in blocks:
        if block.is_heading:
            if body:
                sections.append(([text for _, text in path], body))
                body = []
            path = [(level, text) for level, text in path if level < block.heading_level]
            path.append((block.heading_level, block.text))
        else:
            body.append(block)
    if body:
        sections.append(([text for _, text in path], body))
    return sections


def _pack(body: list[Block], config: ChunkingConfig) -> list[tuple[str, int | None]]:
    """Greedy packing of paragraphs, then of sentences for paragraphs that do not fit."""
    units: list[tuple[str, int | None, bool]] = []  # (text, page, starts a paragraph)
    for block in body:
        if len(block.text) <= config.size:
            units.append((block.text, block.page, True))
            continue
        for i, sentence in enumerate(split_sentences(block.text)):
            for j, piece in enumerate(_hard_wrap(sentence, config.size)):
                units.append((piece, block.page, i == 0 and j == 0))
    out: list[tuple[str, int | None]] = []
    current: list[tuple[str, int | None, bool]] = []
    length = 0
    for unit in units:
        added = len(unit[0]) + (2 if current else 0)
        if current and length + added > config.size:
            out.append(_join(current))
            current = _overlap(current, config.overlap)
            length = sum(len(u[0]) + 1 for u in current)
        current.append(unit)
        length += len(unit[0]) + (2 if len(current) > 1 else 0)
    if current:
        out.append(_join(current))
    return out


def _overlap(
    units: list[tuple[str, int | None, bool]], budget: int
) -> list[tuple[str, int | None, bool]]:
    """The trailing sentences of a chunk that fit in the overlap budget (whole paragraphs never
    repeat: only a paragraph cut into sentences carries over)."""
    kept: list[tuple[str, int | None, bool]] = []
    used = 0
    for text, page, starts in reversed(units):
        if used + len(text) > budget or starts:
            break
        kept.insert(0, (text, page, False))
        used += len(text) + 1
    return kept


def _join(units: list[tuple[str, int | None, bool]]) -> tuple[str, int | None]:
    parts: list[str] = []
    for text, _, starts in units:
        if parts:
            parts.append("\n\n" if starts else " ")
        parts.append(text)
    return "".join(parts), units[0][1]


def _hard_wrap(sentence: str, size: int) -> list[str]:
    """A 'sentence' longer than a chunk (a table row, a list without full stops): cut on words."""
    if len(sentence) <= size:
        return [sentence]
    pieces, current = [], ""
    for word in sentence.split(" "):
        if current and len(current) + 1 + len(word) > size:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return [p[:size] if len(p) > size else p for p in pieces] if pieces else [sentence[:size]]
