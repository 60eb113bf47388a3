"""Which format a file really is, judged by its bytes, never by its name.

A `.pdf` that is really a ZIP, or a `.docx` that is really HTML, is read as what it is (or refused
when it is nothing we read); the name only breaks the tie between Markdown and plain text, whose
bytes look alike.
"""

from __future__ import annotations

import io
import re
import zipfile
from enum import StrEnum

from knowledge.errors import UnsupportedFileError


class Kind(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"


_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]", re.I | re.S
)
_HTML_ANYWHERE = re.compile(rb"<(?:html|body|article|main|p|div|h[1-6])[\s>]", re.I)
_MD_SIGNS = re.compile(
    r"^(?:#{1,6}\s|\s*[-*+]\s|\s*\d+[.)]\s|>\s|```)|\[[^\]]+\]\([^)]+\)|\*\*\w", re.M
)
_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"\xd0\xcf\x11\xe0": "an old Microsoft Office file (.doc/.xls); save it as .docx",
    b"ID3": "an MP3 file",
    b"\x7fELF": "a program",
    b"MZ": "a Windows program",
}
TEXT_PROBE_BYTES = 64 * 1024


def sniff(data: bytes, name: str = "") -> Kind:
    """The format of `data`; raises UnsupportedFileError naming what it seems to be instead."""
    if data.lstrip(b"\xef\xbb\xbf\r\n\t ").startswith(b"%PDF-"):
        return Kind.PDF
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data, name)
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise UnsupportedFileError(f"{name or 'the file'} is {what}, not a document we read")
    head = data[:TEXT_PROBE_BYTES]
    text = _decode_probe(head, name)
    if _HTML_START.match(head) or (
        name.lower().endswith((".html", ".htm")) and _HTML_ANYWHERE.search(head)
    ):
        return Kind.HTML
    if name.lower().endswith((".md", ".markdown")) or _MD_SIGNS.search(text):
        return Kind.MARKDOWN
    return Kind.TEXT


def _zip_kind(data: bytes, name: str) -> Kind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UnsupportedFileError(
            f"{name or 'the file'} looks like a ZIP archive but is damaged; if it is a Word file, "
            "open and save it again as .docx"
        ) from None
    if "word/document.xml" in names:
        return Kind.DOCX
    if "xl/workbook.xml" in names or "ppt/presentation.xml" in names:
        raise UnsupportedFileError(
            f"{name or 'the file'} is a spreadsheet or presentation; export it as PDF or DOCX"
        )
    raise UnsupportedFileError(f"{name or 'the file'} is a ZIP archive, not a document we read")


def _decode_probe(head: bytes, name: str) -> str:
    """Decode the start of a file that should be text, refusing binary data."""
    if b"\x00" in head:
        raise UnsupportedFileError(
            f"{name or 'the file'} is a binary file, not PDF, DOCX, HTML, Markdown or text"
        )
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # the probe cut a multi-byte character in two
            return head[: exc.start].decode("utf-8")
    text = head.decode("cp1252", errors="replace")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\r\n\t\f")
    if controls > len(text) // 100:
        raise UnsupportedFileError(f"{name or 'the file'} is not readable text")
    return text


def decode_text(data: bytes) -> str:
    """Text files: UTF-8 (with or without BOM), else Windows-1252, the usual legacy encoding."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")
