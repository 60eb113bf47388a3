"""The parts every program parser uses: problems with their place, and typed readers of located
values that record a problem and go on."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from programs import definition as d
from programs.located import LDict, Loc, LStr, loc_of

T = TypeVar("T")

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
ANSWER_TYPES = ("choice", "number", "scale", "yes_no", "text", "time", "date")
SHORTHAND_KINDS = {"message": "text", "question": "text", "wait": "wait", "end": "text"}

TOP_KEYS = {
    "version",
    "slug",
    "title",
    "description",
    "timezone",
    "catch_up",
    "late_after",
    "variables",
    "keywords",
    "whatsapp_reask",
    "steps",
}
COMMON_KEYS = {"id", "kind", "next"}
ASKING_KEYS = {
    "text",
    "answer",
    "choices",
    "store",
    "reprompt",
    "retries",
    "on_fail",
    "habit",
    "nudge",
    "timeout",
}
STEP_KEYS: dict[str, set[str]] = {
    "message": {"text", "media", "choices"},
    "question": ASKING_KEYS,
    "checkin": ASKING_KEYS | {"metric", "unit"},
    "wait": {"wait"},
    "branch": {"branches"},
    "goal": {"goal", "title", "action", "text"},
    "habit": {"habit", "title", "action", "text"},
    "badge": {"badge", "title", "when", "text"},
    "end": {"text"},
}


@dataclass(frozen=True, order=True)
class Problem:
    line: int
    column: int
    message: str

    def format(self, filename: str) -> str:
        return f"{filename}:{self.line}:{self.column}: {self.message}"


class ProgramInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the program")
        self.problems = sorted(problems)

    def format(self, filename: str) -> str:
        return "\n".join(p.format(filename) for p in self.problems)


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass
class StepDraft:
    """What the graph and template checks need to know about a step, with locations."""

    step: d.Step
    loc: Loc
    refs: list[tuple[str, Loc, str]]  # (target id, where, which field)
    templates: list[tuple[str, Loc]]
    conditions: list[tuple[str, Loc]]


class Readers:
    """Typed readers of located values that record problems instead of stopping."""

    def __init__(self, creator_words: frozenset[str] = frozenset()) -> None:
        # The creator's own opt-out and opt-in words (normalized): a program keyword equal to
        # one would never be reached, the guardrail answers first.
        self.creator_words = creator_words
        self.problems: list[Problem] = []
        self.drafts: list[StepDraft] = []
        self.stored: dict[str, Loc] = {}
        self.keyword_refs: list[tuple[str, Loc, str]] = []

    def error(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(loc.line, loc.column, message))

    # -- readers -----------------------------------------------------------------------------

    def text(self, m: LDict, key: str, *, required: bool = False, what: str = "") -> str | None:
        node = m.get(key)
        if node is None:
            if required:
                self.error(m.loc, f"{what or 'this'} needs `{key}`")
            return None
        if not isinstance(node, LStr):
            self.error(loc_of(node, m.loc), f"`{key}` must be text, not a list or a mapping")
            return None
        return str(node)

    def convert(self, m: LDict, key: str, fn: Callable[[str], T], default: T) -> T:
        raw = self.text(m, key)
        if raw is None:
            return default
        try:
            return fn(raw.strip())
        except ValueError as exc:
            self.error(loc_of(m[key], m.loc), f"`{key}`: {exc}")
            return default

    def integer(self, m: LDict, key: str, default: int, low: int, high: int) -> int:
        def parse(raw: str) -> int:
            if not re.fullmatch(r"-?\d+", raw) or not low <= int(raw) <= high:
                raise ValueError(f"{raw!r} must be a whole number from {low} to {high}")
            return int(raw)

        return self.convert(m, key, parse, default)

    def one_of(self, m: LDict, key: str, options: tuple[str, ...], default: str) -> str:
        def parse(raw: str) -> str:
            if raw not in options:
                raise ValueError(
                    f"{raw!r} is not one of {', '.join(options)}{did_you_mean(raw, options)}"
                )
            return raw

        return self.convert(m, key, parse, default)

    def unknown_keys(self, m: LDict, allowed: set[str], where: str) -> None:
        for key in m:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f"; allowed: {', '.join(sorted(allowed))}"
                self.error(m.key_locs[key], f"unknown field `{key}` in {where}{hint}")

    def ref(self, draft_refs: list[tuple[str, Loc, str]], m: LDict, key: str) -> str | None:
        target = self.text(m, key)
        if target is not None:
            draft_refs.append((target.strip(), loc_of(m[key], m.loc), key))
            return target.strip()
        return None

    # -- the program ---------------------------------------------------------------------------
