"""HTML: the main text only. Navigation, headers and footers of the site, sidebars, forms,
scripts and styles are dropped; `<main>` or the largest `<article>` is preferred over the whole
body when the page has one."""

from __future__ import annotations

from typing import Any

from knowledge.blocks import Block, Extracted
from knowledge.clean import clean_line, clean_text
from knowledge.errors import CorruptFileError

_DROP = {
    "script", "style", "noscript", "template", "nav", "footer", "aside", "form", "svg",
    "iframe", "button", "select", "input", "textarea", "canvas", "object", "embed", "head",
    "dialog", "menu",
}  # fmt: skip
_DROP_ROLES = {"navigation", "contentinfo", "banner", "search", "complementary", "dialog"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_TEXT_BLOCKS = {
    "p", "li", "blockquote", "pre", "dt", "dd", "figcaption", "td", "th", "caption",
    "summary", "address",
}  # fmt: skip
_BLOCKISH = _TEXT_BLOCKS | set(_HEADINGS) | {
    "div", "section", "article", "main", "ul", "ol", "dl", "table", "tr", "tbody", "thead",
    "header", "figure", "details", "body", "br", "hr",
}  # fmt: skip


def extract_html(text: str, fallback_title: str) -> Extracted:
    import lxml.html
    from lxml import etree

    try:
        tree = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise CorruptFileError(f"could not parse the HTML: {exc}") from None
    head_title = tree.findtext(".//title") or ""
    _drop_boilerplate(tree)
    root = _main_element(tree)
    blocks: list[Block] = []
    _walk(root, blocks, [])
    title = ""
    first = next((b for b in blocks if b.is_heading), None)
    if first is not None and first.heading_level == 1:
        title = first.text
        blocks.remove(first)
    return Extracted(
        title=title or clean_line(head_title) or fallback_title,
        blocks=tuple(blocks),
    )


def _drop_boilerplate(tree: Any) -> None:
    doomed = []
    for element in tree.iter():
        if not isinstance(element.tag, str):  # comments and processing instructions
            doomed.append(element)
            continue
        tag = element.tag.lower()
        role = (element.get("role") or "").lower()
        if (
            tag in _DROP
            or role in _DROP_ROLES
            or element.get("aria-hidden") == "true"
            or element.get("hidden") is not None
            or (tag == "header" and not _inside(element, {"article", "main"}))
        ):
            doomed.append(element)
    for element in doomed:
        parent = element.getparent()
        if parent is not None:
            _remove_keeping_tail(element)


def _remove_keeping_tail(element: Any) -> None:
    parent = element.getparent()
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _inside(element: Any, tags: set[str]) -> bool:
    return any(isinstance(a.tag, str) and a.tag.lower() in tags for a in element.iterancestors())


def _main_element(tree: Any) -> Any:
    mains = tree.findall(".//main")
    if len(mains) == 1:
        return mains[0]
    articles = tree.findall(".//article")
    if articles:
        largest = max(articles, key=lambda a: len(a.text_content()))
        if len(largest.text_content()) > 0.3 * len(tree.text_content()):
            return largest
    body = tree.find(".//body")
    return body if body is not None else tree


def _walk(element: Any, blocks: list[Block], loose: list[str]) -> None:
    """Append headings and text blocks in reading order. `loose` collects text that sits
    directly in a container (a div with bare text) until the next block boundary."""
    tag = element.tag.lower() if isinstance(element.tag, str) else ""
    if tag in _HEADINGS:
        _flush(blocks, loose)
        heading = clean_line(element.text_content())
        if heading:
            blocks.append(Block(heading, heading_level=_HEADINGS[tag]))
        return
    if tag in _TEXT_BLOCKS and not any(
        isinstance(c.tag, str) and c.tag.lower() in _BLOCKISH - {"br"}
        for c in element.iter()
        if c is not element
    ):
        _flush(blocks, loose)
        body = _text_with_breaks(element)
        if body:
            blocks.append(Block(f"- {body}" if tag == "li" else body))
        return
    if tag in _BLOCKISH:
        _flush(blocks, loose)
    if element.text:
        loose.append(element.text)
    for child in element:
        _walk(child, blocks, loose)
        if child.tail:
            loose.append(child.tail)
    if tag in _BLOCKISH:
        _flush(blocks, loose)


def _text_with_breaks(element: Any) -> str:
    for br in element.iter("br"):
        br.tail = "\n" + (br.tail or "")
    return clean_text(element.text_content())


def _flush(blocks: list[Block], loose: list[str]) -> None:
    body = clean_text(" ".join(loose))
    loose.clear()
    if body:
        blocks.append(Block(body))
