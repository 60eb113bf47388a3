"""The channel-neutral Markdown subset of replies: one parser and the neutral renderers.

Channel adapters render the AST from `parse` for their provider and cut long replies to the
provider's limit with `engine.markup_split.split_markdown`. The subset:

Blocks
  * Paragraphs are separated by one or more blank lines; a single newline inside a paragraph
    is a hard line break. CRLF and CR count as newlines.
  * ``- item`` and ``* item`` lines are bullet items, ``1. item`` and ``2) item`` numbered ones
    (numbered from the first item's number on). Consecutive items of one kind form a list; an
    indented line continues the item above (as a line break). Lists do not nest.
Inline
  * ``**bold**``, ``*italic*`` and ``_italic_``; ``_`` only at word boundaries, so
    snake_case_words stay literal. Bold and italic nest (``***both***``).
  * `` `code` `` (a longer backtick fence may hold backticks): nothing inside is markup.
  * ``[label](url)`` with an http://, https://, mailto: or tel: url. Any other scheme
    (javascript:, data:, ...) is no link: the whole construct stays literal text.
  * A backslash escapes the next markup character, one of ``\\ * _ ` [ ] ( ) - .``.
  * Unclosed markers are literal text. There is no raw HTML: ``<b>`` is just text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Bold:
    children: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Italic:
    children: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Code:
    text: str


@dataclass(frozen=True, slots=True)
class Link:
    label: tuple[Inline, ...]
    url: str


@dataclass(frozen=True, slots=True)
class LineBreak:
    pass


@dataclass(frozen=True, slots=True)
class Paragraph:
    children: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class ListBlock:
    ordered: bool
    items: tuple[tuple[Inline, ...], ...]
    start: int = 1


Inline: TypeAlias = Text | Bold | Italic | Code | Link | LineBreak
Block: TypeAlias = Paragraph | ListBlock

_ITEM = re.compile(r"[ \t]*(?:[-*]|(\d{1,9})[.)])[ \t]+(?=\S)")
_SPECIAL = re.compile(r"[\\\n`\[*_]")
_RUN = re.compile(r"`+|\*+|_+")
_ESCAPABLE = frozenset("\\*_`[]()-.")
_LABEL = re.compile(r"(?:[^\]\\\n]|\\.)*")
_U = r"[^\s()\x00-\x1f\x7f]"
_URL = re.compile(rf"\(((?:{_U}|\({_U}*\))+)\)")
_SAFE_URL = re.compile(r"(?:https?://|mailto:|tel:)\S", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def parse(text: str) -> tuple[Block, ...]:
    """Parse Markdown-subset text into blocks. Never raises; anything unrecognised is text."""
    blocks: list[Block] = []
    para: list[str] = []
    items: list[list[str]] = []
    ordered, start = False, 1

    def flush() -> None:
        if para:
            blocks.append(Paragraph(_inline("\n".join(para))))
            para.clear()
        if items:
            blocks.append(ListBlock(ordered, tuple(_inline("\n".join(i)) for i in items), start))
            items.clear()

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        m = _ITEM.match(line)
        if not line.strip():
            flush()
        elif m:
            if para or (items and ordered != (m[1] is not None)):
                flush()
            if not items:
                ordered, start = m[1] is not None, int(m[1] or 1)
            items.append([line[m.end() :].strip()])
        elif items and line[0] in " \t":
            items[-1].append(line.strip())
        else:
            if items:
                flush()
            para.append(line.strip())
    flush()
    return tuple(blocks)


@dataclass(eq=False)
class _Delim:
    """A run of `*` or `_` that may open and/or close emphasis (`count` chars still unused)."""

    char: str
    count: int
    can_open: bool
    can_close: bool
    seq: int
    size: int  # the run's length


@lru_cache(maxsize=64)
def _fence(n: int) -> re.Pattern[str]:
    return re.compile(rf"(?<!`)`{{{n}}}(?!`)")


def _inline(s: str, links: bool = True) -> tuple[Inline, ...]:
    items: list[str | Inline | _Delim] = []
    no_fence: dict[int, int] = {}  # fence length -> position from which no closing fence exists
    no_link = 0  # a `[` before this position cannot open a link
    i, n = 0, len(s)
    while (m := _SPECIAL.search(s, i)) is not None:
        j = m.start()
        items.append(s[i:j])
        c, i = s[j], j + 1
        if c == "\\":
            escaped = s[i : i + 1] in _ESCAPABLE  # ("" is not in it)
            items.append(s[i] if escaped else c)
            i += escaped
        elif c == "\n":
            items.append(LineBreak())
        elif c == "[":
            link, i = _link(s, j) if links and j >= no_link else (None, i)
            if link is None:
                no_link = max(no_link, i)
                items.append(c)
                i = j + 1
            else:
                items.append(link)
        else:
            run = _RUN.match(s, j)
            assert run is not None  # s[j] is one of `*_
            i = run.end()
            if c == "`":
                close = _fence(i - j).search(s, i) if no_fence.get(i - j, n + 1) > i else None
                if close is None:
                    no_fence[i - j] = i
                    items.append(s[j:i])
                else:
                    items.append(Code(_code_text(s[i : close.start()])))
                    i = close.end()
                continue
            prev, nxt = s[j - 1] if j else " ", s[i] if i < n else " "
            if c == "*":
                op, cl = not nxt.isspace(), not prev.isspace()
            else:  # `_` must be a single underscore at a word boundary
                op = i - j == 1 and not nxt.isspace() and not prev.isalnum()
                cl = i - j == 1 and not prev.isspace() and not nxt.isalnum()
            items.append(_Delim(c, i - j, op, cl, len(items), i - j) if op or cl else s[j:i])
    items.append(s[i:])
    return canonical_inlines(_emphasis(items))


def _code_text(raw: str) -> str:
    raw = raw.replace("\n", " ")
    return raw[1:-1] if raw[:1] == raw[-1:] == " " and raw.strip(" ") else raw


def _link(s: str, j: int) -> tuple[Link | None, int]:
    """A link at `s[j] == "["` and where it ends, or None and the end of the failed label."""
    label = _LABEL.match(s, j + 1)
    assert label is not None  # the pattern matches "" at least
    label_end = label.end()
    m = _URL.match(s, label_end + 1) if s.startswith("]", label_end) else None
    if m is None or not _SAFE_URL.match(m[1]):
        return None, label_end
    return Link(_inline(s[j + 1 : label_end], links=False) or (Text(m[1]),), m[1]), m.end()


def _emphasis(items: list[str | Inline | _Delim]) -> tuple[Inline, ...]:
    """Pair delimiter runs (nearest opener of the same char first, as CommonMark does)."""
    openers: dict[str, list[_Delim]] = {"*": [], "_": []}
    i = 0
    while i < len(items):
        d = items[i]
        if not isinstance(d, _Delim):
            i += 1
            continue
        stack = openers[d.char]
        o = next((o for o in reversed(stack) if d.can_close and _pairs(o, d)), None)
        if o is None:
            if d.can_open:
                stack.append(d)
            i += 1
            continue
        for st in openers.values():  # openers inside the new span stay literal
            while st and st[-1].seq > o.seq:
                st.pop()
        j = i - 1
        while items[j] is not o:
            j -= 1
        use = 2 if o.count >= 2 and d.count >= 2 else 1
        inner = _finish(items[j + 1 : i])
        items[j + 1 : i] = [Bold(inner) if use == 2 else Italic(inner)]
        i, o.count, d.count = j + 2, o.count - use, d.count - use
        if not o.count:
            stack.pop()
            del items[j]
            i -= 1
        if not d.count:
            del items[i]
    return _finish(items)


def _pairs(o: _Delim, d: _Delim) -> bool:
    """CommonMark's "rule of 3", which keeps `*a**b**c*` an italic holding a bold."""
    both = o.can_close or d.can_open
    return not (both and (o.size + d.size) % 3 == 0 and (o.size % 3 or d.size % 3))


