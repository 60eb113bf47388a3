"""Program files (YAML or JSON) → `Program`, collecting every problem with its line and column.

Each problem says what is wrong and how to fix it. Parsing goes on after a problem, so the coach
sees all of them at once; the graph and template checks in `programs.validate` run afterwards.
"""

from __future__ import annotations

import re
from typing import cast

from engine.keywords import RESERVED_WORDS, keyword
from programs import definition as d
from programs.located import LDict, LList, LoadError, Loc, LStr, Node, load, loc_of
from programs.parse_base import (  # re-exported: the public names of program parsing
    NAME_PATTERN,
    SLUG_PATTERN,
    TOP_KEYS,
    Problem,
    ProgramInvalid,
    StepDraft,
    did_you_mean,
)
from programs.parse_steps import StepParser
from programs.templating import CONTEXT_NAMES
from programs.timeexpr import Duration, parse_duration, parse_time_of_day

__all__ = ["Parser", "Problem", "ProgramInvalid", "StepDraft", "did_you_mean", "parse_located"]


class Parser(StepParser):
    def program(self, root: Node) -> d.Program | None:
        if not isinstance(root, LDict):
            self.error(
                loc_of(root, Loc(1, 1)), "a program file is a mapping with slug, title, steps…"
            )
            return None
        self.unknown_keys(root, TOP_KEYS, "the program")
        version = self.integer(root, "version", d.FORMAT_VERSION, 1, 999)
        if version != d.FORMAT_VERSION:
            self.error(
                root.key_locs["version"], f"format version {version} is not supported: use 1"
            )
        slug = self.text(root, "slug", required=True, what="the program") or "untitled"
        if "slug" in root and not SLUG_PATTERN.match(slug):
            self.error(
                loc_of(root["slug"], root.loc),
                f"slug {slug!r}: use lowercase letters, digits and hyphens",
            )
        title = self.text(root, "title", required=True, what="the program") or slug
        timezone = self.convert(root, "timezone", _timezone, None)
        catch_up = self.one_of(root, "catch_up", ("deliver", "skip", "merge"), "deliver")
        late_after = self.convert(root, "late_after", parse_duration, Duration(seconds=3600))
        variables = self.variables(root.get("variables"), root.loc)
        steps_node = root.get("steps")
        if not isinstance(steps_node, LList) or not steps_node:
            self.error(loc_of(steps_node, root.loc), "the program needs `steps`: a list of steps")
            return None
        for index, node in enumerate(steps_node, 1):
            self.step(node, index)
        steps: dict[str, d.Step] = {}
        for draft in self.drafts:
            if draft.step.id in steps:
                self.error(
                    draft.loc, f"step id {draft.step.id!r} is used twice: ids must be unique"
                )
            steps.setdefault(draft.step.id, draft.step)
        keywords = self.keywords(root.get("keywords"), root.loc)
        reask = self.one_of(root, "whatsapp_reask", ("true", "false", "yes", "no"), "false")
        return d.Program(
            slug=slug,
            title=title,
            description=self.text(root, "description") or "",
            steps=steps,
            timezone=timezone,
            catch_up=cast(d.CatchUp, catch_up),
            late_after=late_after,
            variables=variables,
            keywords=keywords,
            whatsapp_reask=reask in ("true", "yes"),
        )

    def variables(self, node: Node | None, parent: Loc) -> dict[str, d.VariableSpec]:
        if node is None:
            return {}
        if not isinstance(node, LDict):
            self.error(
                loc_of(node, parent), "`variables` maps names to types, e.g. `bedtime: time`"
            )
            return {}
        out = {}
        types = ("text", "number", "integer", "boolean", "time", "date")
        for name, spec in node.items():
            loc = node.key_locs[name]
            if not NAME_PATTERN.match(name) or name in CONTEXT_NAMES:
                why = (
                    "is reserved" if name in CONTEXT_NAMES else "is not a valid name (a-z, 0-9, _)"
                )
                self.error(loc, f"variable {name!r} {why}")
                continue
            if isinstance(spec, LStr):
                kind, default = str(spec), None
            elif isinstance(spec, LDict):
                self.unknown_keys(spec, {"type", "default"}, f"variable {name!r}")
                kind, default = self.text(spec, "type") or "text", self.text(spec, "default")
            else:
                self.error(loc, f"variable {name!r}: give a type or {{type, default}}")
                continue
            if kind not in types:
                self.error(
                    loc_of(spec, loc),
                    f"variable {name!r}: unknown type {kind!r}; use one of {', '.join(types)}",
                )
                continue
            try:
                value = _typed_default(kind, default)
            except ValueError as exc:
                self.error(loc_of(spec, loc), f"variable {name!r}: default {default!r} {exc}")
                continue
            out[name] = d.VariableSpec(name, cast(d.VariableType, kind), value)
        return out

    def keywords(self, node: Node | None, parent: Loc) -> dict[str, str]:
        if node is None:
            return {}
        if not isinstance(node, LDict):
            self.error(
                loc_of(node, parent), "`keywords` maps a word to a step id, e.g. `help: support`"
            )
            return {}
        out: dict[str, str] = {}
        for word, target in node.items():
            loc = node.key_locs[word]
            key = keyword(word)
            if not key or key in RESERVED_WORDS or word.strip().startswith("/"):
                self.error(loc, f"keyword {word!r} is reserved (opt-out words and commands)")
            elif key in self.creator_words:
                self.error(
                    loc,
                    f"keyword {word!r} is one of your own opt-out or opt-in words, which answer "
                    "first: choose another keyword or change those words in your settings",
                )
            elif not isinstance(target, LStr):
                self.error(loc, f"keyword {word!r} must name a step id")
            else:
                out[key] = str(target).strip()
                self.keyword_refs.append((out[key], loc_of(target, loc), "keywords"))
        return out

    # -- steps ---------------------------------------------------------------------------------


def _timezone(name: str) -> str | None:
    if name.casefold() in ("contact", "coachee", ""):
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r}: use `contact` or an IANA name such as Europe/Berlin"
        ) from None
    return name


def _typed_default(kind: str, raw: str | None) -> str | int | float | bool | None:
    """A variable's default as its declared type (YAML scalars arrive as text)."""
    if raw is None:
        return None
    text = raw.strip()
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError("is not a whole number")
        return int(text)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError("is not a number") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false", "yes", "no"):
            raise ValueError("is not true or false")
        return text.lower() in ("true", "yes")
    if kind == "time":
        parse_time_of_day(text)
    elif kind == "date":
        from datetime import date

        try:
            date.fromisoformat(text)
        except ValueError:
            raise ValueError("is not a date like 2026-03-01") from None
    return raw


def parse_located(
    text: str, creator_words: frozenset[str] = frozenset()
) -> tuple[d.Program | None, Parser]:
    parser = Parser(creator_words)
    try:
        root = load(text)
    except LoadError as exc:
        parser.error(exc.loc, exc.message)
        return None, parser
    return parser.program(root), parser
