"""Building each kind of step from its located mapping (the step half of the program parser)."""

from __future__ import annotations

import re
from typing import Any, cast

from programs import definition as d
from programs.answers import AnswerSpec, AnswerType, ChoiceOption
from programs.located import LDict, LList, Loc, LStr, Node, loc_of
from programs.parse_base import (
    ANSWER_TYPES,
    COMMON_KEYS,
    ID_PATTERN,
    NAME_PATTERN,
    SHORTHAND_KINDS,
    STEP_KEYS,
    Readers,
    StepDraft,
    did_you_mean,
)
from programs.templating import CONTEXT_NAMES
from programs.timeexpr import Duration, parse_duration, parse_wait


class StepParser(Readers):
    """Reads one step mapping into a `Step` and its draft (references, templates, conditions)."""

    def step(self, node: Node, index: int) -> None:
        loc = loc_of(node, Loc(1, 1))
        if not isinstance(node, LDict):
            self.error(loc, f"step {index} must be a mapping with at least a `kind`")
            return
        kind = self.text(node, "kind")
        if kind is None:
            inferred = [k for k in SHORTHAND_KINDS if k in node]
            if len(inferred) != 1:
                self.error(loc, f"step {index} needs a `kind` ({', '.join(d.STEP_CLASSES)})")
                return
            kind = inferred[0]
            field = SHORTHAND_KINDS[kind]
            if field != kind:
                if field in node:
                    self.error(
                        node.key_locs[field],
                        f"give the text once: either `{kind}:` or `{field}:`, not both",
                    )
                node[field] = node.pop(kind)
                node.key_locs[field] = node.key_locs.pop(kind)
        kind = kind.strip()
        if kind not in d.STEP_CLASSES:
            self.error(
                loc_of(node.get("kind"), loc),
                f"unknown step kind {kind!r}{did_you_mean(kind, d.STEP_CLASSES)} "
                f"(kinds: {', '.join(d.STEP_CLASSES)})",
            )
            return
        step_id = (self.text(node, "id") or f"step-{index}").strip()
        if not ID_PATTERN.match(step_id):
            self.error(
                loc_of(node.get("id"), loc),
                f"step id {step_id!r}: use lowercase letters, digits, - and _",
            )
        where = f"{kind} step {step_id!r}"
        self.unknown_keys(node, COMMON_KEYS | STEP_KEYS[kind], where)
        draft = StepDraft(d.EndStep(id=step_id, line=loc.line), loc, [], [], [])
        nxt = self.ref(draft.refs, node, "next")
        common: dict[str, Any] = {"id": step_id, "line": loc.line, "next": nxt}
        builder = getattr(self, f"build_{kind}")
        step = builder(node, where, draft, common)
        if step is not None:
            draft.step = step
            self.drafts.append(draft)

    def template(
        self, draft: StepDraft, m: LDict, key: str, *, required: bool = False, where: str = ""
    ) -> str | None:
        value = self.text(m, key, required=required, what=where)
        if value is not None:
            draft.templates.append((value, loc_of(m[key], m.loc)))
        return value

    def build_message(
        self, m: LDict, where: str, draft: StepDraft, common: dict[str, Any]
    ) -> d.Step:
        text = self.template(draft, m, "text", required=True, where=where) or ""
        return d.MessageStep(
            text=text, media=self.media(m), choices=self.choices(m, draft), **common
        )

    def build_question(
        self, m: LDict, where: str, draft: StepDraft, common: dict[str, Any]
    ) -> d.Step:
        return d.QuestionStep(**self.asking(m, where, draft, default_answer=None), **common)

    def build_checkin(
        self, m: LDict, where: str, draft: StepDraft, common: dict[str, Any]
    ) -> d.Step:
        metric = self.text(m, "metric", required=True, what=where) or "metric"
        if not NAME_PATTERN.match(metric):
            self.error(loc_of(m.get("metric"), m.loc), f"metric {metric!r}: use a-z, 0-9 and _")
        fields = self.asking(m, where, draft, default_answer=AnswerSpec("scale", min=1, max=10))
        if fields["answer"].type not in ("scale", "number"):
            self.error(
                loc_of(m.get("answer"), m.loc),
                "a check-in records a number: use answer scale or number",
            )
        return d.CheckinStep(metric=metric, unit=self.text(m, "unit"), **fields, **common)

    def asking(
        self, m: LDict, where: str, draft: StepDraft, default_answer: AnswerSpec | None
    ) -> dict[str, Any]:
        text = self.template(draft, m, "text", required=True, where=where) or ""
        choices = self.choices(m, draft)
        answer = self.answer(m, where, choices, default_answer)
        store = self.text(m, "store")
        if store is not None:
            store = store.strip()
            if not NAME_PATTERN.match(store) or store in CONTEXT_NAMES:
                self.error(
                    loc_of(m["store"], m.loc), f"`store`: {store!r} is not a usable variable name"
                )
            self.stored.setdefault(store, loc_of(m["store"], m.loc))
        return {
            "text": text,
            "answer": answer,
            "choices": choices or _default_choices(answer),
            "store": store,
            "reprompt": self.template(draft, m, "reprompt"),
            "retries": self.integer(m, "retries", 2, 0, 10),
            "on_fail": self.ref(draft.refs, m, "on_fail"),
            "habit": self.text(m, "habit"),
            "nudge": self.nudge(m, draft),
            "timeout": self.timeout(m, draft),
        }

    def after(self, m: LDict, what: str) -> Duration | None:
        node = m.get("after")
        if not isinstance(node, LStr):
            self.error(loc_of(node, m.loc), f"`{what}` needs `after`, a duration such as 4h")
            return None
        try:
            return parse_duration(str(node))
        except ValueError as exc:
            self.error(loc_of(node, m.loc), f"`{what}.after`: {exc}")
            return None

    def nudge(self, m: LDict, draft: StepDraft) -> d.Nudge | None:
        node = m.get("nudge")
        if node is None:
            return None
        if not isinstance(node, LDict):
            self.error(loc_of(node, m.loc), "`nudge` is {after: DURATION, text: ...}")
            return None
        self.unknown_keys(node, {"after", "text"}, "a nudge")
        after = self.after(node, "nudge")
        text = self.template(draft, node, "text")
        return d.Nudge(after, text) if after else None

    def timeout(self, m: LDict, draft: StepDraft) -> d.Timeout | None:
        node = m.get("timeout")
        if node is None:
            return None
        if not isinstance(node, LDict):
            self.error(loc_of(node, m.loc), "`timeout` is {after: DURATION, then: pause|next|STEP}")
            return None
        self.unknown_keys(node, {"after", "then"}, "a timeout")
        after = self.after(node, "timeout")
        then = (self.text(node, "then") or "pause").strip()
        if then not in ("pause", "next"):
            draft.refs.append((then, loc_of(node.get("then"), node.loc), "then"))
        return d.Timeout(after, then) if after else None

    def answer(
        self, m: LDict, where: str, choices: tuple[d.ProgramChoice, ...], default: AnswerSpec | None
    ) -> AnswerSpec:
        node = m.get("answer")
        loc = loc_of(node, m.loc)
        if node is None:
            if default is not None:
                return default
            if choices:
                return AnswerSpec("choice", choices=_options(choices))
            self.error(m.loc, f"{where} needs `answer` (one of {', '.join(ANSWER_TYPES)})")
            return AnswerSpec("text")
        fields: dict[str, str] = {}
        if isinstance(node, LStr):
            match = re.fullmatch(r"(\w+)(?:\s+(-?[\d.]+)\s*(?:-|to|–)\s*(-?[\d.]+))?", node.strip())
            if not match:
                self.error(
                    loc, f"`answer`: {str(node)!r} is not an answer type; e.g. `scale 1-10`, `time`"
                )
                return AnswerSpec("text")
            fields["type"] = match.group(1)
            if match.group(2):
                fields["min"], fields["max"] = match.group(2), match.group(3)
        elif isinstance(node, LDict):
            self.unknown_keys(
                node, {"type", "min", "max", "pattern", "max_length"}, f"the answer of {where}"
            )
            fields = {k: str(v) for k, v in node.items() if isinstance(v, LStr)}
        else:
            self.error(loc, "`answer` is a type (e.g. `time`) or a mapping with `type`")
            return AnswerSpec("text")
        kind = fields.get("type", "")
        if kind not in ANSWER_TYPES:
            self.error(
                loc,
                f"unknown answer type {kind!r}{did_you_mean(kind, ANSWER_TYPES)} "
                f"(types: {', '.join(ANSWER_TYPES)})",
            )
            return AnswerSpec("text")
        try:
            low = float(fields["min"]) if "min" in fields else None
            high = float(fields["max"]) if "max" in fields else None
            max_length = int(fields["max_length"]) if "max_length" in fields else None
        except ValueError:
            self.error(loc, "`min`, `max` and `max_length` must be numbers")
            return AnswerSpec("text")
        if kind == "scale":
            low, high = low if low is not None else 1, high if high is not None else 10
            if low != int(low) or high != int(high):
                self.error(loc, "a scale needs whole-number bounds, e.g. 1 to 10")
        if low is not None and high is not None and low >= high:
            self.error(loc, f"`min` ({low:g}) must be below `max` ({high:g})")
        pattern = fields.get("pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                self.error(loc, f"`pattern` is not a valid regular expression: {exc}")
                pattern = None
        if kind == "choice" and not choices:
            self.error(loc, f"{where} asks for a choice but has no `choices`")
        return AnswerSpec(
            cast(AnswerType, kind),
            choices=_options(choices),
            min=low,
            max=high,
            pattern=pattern,
            max_length=max_length,
        )

    def choices(self, m: LDict, draft: StepDraft) -> tuple[d.ProgramChoice, ...]:
        node = m.get("choices")
        if node is None:
            return ()
        if not isinstance(node, LList) or not node:
            self.error(loc_of(node, m.loc), "`choices` is a list of labels or {label, value, goto}")
            return ()
        out = []
        for item in node:
            if isinstance(item, LStr):
                label, value, goto = str(item).strip(), str(item).strip(), None
            elif isinstance(item, LDict):
                self.unknown_keys(item, {"label", "value", "goto"}, "a choice")
                label = (self.text(item, "label") or "").strip()
                value = (self.text(item, "value") or label).strip()
                goto = self.ref(draft.refs, item, "goto")
            else:
                label, value, goto = "", "", None
            if not label:
                self.error(
                    loc_of(item, node.loc), "every choice needs a label (the text on the button)"
                )
                continue
            out.append(d.ProgramChoice(label, value, goto))
        values = [c.value.casefold() for c in out]
        if len(set(values)) != len(values):
            self.error(node.loc, "two choices have the same value: give each a distinct `value`")
        return tuple(out)

    def media(self, m: LDict) -> tuple[d.MediaRef, ...]:
        node = m.get("media")
        if node is None:
            return ()
        items = node if isinstance(node, LList) else LList([node])
        out = []
        for item in items:
            url = (
                str(item)
                if isinstance(item, LStr)
                else (self.text(item, "url") or "")
                if isinstance(item, LDict)
                else ""
            )
            if not re.match(r"https?://\S+$", url.strip()):
                self.error(loc_of(item, m.loc), "media needs an http(s) `url`")
                continue
            caption = self.text(item, "caption") if isinstance(item, LDict) else None
            kind = (self.text(item, "kind") if isinstance(item, LDict) else None) or _media_kind(
                url
            )
            out.append(d.MediaRef(kind, url.strip(), caption))
        return tuple(out)

    def build_wait(
        self, m: LDict, where: str, draft: StepDraft, common: dict[str, Any]
    ) -> d.Step | None:
        node = m.get("wait")
        if node is None:
            self.error(m.loc, f"{where} needs `wait`, e.g. `wait: day 2 at 08:00` or `wait: 2h`")
            return None
        try:
            if isinstance(node, LStr):
                spec = parse_wait(str(node))
            elif isinstance(node, LDict):
                spec = parse_wait({k: str(v) for k, v in node.items()})
            else:
                raise ValueError("give a duration (2h) or a time (day 2 at 08:00)")
        except ValueError as exc:
            self.error(loc_of(node, m.loc), f"`wait`: {exc}")
            return None
        return d.WaitStep(wait=spec, **common)

    def build_branch(
        self, m: LDict, where: str, draft: StepDraft, common: dict[str, Any]
    ) -> d.Step | None:
        node = m.get("branches")
        if not isinstance(node, LList) or not node:
            self.error(
                loc_of(node, m.loc),
                f"{where} needs `branches`: a list of `if:`/`goto:` and an optional `else:`",
            )
            return None
        branches = []
        for item in node:
            loc = loc_of(item, node.loc)
            if not isinstance(item, LDict):
                self.error(loc, "a branch is `{if: CONDITION, goto: STEP}` or `{else: STEP}`")
                continue
            if "else" in item:
                self.unknown_keys(item, {"else"}, "an else branch")
                target = self.ref(draft.refs, item, "else")
                if target:
                    branches.append(d.Branch(None, target, loc.line))
                continue
            self.unknown_keys(item, {"if", "goto"}, "a branch")
            condition = self.text(item, "if", required=True, what="a branch")
            target = self.ref(draft.refs, item, "goto")
            if target is None:
                self.error(loc, "a branch needs `goto: STEP`")
            if condition is not None:
                draft.conditions.append((condition, loc_of(item["if"], loc)))
            if condition is not None and target is not None:
                branches.append(d.Branch(condition.strip(), target, loc.line))
        elses = [b for b in branches if b.condition is None]
        if len(elses) > 1 or (elses and branches[-1].condition is not None):
            self.error(node.loc, "only one `else`, and it must come last")
        return d.BranchStep(branches=tuple(branches), **common)

    def keyed(
        self, m: LDict, key: str, where: str, draft: StepDraft
    ) -> tuple[str, str, str | None]:
        name = (self.text(m, key, required=True, what=where) or key).strip()
        if not NAME_PATTERN.match(name):
            self.error(loc_of(m.get(key), m.loc), f"`{key}`: {name!r} must use a-z, 0-9 and _")
        title = self.template(draft, m, "title") or name.replace("_", " ").capitalize()
        return name, title, self.template(draft, m, "text")

    def build_goal(self, m: LDict, where: str, draft: StepDraft, common: dict[str, Any]) -> d.Step:
        goal, title, text = self.keyed(m, "goal", where, draft)
        action = self.one_of(m, "action", ("set", "complete"), "set")
        return d.GoalStep(goal=goal, title=title, text=text, action=cast(Any, action), **common)

    def build_habit(self, m: LDict, where: str, draft: StepDraft, common: dict[str, Any]) -> d.Step:
        habit, title, text = self.keyed(m, "habit", where, draft)
        action = self.one_of(m, "action", ("start", "stop"), "start")
        return d.HabitStep(habit=habit, title=title, text=text, action=cast(Any, action), **common)

    def build_badge(self, m: LDict, where: str, draft: StepDraft, common: dict[str, Any]) -> d.Step:
        badge, title, text = self.keyed(m, "badge", where, draft)
        when = self.text(m, "when")
        if when is not None:
            draft.conditions.append((when, loc_of(m["when"], m.loc)))
        return d.BadgeStep(badge=badge, title=title, text=text, when=when, **common)

    def build_end(self, m: LDict, where: str, draft: StepDraft, common: dict[str, Any]) -> d.Step:
        return d.EndStep(text=self.template(draft, m, "text") or None, **common)


def _options(choices: tuple[d.ProgramChoice, ...]) -> tuple[ChoiceOption, ...]:
    return tuple(ChoiceOption(c.label, c.value) for c in choices)


def _default_choices(answer: AnswerSpec) -> tuple[d.ProgramChoice, ...]:
    if answer.type == "yes_no":
        return (d.ProgramChoice("Yes", "yes"), d.ProgramChoice("No", "no"))
    return ()


def _media_kind(url: str) -> str:
    lowered = url.lower().split("?")[0]
    for kind, suffixes in {
        "image": (".png", ".jpg", ".jpeg", ".gif", ".webp"),
        "audio": (".mp3", ".ogg", ".m4a", ".wav"),
        "video": (".mp4", ".mov", ".webm"),
    }.items():
        if lowered.endswith(suffixes):
            return kind
    return "document"
