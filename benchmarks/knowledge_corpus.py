"""Build the retrieval-quality corpus: `benchmarks/corpus/source/*.md` → `benchmarks/corpus/docs/`.

    python -m benchmarks.knowledge_corpus

Each source file is one coaching document written for this benchmark (health, fitness, sleep,
nutrition, habits), with a front-matter line naming the format it is published in (md, html,
docx or pdf) and, after a `=== questions ===` line, the questions a coachee might ask about it:
`question | phrase`, where the phrase is a distinctive piece of the passage that answers it.

The build renders each document in its format, the way a coach's files tend to look: HTML pages
with a site's navigation, sidebar and footer around the article; Word files with Title/Heading
styles, bullet lists and a table; PDFs with wrapped lines, several pages and page numbers. It
writes `questions.jsonl` (id, question, doc, phrase, split). Every third question is held out:
the harness reports it separately so nothing is tuned on questions it is judged on.
"""

from __future__ import annotations

import html
import io
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
SOURCES = CORPUS / "source"
DOCS = CORPUS / "docs"
QUESTIONS = CORPUS / "questions.jsonl"
OUT_OF_SCOPE = CORPUS / "out_of_scope.txt"
SUFFIX = {"md": ".md", "html": ".html", "docx": ".docx", "pdf": ".pdf"}


@dataclass(frozen=True)
class Source:
    stem: str
    format: str
    body: str  # Markdown
    questions: list[tuple[str, str]]

    @property
    def file_name(self) -> str:
        return self.stem + SUFFIX[self.format]


def read_sources() -> list[Source]:
    sources = []
    for path in sorted(SOURCES.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        front, rest = text.split("---\n", 2)[1:]
        fmt = re.search(r"format:\s*(\w+)", front)
        assert fmt, path
        body, _, qs = rest.partition("=== questions ===")
        questions = []
        for line in qs.strip().splitlines():
            question, _, phrase = line.partition(" | ")
            questions.append((question.strip(), phrase.strip()))
        sources.append(Source(path.stem, fmt.group(1), body.strip() + "\n", questions))
    return sources


def _plain(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"\1", text)


def _blocks(markdown: str) -> list[tuple[str, str]]:
    """(kind, text): h1/h2/h3, p, ul, ol, row (a table row, cells joined by a tab)."""
    out: list[tuple[str, str]] = []
    for para in markdown.split("\n\n"):
        for line in para.split("\n") if para.lstrip().startswith(("-", "|", "1")) else [para]:
            line = line.strip()
            if not line or re.fullmatch(r"\|[\s\-|]+\|", line):
                continue
            if m := re.match(r"(#{1,3}) (.*)", line):
                out.append((f"h{len(m.group(1))}", m.group(2)))
            elif line.startswith("- "):
                out.append(("ul", line[2:]))
            elif m := re.match(r"\d+\. (.*)", line):
                out.append(("ol", m.group(1)))
            elif line.startswith("|"):
                out.append(("row", "\t".join(c.strip() for c in line.strip("|").split("|"))))
            else:
                out.append(("p", " ".join(line.split())))
    return out


def render_html(source: Source) -> bytes:
    title = _blocks(source.body)[0][1]
    parts: list[str] = []
    open_list = ""
    for kind, text in _blocks(source.body):
        if open_list and kind != open_list:
            parts.append(f"</{open_list}>")
            open_list = ""
        body = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))
        if kind in ("ul", "ol"):
            if not open_list:
                parts.append(f"<{kind}>")
                open_list = kind
            parts.append(f"  <li>{body}</li>")
        elif kind == "row":
            parts.append("<p>" + " — ".join(body.split("\t")) + "</p>")
        else:
            parts.append(f"<{kind}>{body}</{kind}>")
    if open_list:
        parts.append(f"</{open_list}>")
    article = "\n".join(parts)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)} | Maya Brooks Coaching</title>
