"""PDF with pypdf: text page by page, lines joined into paragraphs, short title-like lines taken
as headings, the page number kept on every block."""

from __future__ import annotations

import io
import logging
import re
import warnings

from knowledge.blocks import Block, Extracted
from knowledge.clean import clean_line, clean_text
from knowledge.errors import CorruptFileError, EmptyDocumentError

_SENTENCE_END = (".", "!", "?", ":", ";", ",", "…", '"', "”", ")")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?$", re.I)
_HEADINGISH = re.compile(r"^(?:\d+(?:\.\d+)*\.?\s+)?[A-Z0-9][^.!?]{1,78}$")


def extract_pdf(data: bytes, fallback_title: str) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf reports recoverable damage through warnings and its logger; a damaged file that
    # still yields text is fine, one that does not gets a clear error below.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise CorruptFileError("the PDF is password-protected; upload an unlocked copy")
            pages = [page.extract_text() or "" for page in reader.pages]
            meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except CorruptFileError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise CorruptFileError(f"the PDF is damaged and cannot be read ({exc})") from None
    except RecursionError:
        raise CorruptFileError("the PDF is damaged (its structure loops on itself)") from None
    blocks: list[Block] = []
    for number, page_text in enumerate(pages, start=1):
        blocks.extend(_page_blocks(page_text, number))
    if not any(not b.is_heading for b in blocks):
        raise EmptyDocumentError(
            "the PDF has no extractable text (a scan? run it through OCR and upload the result)"
        )
    title = clean_line(meta_title)
    first = blocks[0]
    if not title or title.lower() in {"untitled", "microsoft word - document1"}:
        title = first.text if first.is_heading and first.page == 1 else ""
        if title:
            blocks.pop(0)
    elif first.is_heading and first.page == 1 and first.text.casefold() == title.casefold():
        blocks.pop(0)  # the title printed on the first page: not a section of its own
    return Extracted(title=title or fallback_title, blocks=tuple(blocks))


def _page_blocks(page_text: str, page: int) -> list[Block]:
    lines = [line.strip() for line in clean_text(page_text).split("\n")]
    blocks: list[Block] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(Block(clean_text(" ".join(para)), page=page))
            para.clear()

    for i, line in enumerate(lines):
        if not line:
            flush()
            continue
        if _PAGE_NUMBER.match(line):
            continue
        following = next((n for n in lines[i + 1 :] if n), "")
        previous_ended = not para or para[-1].endswith(_SENTENCE_END)
        if (
            previous_ended
            and _HEADINGISH.match(line)
            and not line.endswith(_SENTENCE_END)
            and len(line.split()) <= 12
            and (len(following) > len(line) or not following)
        ):
            flush()
            blocks.append(Block(clean_line(line), heading_level=2, page=page))
            continue
        para.append(line)
        if line.endswith((".", "!", "?")) and len(line) < 60:
            flush()  # a short line that ends a sentence usually ends its paragraph
    flush()
    return blocks