def _finish(items: Sequence[str | Inline | _Delim]) -> tuple[Inline, ...]:
    """Unpaired delimiters are literal text."""
    return tuple(
        Text(x.char * x.count) if isinstance(x, _Delim) else Text(x) if isinstance(x, str) else x
        for x in items
    )


def canonical_inlines(
    nodes: Sequence[Inline], inside: frozenset[type] = frozenset()
) -> tuple[Inline, ...]:
    """Canonical form: no empty or same-kind nested spans, adjacent ones merged, and
    Bold(Italic(x)) rather than Italic(Bold(x)), so that `to_markdown` round-trips."""
    out: list[Inline] = []
    for node in nodes:
        new: Sequence[Inline] = (node,)
        if isinstance(node, Bold | Italic):
            kids = canonical_inlines(node.children, inside | {type(node)})
            if type(node) in inside:
                new = kids
            elif isinstance(node, Italic) and len(kids) == 1 and isinstance(kids[0], Bold):
                new = (Bold((Italic(kids[0].children),)),)
            else:
                new = (type(node)(kids),) if kids else ()
        elif isinstance(node, Link):
            new = (Link(canonical_inlines(node.label, inside) or (Text(node.url),), node.url),)
        elif node == Text(""):
            new = ()
        for x in new:
            last = out[-1] if out else None
            if isinstance(last, Text) and isinstance(x, Text):
                out[-1] = Text(last.text + x.text)
            elif isinstance(last, Bold | Italic) and type(x) is type(last):
                out[-1] = canonical_inlines((type(last)(last.children + x.children),), inside)[0]
            else:
                out.append(x)
    return tuple(out)


