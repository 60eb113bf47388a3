"""Text cleaning applied to everything we store: Unicode normalized, invisible and control code
points removed, whitespace made regular.

Invisible characters matter beyond tidiness: zero-width and tag characters (U+E0000–U+E007F) can
smuggle instructions to a model past a human reader, so they never reach the index or a prompt.
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width space/joiners, word joiner and friends, variation selectors, tag characters, the BOM,
# soft hyphen, bidirectional overrides and isolates, and C0/C1 controls other than tab/newline.
_INVISIBLE = re.compile(
    "["
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef"
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "]"
)
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")  # "recov-\nery" from PDF line wrapping
_MANY_NEWLINES = re.compile(r"\n{3,}")


def strip_invisible(text: str) -> str:
    return _INVISIBLE.sub("", text)


def clean_text(text: str) -> str:
    """Normalize one block of text: NFKC (ligatures, full-width forms), no invisible characters,
    single spaces, at most one blank line in a row, no trailing spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFKC", strip_invisible(text))
    text = strip_invisible(text)  # NFKC can expose new ones (rare, but cheap to be sure)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def clean_line(text: str) -> str:
    """A heading or title: cleaned and on one line."""
    return " ".join(clean_text(text).split())
