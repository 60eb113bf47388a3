"""Replies rendered for the providers, on the AST of `engine.markup`, and cut to their limits with
`engine.markup_split.split_markdown` (which never leaves a span broken across two pieces).

- Telegram HTML (parse_mode=HTML): <b>, <i>, <code>, <a href>; only `&`, `<` and `>` need
  escaping in text (and `"` in attributes). No paragraphs or lists in its HTML: blocks are
  separated by blank lines, items get "• " or their number, as in plain text.
- WhatsApp: *bold*, _italic_, `code`; links as "label (url)" since WhatsApp links bare URLs
  itself. WhatsApp has no escape character, so literal asterisks or underscores in a text can
  come out styled; we never add markers the author did not write.

Limits are counted in UTF-16 code units, as both providers count (an emoji is two).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from engine.markup import (
    Block,
    Bold,
    Code,
    Inline,
    Italic,
    LineBreak,
    Link,
    Paragraph,
    Text,
    inline_plain,
    parse,
)
from engine.markup_split import split_markdown
from engine.types import Choice

TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024
WHATSAPP_BODY_LIMIT = 1600


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _layout(blocks: Sequence[Block], inline: type[_Inline]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Paragraph):
            parts.append(inline.render(block.children))
            continue
        lines = []
        for k, item in enumerate(block.items):
            marker = f"{block.start + k}. " if block.ordered else "• "
            lines.append(marker + inline.render(item).replace("\n", "\n" + " " * len(marker)))
        parts.append("\n".join(lines))
    return "\n\n".join(p for p in parts if p)


class _Inline:
    @classmethod
    def render(cls, nodes: Sequence[Inline]) -> str:
        raise NotImplementedError


class _TelegramInline(_Inline):
    @classmethod
    def render(cls, nodes: Sequence[Inline]) -> str:
        out = []
        for node in nodes:
            match node:
                case Text(t):
                    out.append(html.escape(t, quote=False))
                case Code(t):
                    out.append(f"<code>{html.escape(t, quote=False)}</code>")
                case Bold(kids):
                    out.append(f"<b>{cls.render(kids)}</b>")
                case Italic(kids):
                    out.append(f"<i>{cls.render(kids)}</i>")
                case Link(label, url):
                    out.append(f'<a href="{html.escape(url)}">{cls.render(label)}</a>')
                case LineBreak():
                    out.append("\n")
        return "".join(out)


class _WhatsAppInline(_Inline):
    @classmethod
    def render(cls, nodes: Sequence[Inline]) -> str:
        out = []
        for node in nodes:
            match node:
                case Text(t):
                    out.append(t)
                case Code(t):
                    out.append(f"`{t}`" if "`" not in t else t)
                case Bold(kids):
                    out.append(_wrap("*", cls.render(kids)))
                case Italic(kids):
                    out.append(_wrap("_", cls.render(kids)))
                case Link(label, url):
                    text = inline_plain(label, " ")
                    out.append(url if text == url else f"{cls.render(label)} ({url})")
                case LineBreak():
                    out.append("\n")
        return "".join(out)


def _wrap(marker: str, inner: str) -> str:
    """WhatsApp styles only when the markers touch the text: keep surrounding spaces outside."""
    core = inner.strip()
    if not core:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{marker}{core}{marker}{trail}"


def telegram_html(text: str) -> str:
    return _layout(parse(text), _TelegramInline)


def whatsapp_text(text: str) -> str:
    return _layout(parse(text), _WhatsAppInline)


def telegram_parts(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """The message as Telegram HTML pieces, each within `limit` (measured on the HTML itself,
    which is never shorter than the text Telegram counts after parsing the entities)."""
    return [
        telegram_html(piece)
        for piece in split_markdown(text, limit, measure=utf16_len, render=telegram_html)
    ]


def numbered_choices(choices: Sequence[Choice]) -> str:
    lines = [f"{n}. {choice.label}" for n, choice in enumerate(choices, 1)]
    return "\n".join([*lines, "", "Reply with the number of your choice."])


def whatsapp_parts(
    text: str, choices: Sequence[Choice] = (), limit: int = WHATSAPP_BODY_LIMIT
) -> list[str]:
    """WhatsApp bodies within `limit`; offered choices become numbered lines at the end (in a
    body of their own when they do not fit after the text)."""
    parts = [
        whatsapp_text(piece)
        for piece in split_markdown(text, limit, measure=utf16_len, render=whatsapp_text)
    ]
    if choices:
        menu = numbered_choices(choices)
        if utf16_len(menu) > limit:
            menu = menu[: limit - 1] + "…"
        if parts and utf16_len(parts[-1] + "\n\n" + menu) <= limit:
            parts[-1] = parts[-1] + "\n\n" + menu
        else:
            parts.append(menu)
    return parts


def pick_numbered(text: str | None, choices: Sequence[Choice]) -> Choice | None:
    """The choice a reply like "2", "2." or "#2" names, if it names one of `choices`."""
    if not text or not choices:
        return None
    digits = text.strip().strip("#.)").strip()
    if digits.isdigit() and len(digits) <= 3 and 1 <= int(digits) <= len(choices):
        return choices[int(digits) - 1]
    folded = text.strip().casefold()
    return next((c for c in choices if c.label.casefold() == folded), None)