# --- renderers --------------------------------------------------------------------------------


def _blocks(text_or_blocks: str | Sequence[Block]) -> tuple[Block, ...]:
    return parse(text_or_blocks) if isinstance(text_or_blocks, str) else tuple(text_or_blocks)


def _layout(blocks: Sequence[Block], inline: Callable[[Sequence[Inline], str], str]) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, Paragraph):
            parts.append(inline(b.children, "\n"))
            continue
        lines = []
        for k, item in enumerate(b.items):
            marker = f"{b.start + k}. " if b.ordered else "• "
            lines.append(marker + inline(item, "\n" + " " * len(marker)))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def inline_plain(nodes: Sequence[Inline], br: str = "\n") -> str:
    out = []
    for node in nodes:
        match node:
            case Text(t) | Code(t):
                out.append(t)
            case Bold(kids) | Italic(kids):
                out.append(inline_plain(kids, br))
            case Link(label, url):
                text = inline_plain(label, br)
                out.append(text if text == url else f"{text} ({url})")
            case LineBreak():
                out.append(br)
    return "".join(out)


def to_plain(text_or_blocks: str | Sequence[Block]) -> str:
    """Plain text: markers removed, links as "label (url)", bullets "• ", numbers "1. "."""
    return _layout(_blocks(text_or_blocks), inline_plain)


def _html(nodes: Sequence[Inline]) -> str:
    out = []
    for node in nodes:
        match node:
            case Text(t):
                out.append(html.escape(t))
            case Code(t):
                out.append(f"<code>{html.escape(t)}</code>")
            case Bold(kids):
                out.append(f"<strong>{_html(kids)}</strong>")
            case Italic(kids):
                out.append(f"<em>{_html(kids)}</em>")
            case Link(label, url) if _SAFE_URL.match(url):
                attrs = f'href="{html.escape(url)}" rel="noopener noreferrer" target="_blank"'
                out.append(f"<a {attrs}>{_html(label)}</a>")
            case Link():  # a hand-built AST with an unsafe url: show it, never link it
                out.append(html.escape(inline_plain((node,))))
            case LineBreak():
                out.append("<br>")
    return "".join(out)


def to_html(text_or_blocks: str | Sequence[Block]) -> str:
    """Safe HTML; every text and attribute value is escaped. One line per block."""
    out = []
    for b in _blocks(text_or_blocks):
        if isinstance(b, Paragraph):
            out.append(f"<p>{_html(b.children)}</p>")
        else:
            tag = "ol" if b.ordered else "ul"
            start = f' start="{int(b.start)}"' if b.ordered and b.start != 1 else ""
            items = "".join(f"<li>{_html(item)}</li>" for item in b.items)
            out.append(f"<{tag}{start}>{items}</{tag}>")
    return "\n".join(out)


_SGR: dict[type, str] = {Bold: "\x1b[1m", Italic: "\x1b[3m", Code: "\x1b[36m"}


