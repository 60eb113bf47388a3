"""DOCX with python-docx: headings from paragraph styles, list items, tables row by row. The
archive is checked before python-docx opens it, so a ZIP bomb is refused without inflating it."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from knowledge.blocks import Block, Extracted
from knowledge.clean import clean_line, clean_text
from knowledge.errors import CorruptFileError, FileTooLargeError

MAX_COMPRESSION_RATIO = 200  # real Word XML compresses 5–20×; bombs compress thousands of times
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def check_archive(data: bytes, max_uncompressed: int) -> None:
    """Refuse archives that would inflate past `max_uncompressed` bytes, judged by the sizes the
    archive declares and by each member's compression ratio (declared sizes can lie, ratios of
    what python-docx will read are checked again while reading)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptFileError(f"the DOCX archive is damaged ({exc})") from None
    total = sum(m.file_size for m in members)
    if total > max_uncompressed:
        raise FileTooLargeError(
            f"the DOCX would expand to {total / 1e6:.0f} MB, over the limit of "
            f"{max_uncompressed / 1e6:.0f} MB (a ZIP bomb, or a file with huge embedded media)"
        )
    for m in members:
        if m.file_size > 1_000_000 and m.file_size > MAX_COMPRESSION_RATIO * max(
            m.compress_size, 1
        ):
            ratio = m.file_size // max(m.compress_size, 1)
            raise FileTooLargeError(
                f"the DOCX member {m.filename} is compressed {ratio}× (a ZIP bomb?); "
                "refusing to open it"
            )


def _read_limited(data: bytes, max_uncompressed: int) -> bytes:
    """Re-pack the archive, inflating every member under one hard cap: the sizes a ZIP header
    declares can be forged, the bytes that come out cannot."""
    out = io.BytesIO()
    budget = max_uncompressed
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for member in source.infolist():
            with source.open(member) as fh:
                content = fh.read(budget + 1)
            budget -= len(content)
            if budget < 0:
                raise FileTooLargeError(
                    f"the DOCX text expands past the limit of {max_uncompressed / 1e6:.0f} MB "
                    "(a ZIP bomb?)"
                )
            target.writestr(member.filename, content)
    return out.getvalue()


def extract_docx(data: bytes, fallback_title: str, max_uncompressed: int) -> Extracted:
    check_archive(data, max_uncompressed)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document: Any = docx.Document(io.BytesIO(_read_limited(data, max_uncompressed)))
        core_title = document.core_properties.title or ""
        blocks: list[Block] = []
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                block = _paragraph_block(item)
                if block is not None:
                    blocks.append(block)
            elif isinstance(item, Table):
                blocks.extend(_table_blocks(item))
    except FileTooLargeError:
        raise
    except (KeyError, ValueError, zipfile.BadZipFile, AttributeError, TypeError) as exc:
        raise CorruptFileError(f"the DOCX is damaged and cannot be read ({exc})") from None
    except Exception as exc:  # lxml's XMLSyntaxError and friends, without importing lxml here
        if type(exc).__module__.startswith(("lxml", "docx")):
            raise CorruptFileError(f"the DOCX is damaged and cannot be read ({exc})") from None
        raise
    title = clean_line(core_title)
    first = next((b for b in blocks if b.is_heading), None)
    if first is not None and first.heading_level == 1 and blocks.index(first) <= 1:
        title = title or first.text
        if title == first.text:
            blocks.remove(first)
    return Extracted(title=title or fallback_title, blocks=tuple(blocks))


def _paragraph_block(paragraph: Any) -> Block | None:
    text = clean_text(paragraph.text)
    if not text:
        return None
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style.lower() == "title":
        return Block(clean_line(text), heading_level=1)
    if match := _HEADING_STYLE.match(style):
        return Block(clean_line(text), heading_level=min(int(match.group(1)) + 1, 6))
    if style.lower().startswith("list"):
        return Block(f"- {text}")
    return Block(text)


def _table_blocks(table: Any) -> list[Block]:
    blocks = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            value = clean_line(cell.text)
            if value and (not cells or cells[-1] != value):  # merged cells repeat themselves
                cells.append(value)
        if cells:
            blocks.append(Block(" | ".join(cells)))
    return blocks
