"""A creator's persona and delivery policies, changed and validated in one place (the hub uses
it; `coachbot creator set` validates the same rules on its flags, and its opt-out and opt-in
words with `keyword_lists`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from engine.creators import CreatorError, validate_timezone
from engine.keywords import (
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    KeywordError,
    custom_words,
    keyword,
    split_words,
)
from engine.models import Creator
from programs import store

KEYWORD_FIELDS = ("opt_out_words", "opt_in_words")


class FieldError(CreatorError):
    """A setting that is not acceptable, with the form field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


TEXT_LIMITS = {
    "bot_name": 100,
    "persona": 4000,
    "greeting": 2000,
    "crisis_message": 2000,
    "helpline": 2000,
    "inactivity_message": 2000,
}


def _clock(name: str, value: str) -> str:
    try:
        return time.fromisoformat(value.strip()).strftime("%H:%M")
    except ValueError:
        raise CreatorError(f"{name}: use a time like 21:00") from None


def _whole(name: str, value: str, low: int, high: int) -> int:
    value = value.strip()
    if not value.isdigit() or not low <= int(value) <= high:
        raise CreatorError(f"{name}: a whole number from {low} to {high}")
    return int(value)


def keyword_lists(
    opt_out: str | Sequence[str], opt_in: str | Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """A creator's own opt-out and opt-in words (as typed: a text with one per line or between
    commas, or a list) → the normalized lists to store. Raises CreatorError naming the word."""
    out_words = split_words(opt_out) if isinstance(opt_out, str) else list(opt_out)
    in_words = split_words(opt_in) if isinstance(opt_in, str) else list(opt_in)
    try:
        outs = custom_words(out_words, kind="opt-out", defaults=OPT_OUT_WORDS, others=OPT_IN_WORDS)
        ins = custom_words(
            in_words, kind="opt-in", defaults=OPT_IN_WORDS, others=OPT_OUT_WORDS | frozenset(outs)
        )
    except KeywordError as exc:
        raise FieldError(exc.kind.replace("-", "_") + "_words", str(exc)) from None
    return outs, ins


def validated(fields: Mapping[str, str]) -> dict[str, object]:
    """Form fields (all text) → column values; raises CreatorError naming the bad field.
    Empty optional texts mean "use the default"; empty times and days mean "off"."""
    out: dict[str, object] = {}
    for name, limit in TEXT_LIMITS.items():
        if name in fields:
            value = fields[name].strip()
            if len(value) > limit:
                raise CreatorError(f"{name.replace('_', ' ')}: at most {limit} characters")
            if name == "bot_name" and not value:
                raise CreatorError("the bot needs a name")
            optional = name in ("crisis_message", "helpline", "inactivity_message")
            out[name] = value or (None if optional else "")
    if "timezone" in fields:
        out["timezone"] = validate_timezone(fields["timezone"].strip() or "UTC")
    if fields.get("quiet_off"):
        out["quiet_hours_start"] = out["quiet_hours_end"] = "00:00"
    else:
        for name in ("quiet_hours_start", "quiet_hours_end"):
            if name in fields:
                out[name] = _clock(name.replace("_", " "), fields[name])
    if "daily_proactive_cap" in fields:
        out["daily_proactive_cap"] = _whole("daily cap", fields["daily_proactive_cap"], 0, 100)
    if "inactivity_days" in fields:
        raw = fields["inactivity_days"].strip()
        days = _whole("inactivity days", raw, 0, 365) if raw else 0
        out["inactivity_days"] = days or None
    if "streak_reminder_at" in fields:
        raw = fields["streak_reminder_at"].strip()
        out["streak_reminder_at"] = _clock("streak reminder", raw) if raw else None
    if "opt_out_words" in fields or "opt_in_words" in fields:
        outs, ins = keyword_lists(fields.get("opt_out_words", ""), fields.get("opt_in_words", ""))
        if "opt_out_words" in fields:
            out["opt_out_words"] = outs
        if "opt_in_words" in fields:
            out["opt_in_words"] = ins
    return out


async def check_program_keywords(
    session: AsyncSession, creator_id: int, words: Mapping[str, Sequence[str]]
) -> None:
    """Refuse an opt-out or opt-in word that a published program of this creator uses as a
    keyword: the guardrail would answer it first and the program's jump could never happen.
    `words`: the lists being saved, by field name. Raises FieldError naming the word."""
    if not any(words.values()):
        return  # nothing to collide with: no need to read the programs
    programs = await store.latest_definitions(session, creator_id)
    for field, listed in words.items():
        for word in listed:
            key = keyword(word)
            for slug, program in programs:
                if key in program.keywords:
                    kind = field.removesuffix("_words").replace("_", "-")
                    raise FieldError(
                        field,
                        f"{kind} words: {word!r} is a keyword of your program {slug!r}; "
                        "choose another word or change that keyword first",
                    )


async def update_settings(
    session: AsyncSession, creator_id: int, fields: Mapping[str, str]
) -> Creator:
    changes = validated(fields)
    creator = await session.get(Creator, creator_id, with_for_update=True)
    if creator is None:
        raise CreatorError(f"no creator {creator_id}")
    words = {k: cast(list[str], v) for k, v in changes.items() if k in KEYWORD_FIELDS}
    await check_program_keywords(session, creator_id, words)
    for key, value in changes.items():
        setattr(creator, key, value)
    return creator