def _tty(text: str) -> str:
    return _CONTROL.sub("\ufffd", text)


def _ansi(nodes: Sequence[Inline], br: str, active: str = "") -> str:
    out = []
    for node in nodes:
        style = _SGR.get(type(node), "")
        match node:
            case Text(t):
                out.append(_tty(t))
            case Code(t):
                out.append(f"{style}{_tty(t)}\x1b[0m{active}")
            case Bold(kids) | Italic(kids):  # \x1b[0m resets all, so re-apply the outer styles
                out.append(f"{style}{_ansi(kids, br, active + style)}\x1b[0m{active}")
            case Link(label, url):
                text = _ansi(label, br, active)
                suffix = "" if inline_plain(label) == url else f" ({_tty(url)})"
                out.append(text + suffix)
            case LineBreak():
                out.append(br)
    return "".join(out)


def to_ansi(text_or_blocks: str | Sequence[Block]) -> str:
    """Terminal text: bold, italic and code as SGR sequences; control characters neutralised."""
    return _layout(_blocks(text_or_blocks), _ansi)


def _guard(line: str) -> str:
    """Escape a line start that would otherwise be read as a list item."""
    m = _ITEM.match(line)
    if m is None:
        return line
    k = len(line) - len(line.lstrip(" \t")) + len(m[1] or "")
    return f"{line[:k]}\\{line[k:]}"


def _md(nodes: Sequence[Inline]) -> str:
    out, italics = [], []
    for node in nodes:
        match node:
            case Text(t):
                t = re.sub(r"[\\*`\[\]]", r"\\\g<0>", t)
                out.append(re.sub(r"(?<![^\W_])_|_(?![^\W_])", r"\\_", t) if "_" in t else t)
            case Bold(kids):
                out.append(f"**{_md(kids)}**")
            case Italic(kids):
                italics.append(len(out))
                out.append(_md(kids))
            case Code(t):
                fence = "`" * (max(map(len, re.findall("`+", t)), default=0) + 1)
                edge = t[:1] + t[-1:]
                pad = " " if "`" in edge or (edge == "  " and t.strip(" ")) else ""
                out.append(f"{fence}{pad}{t}{pad}{fence}")
            case Link(label, url):
                out.append(f"[{_md(label)}]({url})")
            case LineBreak():
                out.append("\n")
    for k in italics:  # `_` where it can be, so as not to run into the `*` of a bold
        outside = (out[k - 1][-1:] if k else "") + (out[k + 1][:1] if k + 1 < len(out) else "")
        mark = "*" if any(c.isalnum() for c in outside) else "_"
        out[k] = f"{mark}{out[k]}{mark}"
    return "".join(out)


def _block_md(b: Block) -> str:
    if isinstance(b, Paragraph):
        return "\n".join(map(_guard, _md(b.children).split("\n")))
    items = []
    for k, item in enumerate(b.items):
        first, *rest = _md(item).split("\n")
        marker = f"{b.start + k}. " if b.ordered else "- "
        items.append("\n  ".join([marker + first, *map(_guard, rest)]))
    return "\n".join(items)


def _unstyled(nodes: Sequence[Inline]) -> tuple[Inline, ...]:
    out: list[Inline] = []
    for node in nodes:
        if isinstance(node, Bold | Italic):
            out += _unstyled(node.children)
        else:
            out.append(Link(_unstyled(node.label), node.url) if isinstance(node, Link) else node)
    return canonical_inlines(out)


def _map(b: Block, f: Callable[[Sequence[Inline]], tuple[Inline, ...]]) -> Block:
    if isinstance(b, Paragraph):
        return Paragraph(f(b.children))
    return ListBlock(b.ordered, tuple(f(item) for item in b.items), b.start)


def to_markdown(blocks: Sequence[Block]) -> str:
    """Canonical source for `blocks`, such that `parse(to_markdown(parse(s))) == parse(s)`, but
    for emphasis glued together inside a word in ways the syntax cannot express: a block with
    such is written without its bold and italics."""
    parts = []
    for b in blocks:
        md = _block_md(b)
        parts.append(
            md if parse(md) == (_map(b, canonical_inlines),) else _block_md(_map(b, _unstyled))
        )
    return "\n\n".join(p for p in parts if p)
