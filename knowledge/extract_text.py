"""Markdown and plain text: headings (ATX and setext), paragraphs, list items and code blocks,
with inline Markdown reduced to the words a reader sees."""

from __future__ import annotations

import re

from knowledge.blocks import Block, Extracted
from knowledge.clean import clean_line, clean_text

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_FRONT_TITLE = re.compile(r"^title:\s*[\"']?(.*?)[\"']?\s*$", re.M | re.I)
_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+")
_RULE = re.compile(r"^ {0,3}([-*_])(?:\s*\1){2,}\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_EMPHASIS = re.compile(r"(\*{1,3}|(?<!\w)_{1,3})(\S(?:.*?\S)?)\1(?!\w)")
_CODE_SPAN = re.compile(r"`+([^`]+)`+")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_QUOTE = re.compile(r"^\s*>\s?", re.M)


def inline_to_text(text: str) -> str:
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _CODE_SPAN.sub(r"\1", text)
    for _ in range(2):  # nested emphasis (***both***, **bold _italic_**)
        text = _EMPHASIS.sub(r"\2", text)
    return _TAG.sub("", _QUOTE.sub("", text))


def extract_markdown(text: str, fallback_title: str) -> Extracted:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    title = ""
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is not None:
            front = "\n".join(lines[1:end])
            match = _FRONT_TITLE.search(front)
            title = clean_line(match.group(1)) if match else ""
            lines = lines[end + 1 :]
    blocks: list[Block] = []
    para: list[str] = []

    def flush() -> None:
        # Lines of a paragraph are soft-wrapped; lines of a code block are not.
        body = clean_text(inline_to_text(("\n" if fence else " ").join(para)))
        if body:
            blocks.append(Block(body))
        para.clear()

    fence: str | None = None
    for i, line in enumerate(lines):
        if fence is not None:
            if line.strip().startswith(fence):
                flush()
                fence = None
            else:
                para.append(line)
            continue
        if match := _FENCE.match(line):
            flush()
            fence = match.group(1)
        elif match := _ATX.match(line):
            flush()
            heading = clean_line(inline_to_text(match.group(2)))
            if heading:
                blocks.append(Block(heading, heading_level=len(match.group(1))))
        elif _SETEXT.match(line) and len(para) == 1 and i > 0 and lines[i - 1].strip():
            heading = clean_line(inline_to_text(para.pop()))
            if heading:
                blocks.append(Block(heading, heading_level=1 if "=" in line else 2))
        elif _RULE.match(line) or not line.strip():
            flush()
        elif _ITEM.match(line):
            flush()
            para.append(_ITEM.sub("- ", line, count=1))
            flush()
        else:
            para.append(line)
    flush()
    return _titled(blocks, title, fallback_title)


def extract_plain(text: str, fallback_title: str) -> Extracted:
    """Plain text: paragraphs on blank lines; a short first line without a full stop is the
    title."""
    blocks = [Block(p) for p in (clean_text(part) for part in re.split(r"\n\s*\n", text)) if p]
    if blocks and "\n" not in blocks[0].text and len(blocks[0].text) <= 100:
        first = blocks[0].text
        if not first.endswith((".", "!", "?", ":", ",", ";")):
            blocks[0] = Block(clean_line(first), heading_level=1)
    return _titled(blocks, "", fallback_title)


def _titled(blocks: list[Block], title: str, fallback_title: str) -> Extracted:
    """Use the first level-1 heading as the title when no better one was given; it is then not
    repeated as a heading of its own."""
    first = next((b for b in blocks if b.is_heading), None)
    if (
        first is not None
        and first.heading_level == 1
        and blocks.index(first) <= 1
        and (not title or title.casefold() == first.text.casefold())
    ):
        title = first.text
        blocks.remove(first)
    return Extracted(title=title or fallback_title, blocks=tuple(blocks))
