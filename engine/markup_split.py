"""Cutting a long reply into pieces that each fit a provider's limit (Telegram 4096 characters,
Twilio 1,600): between blocks, then at line breaks, sentence ends and words, and only as a last
resort inside a word. Markup is never left broken: a bold or italic span cut in two is closed at
the end of one piece and reopened at the start of the next.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeAlias, TypeVar

from engine.markup import (
    Block,
    Bold,
    Code,
    Inline,
    Italic,
    LineBreak,
    Link,
    ListBlock,
    Paragraph,
    Text,
    canonical_inlines,
    inline_plain,
    parse,
    to_markdown,
)

_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")
_BLANK_LINES = re.compile(r"\A(?:[^\S\n]*\n)+")
# --- splitting --------------------------------------------------------------------------------

_T = TypeVar("_T")
_Span: TypeAlias = type[Bold] | type[Italic]


class _Atom(NamedTuple):
    """A leaf of a paragraph with its enclosing spans, outermost first, and the strength of the
    boundary before it: 3 line break, 2 sentence, 1 word, 0 none."""

    spans: tuple[_Span, ...]
    leaf: Text | Code | Link | LineBreak
    brk: int = 0


def _blank(atom: _Atom) -> bool:
    return isinstance(atom.leaf, LineBreak) or (
        isinstance(atom.leaf, Text) and atom.leaf.text.isspace()
    )


def _atoms(nodes: Sequence[Inline], spans: tuple[_Span, ...] = ()) -> list[_Atom]:
    out: list[_Atom] = []
    for node in nodes:
        if isinstance(node, Bold | Italic):
            out += _atoms(node.children, (*spans, type(node)))
        elif isinstance(node, Text):
            out += [_Atom(spans, Text(w)) for w in re.findall(r"\s+|\S+", node.text)]
        else:
            out.append(_Atom(spans, node))
    return out


def _breaks(atoms: Sequence[_Atom]) -> list[_Atom]:
    out = list(atoms)
    for k in range(1, len(out)):
        prev, brk = out[k - 1], 0
        if isinstance(prev.leaf, LineBreak) or isinstance(out[k].leaf, LineBreak):
            brk = 3
        elif _blank(prev):
            word = out[k - 2].leaf if k > 1 else None
            brk = 2 if isinstance(word, Text) and _SENTENCE_END.search(word.text) else 1
        out[k] = out[k]._replace(brk=brk)
    return out


def _build(atoms: Sequence[_Atom]) -> list[Inline]:
    out: list[Inline] = []
    i = 0
    while i < len(atoms):
        span = atoms[i].spans[:1]
        if not span:
            out.append(atoms[i].leaf)
            i += 1
            continue
        j = i
        while j < len(atoms) and atoms[j].spans[:1] == span:
            j += 1
        out.append(span[0](tuple(_build([a._replace(spans=a.spans[1:]) for a in atoms[i:j]]))))
        i = j
    return out


def _pack(
    units: Sequence[Sequence[_T]],
    carry: list[_T],
    source: Callable[[Sequence[_T]], str],
    fits: Callable[[str], bool],
    oversize: Callable[[Sequence[_T]], None],
    emit: Callable[[str], None],
) -> None:
    """Greedily add units to `carry`, the piece being built, emitting it when the next unit does
    not fit; a unit too big alone goes to `oversize`, which may leave its tail in `carry`."""
    i = 0
    while i < len(units):
        lo, hi, step = i, len(units), 1  # units[i:lo] fit after carry, units[i:hi + 1] do not
        while lo < hi:  # a galloping, then binary search: probes stay near the piece's size
            mid = min(lo + step, hi) if step else (lo + hi + 1) // 2
            more = [x for unit in units[i:mid] for x in unit]
            lo, hi, step = (mid, hi, step * 2) if fits(source(carry + more)) else (lo, mid - 1, 0)
        carry += [x for unit in units[i:lo] for x in unit]
        if lo == i and carry:
            emit(source(carry))
            carry.clear()
            continue
        if lo == i:
            oversize(units[i])
            lo += 1
        i = lo


def _split_inline(
    children: Sequence[Inline],
    first: Callable[[tuple[Inline, ...]], Block],
    fits: Callable[[str], bool],
    emit: Callable[[str], None],
) -> Block | None:
    """Emit pieces of a paragraph (or of a list item: `first` wraps its first piece), cut at line
    breaks, then sentences, then words, then characters; spans are closed and reopened. Returns
    what is left for the next piece."""
    carry: list[_Atom] = []
    emitted = False

    def block(atoms: Sequence[_Atom]) -> Block | None:
        i, j = 0, len(atoms)
        while i < j and _blank(atoms[i]):
            i += 1
        while j > i and _blank(atoms[j - 1]):
            j -= 1
        return (
            (Paragraph if emitted else first)(canonical_inlines(_build(atoms[i:j])))
            if i < j
            else None
        )

    def source(atoms: Sequence[_Atom]) -> str:
        b = block(atoms)
        return to_markdown([b]) if b else ""

    def emit_piece(piece: str) -> None:
        nonlocal emitted
        if piece:
            emit(piece)
            emitted = True

    def split(atoms: Sequence[_Atom], level: int) -> None:
        units: list[list[_Atom]] = []
        for k, a in enumerate(atoms):
            if level == 0 and isinstance(a.leaf, Text):  # inside a word: characters, but a code
                units += [[_Atom(a.spans, Text(ch))] for ch in a.leaf.text]  # span or link only
            elif level == 0 or k == 0 or a.brk >= level:  # as text if too big alone (see below)
                units.append([a])
            else:
                units[-1].append(a)
        deeper = too_big if level == 0 else lambda unit: split(unit, level - 1)
        _pack(units, carry, source, fits, deeper, emit_piece)

    def too_big(unit: Sequence[_Atom]) -> None:
        (a,) = unit
        if isinstance(a.leaf, Text):
            raise ValueError(f"limit too small for {a.leaf.text!r} with its markup")
        split(_breaks(_atoms([Text(inline_plain([a.leaf], " "))], a.spans)), 1)

    split(_breaks(_atoms(children)), 3)
    return block(carry)


def split_markdown(
    text: str,
    limit: int,
    measure: Callable[[str], int] = len,
    render: Callable[[str], str] = lambda s: s,
) -> list[str]:
    """Split Markdown-subset `text` into non-empty Markdown pieces, each satisfying
    `measure(render(piece)) <= limit`, cut between blocks (list items count as blocks), else at
    line breaks, sentences, words, and only as a last resort inside a word.

    A text that fits is returned as it is (less surrounding blank space); otherwise the pieces are
    canonical source (see `to_markdown`): a span cut in two is closed and reopened, a cut list
    item goes on as a paragraph, numbering is kept, and a block's end can share a piece with
    what follows. A code span or link is cut (as plain text) only when too big alone.
    Raises ValueError when `limit` is too small for a single character with its markup.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    text = _BLANK_LINES.sub("", text).rstrip()  # not strip(): "\u2028- a" is no list item

    def fits(piece: str) -> bool:
        return measure(render(piece)) <= limit

    if not text or fits(text):
        return [text] if text else []
    pieces: list[str] = []
    units: list[list[tuple[Block, int]]] = []  # a paragraph or a list item, and its block's index
    for n, b in enumerate(parse(text)):
        if isinstance(b, Paragraph):
            units.append([(b, n)])
        else:
            units += [
                [(ListBlock(b.ordered, (it,), b.start + k), n)] for k, it in enumerate(b.items)
            ]
    carry: list[tuple[Block, int]] = []

    def source(units: Sequence[tuple[Block, int]]) -> str:
        blocks: list[Block] = []
        for k, (b, n) in enumerate(units):  # items of one list go back together
            last = blocks[-1] if blocks else None
            if (
                isinstance(last, ListBlock)
                and isinstance(b, ListBlock)
                and units[k - 1][1] == n >= 0
            ):
                blocks[-1] = ListBlock(last.ordered, last.items + b.items, last.start)
            else:
                blocks.append(b)
        return to_markdown(blocks)

    def emit(piece: str) -> None:
        if piece:
            pieces.append(piece)

    def oversize(unit: Sequence[tuple[Block, int]]) -> None:
        ((b, _),) = unit
        if isinstance(b, Paragraph):
            tail = _split_inline(b.children, Paragraph, fits, emit)
        else:
            tail = _split_inline(
                b.items[0], lambda i: ListBlock(b.ordered, (i,), b.start), fits, emit
            )
        carry.extend([(tail, -1)] if tail else [])

    _pack(units, carry, source, fits, oversize, emit)
    emit(source(carry))
    return pieces
