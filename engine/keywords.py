"""Keyword matching shared by the guardrails and program keywords: one normalization, so a
keyword a coach writes in a program matches what a coachee types. Stdlib only (a leaf module:
`programs` uses it to validate keywords)."""

from __future__ import annotations

import re
import unicodedata

# The carrier-standard opt-out words (as Twilio's) plus common ones in our other languages. Only
# a message that is exactly one of these counts: "I can't stop snacking" is not an opt-out.
OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "optout", "opt out"}
    | {"baja", "parar", "arret", "arreter", "stopp", "abmelden", "afmelden", "annulla"}
)
OPT_IN_WORDS = frozenset({"start", "unstop", "resume", "subscribe", "opt in", "optin"})
RESERVED_WORDS = OPT_OUT_WORDS | OPT_IN_WORDS

_SEPARATORS = re.compile(r"[\s.!?,;:)(\"'’*_~-]+")


def keyword(text: str) -> str:
    """Fold case, accents, punctuation and spacing: "Can't sleep!" → "can t sleep"."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(_SEPARATORS.sub(" ", folded).split())