<style>body {{ font-family: sans-serif; }} .cookie {{ position: fixed; }}</style>
<script>window.dataLayer = window.dataLayer || []; function track() {{}}</script></head>
<body>
<header><a href="/">Maya Brooks Coaching</a>
<nav><ul><li><a href="/programs">Programmes</a></li><li><a href="/blog">Blog</a></li>
<li><a href="/about">About Maya</a></li><li><a href="/contact">Book a free call</a></li></ul></nav>
</header>
<main><article>
{article}
</article></main>
<aside><h3>Popular posts</h3><ul><li><a href="/blog/1">Ten foods to never eat again</a></li>
<li><a href="/blog/2">My morning routine</a></li></ul>
<form><input type="email" placeholder="Join the newsletter"><button>Sign up</button></form></aside>
<footer><p>© 2026 Maya Brooks Coaching. All rights reserved. This site uses cookies.</p>
<p>The content on this site is for information only and is not medical advice.</p></footer>
</body></html>
"""
    return page.encode()


def render_docx(source: Source) -> bytes:
    import docx

    document = docx.Document()
    rows: list[list[str]] = []

    def flush_table() -> None:
        if rows:
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
            rows.clear()

    for kind, text in _blocks(source.body):
        if kind != "row":
            flush_table()
        text = _plain(text)
        if kind == "h1":
            document.add_paragraph(text, style="Title")
            document.core_properties.title = text
        elif kind in ("h2", "h3"):
            document.add_paragraph(text, style=f"Heading {int(kind[1]) - 1}")
        elif kind == "ul":
            document.add_paragraph(text, style="List Bullet")
        elif kind == "ol":
            document.add_paragraph(text, style="List Number")
        elif kind == "row":
            rows.append(text.split("\t"))
        else:
            document.add_paragraph(text)
    flush_table()
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def render_pdf(source: Source) -> bytes:
    """Lines wrapped at 88 characters, 46 lines a page, a page number at the foot of each."""
    lines: list[str] = []
    title = ""
    for kind, text in _blocks(source.body):
        text = _plain(text)
        if kind == "h1":
            title = text
            lines += [text, ""]
        elif kind in ("h2", "h3"):
            lines += ["", text, ""]
        elif kind in ("ul", "ol"):
            lines += textwrap.wrap("- " + text, 88, subsequent_indent="  ")
        else:
            lines += [*textwrap.wrap(text, 88), ""]
    pages = [lines[i : i + 46] for i in range(0, len(lines), 46)]
    total = len(pages)
    return make_pdf([[*page, "", f"Page {n} of {total}"] for n, page in enumerate(pages, 1)], title)


def _pdf_string(text: str) -> bytes:
    text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return text.replace("\u2019", "'").replace("\u2014", "-").encode("latin-1")


def make_pdf(pages: list[list[str]], title: str) -> bytes:
    objects: list[bytes] = [b"", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for page in pages:
        ops = [b"BT", b"/F1 10 Tf", b"14 TL", b"60 770 Td"]
        ops += [b"(" + _pdf_string(line) + b") Tj T*" for line in page]
        stream = b"\n".join([*ops, b"ET"])
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objects)
        )
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    objects.append(b"<< /Title (" + _pdf_string(title) + b") /Producer (coachbot) >>")
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
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, len(objects), xref)
    )
    return out.getvalue()


def render(source: Source) -> bytes:
    if source.format == "html":
        return render_html(source)
    if source.format == "docx":
        return render_docx(source)
    if source.format == "pdf":
        return render_pdf(source)
    return source.body.encode()


def build() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for stale in DOCS.iterdir():
        stale.unlink()
    number = 0
    with QUESTIONS.open("w", encoding="utf-8") as out:
        for source in read_sources():
            (DOCS / source.file_name).write_bytes(render(source))
            for question, phrase in source.questions:
                number += 1
                split = "holdout" if number % 3 == 0 else "dev"
                item = {"id": number, "question": question, "doc": source.file_name}
                out.write(json.dumps({**item, "phrase": phrase, "split": split}) + "\n")
    print(f"{len(list(DOCS.iterdir()))} documents, {number} questions")


if __name__ == "__main__":
    build()
