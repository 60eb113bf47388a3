"""What every extractor produces: a title and a flat list of headings and text blocks, in reading
order, which the chunker turns into chunks along the document's own structure."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    heading_level: int = 0  # 1–6 for a heading, 0 for body text
    page: int | None = None  # 1-based, PDFs only

    @property
    def is_heading(self) -> bool:
        return self.heading_level > 0


@dataclass(frozen=True, slots=True)
class Extracted:
    title: str
    blocks: tuple[Block, ...] = field(default=())

    @property
    def text_length(self) -> int:
        return sum(len(b.text) for b in self.blocks if not b.is_heading)
