"""Keyword matching shared by the guardrails and program keywords: one normalization, so a
keyword a coach writes in a program matches what a coachee types. Stdlib only (a leaf module:
`programs` uses it to validate keywords)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# The carrier-standard opt-out words (as Twilio's) plus common ones in our other languages. Only
# a message that is exactly one of these counts: "I can't stop snacking" is not an opt-out.
OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "optout", "opt out"}
    | {"baja", "parar", "arret", "arreter", "stopp", "abmelden", "afmelden", "annulla"}
)
OPT_IN_WORDS = frozenset({"start", "unstop", "resume", "subscribe", "opt in", "optin"})
RESERVED_WORDS = OPT_OUT_WORDS | OPT_IN_WORDS

# A creator may add words of their own to either list (`creators.opt_out_words`,
# `creators.opt_in_words`); the defaults above stay in force for every creator.
MAX_CUSTOM_WORDS = 20
MAX_WORD_LENGTH = 40  # after normalization
# Only short messages are keyword checks at all: a default word within 20 characters ("Stop!"),
# a creator's word within twice its longest allowed length (room for spacing and punctuation).
DEFAULT_WORD_MESSAGE = 20
CUSTOM_WORD_MESSAGE = 2 * MAX_WORD_LENGTH

_SEPARATORS = re.compile(r"[\s.!?,;:)(\"'’*_~-]+")


def keyword(text: str) -> str:
    """Fold case, accents, punctuation and spacing: "Can't sleep!" → "can t sleep"."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(_SEPARATORS.sub(" ", folded).split())


class KeywordError(ValueError):
    """A creator's word list is not acceptable; the message says which word and why, `kind`
    which list ("opt-out" or "opt-in")."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind} words: {message}")
        self.kind = kind


def _is_one_of(text: str, defaults: frozenset[str], extra: Iterable[str]) -> bool:
    text = text.strip()
    if not text or len(text) > CUSTOM_WORD_MESSAGE:
        return False
    key = keyword(text)
    if len(text) <= DEFAULT_WORD_MESSAGE and key in defaults:
        return True
    return any(key == keyword(word) for word in extra)


def is_opt_out(text: str, extra: Iterable[str] = ()) -> bool:
    """The whole message is a default opt-out word or one of `extra` (a creator's own)."""
    return _is_one_of(text, OPT_OUT_WORDS, extra)


def is_opt_in(text: str, extra: Iterable[str] = ()) -> bool:
    """The whole message is a default opt-in word or one of `extra` (a creator's own)."""
    return _is_one_of(text, OPT_IN_WORDS, extra)


def split_words(raw: str) -> list[str]:
    """A coach's list as typed: one word or phrase per line or between commas."""
    return [part for part in re.split(r"[,\n]", raw) if part.strip()]


def custom_words(
    words: Iterable[str], *, kind: str, defaults: frozenset[str], others: frozenset[str]
) -> list[str]:
    """A creator's extra `kind` words ("opt-out" or "opt-in"), normalized as matching sees them,
    in the order given, without duplicates and without the defaults of the same kind (they
    apply anyway). Raises KeywordError for a bot command, a word of the other kind (`others`),
    a word that is empty or longer than MAX_WORD_LENGTH after normalization, or more than
    MAX_CUSTOM_WORDS words."""
    out: list[str] = []
    for word in words:
        shown = word.strip()
        key = keyword(shown)
        problem = None
        if shown.startswith("/"):
            problem = "is a bot command (it starts with /)"
        elif shown and not key:
            problem = "has no letters or digits"
        elif len(key) > MAX_WORD_LENGTH:
            problem = f"is longer than {MAX_WORD_LENGTH} characters"
        elif key in others:
            problem = f"is already an {'opt-in' if kind == 'opt-out' else 'opt-out'} word"
        if problem:
            raise KeywordError(kind, f"“{shown}” {problem}")
        if key and key not in defaults and key not in out:
            out.append(key)
    if len(out) > MAX_CUSTOM_WORDS:
        raise KeywordError(kind, f"at most {MAX_CUSTOM_WORDS} (you gave {len(out)})")
    return out
