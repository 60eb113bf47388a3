"""Test documents made on the fly: PDFs from a tiny writer, DOCX files with python-docx, and
hostile files (a ZIP bomb, a truncated PDF, an image with a document's name)."""

from __future__ import annotations

import io
import zipfile


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A valid PDF whose pages show the given lines in Helvetica, one line per text row."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the pages object number is known
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for lines in pages:
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
        for line in lines:
            ops.append(f"({_pdf_string(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (pages_obj, font, content)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    info = add(b"<< /Title (%s) >>" % _pdf_string(title).encode("latin-1")) if title else None
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out.write(b"trailer\n%s >>\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref))
    return out.getvalue()


def make_docx(paragraphs: list[tuple[str, str]], table: list[list[str]] | None = None) -> bytes:
    """(style, text) paragraphs, e.g. ("Title", "Sleep"), ("Heading 1", "Routine"), ("", "…")."""
    import docx

    document = docx.Document()
    for style, text in paragraphs:
        document.add_paragraph(text, style=style or None)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_docx_bomb(inflated_bytes: int = 300_000_000) -> bytes:
    """A DOCX-shaped ZIP whose document.xml inflates to `inflated_bytes` of zeros' worth of
    spaces, compressed about a thousand times."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as fh:
            block = b" " * 1_000_000
            for _ in range(inflated_bytes // len(block)):
                fh.write(block)
    return out.getvalue()


def make_lying_docx_bomb(inflated_bytes: int = 200_000_000, declared: int = 20_000) -> bytes:
    """A real DOCX whose word/document.xml is followed by padding that inflates to
    `inflated_bytes`, while the local header and the central directory both declare only
    `declared` bytes (and a small compressed ratio): the headers lie, only inflating tells."""
    import struct

    document = make_docx([("Title", "Lying header"), ("", "Some text.")])
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(document)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
    ):
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename != "word/document.xml":
                archive.writestr(item.filename, content)
                continue
            with archive.open("word/document.xml", "w") as fh:
                fh.write(content)
                block = b" " * 1_000_000
                for _ in range(inflated_bytes // len(block)):
                    fh.write(block)
    data = bytearray(out.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        member = archive.getinfo("word/document.xml")
    # Local file header: uncompressed size at +22. Central directory entry: at +24.
    struct.pack_into("<I", data, member.header_offset + 22, declared)
    name = b"word/document.xml"
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    assert data[central + 46 : central + 46 + len(name)] == name
    struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)
