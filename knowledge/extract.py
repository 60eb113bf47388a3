"""From uploaded bytes to clean, structured text: size limit, real type by bytes, the extractor
for that type. Pure and synchronous (CPU-bound: callers run it in a worker thread)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from knowledge.blocks import Extracted
from knowledge.clean import clean_line
from knowledge.errors import EmptyDocumentError, FileTooLargeError
from knowledge.extract_docx import extract_docx
from knowledge.extract_html import extract_html
from knowledge.extract_pdf import extract_pdf
from knowledge.extract_text import extract_markdown, extract_plain
from knowledge.sniff import Kind, decode_text, sniff


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 25_000_000
    max_docx_uncompressed_bytes: int = 100_000_000


def title_from_name(name: str) -> str:
    stem = PurePath(name).stem.replace("_", " ").replace("-", " ")
    return clean_line(stem)[:200] or "Untitled"


def check_size(data: bytes, name: str, limits: Limits) -> None:
    if len(data) > limits.max_file_bytes:
        raise FileTooLargeError(
            f"{name} is {len(data) / 1e6:.1f} MB, over the limit of "
            f"{limits.max_file_bytes / 1e6:.0f} MB; split it into smaller files"
        )
    if not data.strip():
        raise EmptyDocumentError(f"{name} is empty")


def extract(data: bytes, name: str, limits: Limits | None = None) -> tuple[Kind, Extracted]:
    """The real type of `data` and its structured text. Raises a KnowledgeError subclass with a
    message for people when the file is too large, of an unsupported type, damaged or empty."""
    limits = limits or Limits()
    check_size(data, name, limits)
    kind = sniff(data, name)
    fallback = title_from_name(name)
    if kind is Kind.PDF:
        extracted = extract_pdf(data, fallback)
    elif kind is Kind.DOCX:
        extracted = extract_docx(data, fallback, limits.max_docx_uncompressed_bytes)
    elif kind is Kind.HTML:
        extracted = extract_html(decode_text(data), fallback)
    elif kind is Kind.MARKDOWN:
        extracted = extract_markdown(decode_text(data), fallback)
    else:
        extracted = extract_plain(decode_text(data), fallback)
    if extracted.text_length == 0:
        raise EmptyDocumentError(f"{name} has no text to answer from")
    return kind, Extracted(title=extracted.title[:300], blocks=extracted.blocks)
