"""Run a program on a fast-forward clock and write a timestamped transcript: what `coachbot
program simulate` prints and what the golden transcripts of the examples are made of.

Answers come from a list (one per prompt, in order) or are asked interactively. An answer may say
how long the coachee takes to reply (`{text: "7", after: 2d}`), which is how catch-up policies
are exercised. Waits are skipped to the moment they end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.markup import to_plain
from engine.types import OutboundMessage
from programs.definition import Program
from programs.facts import Facts
from programs.runner import ContactInfo, EnrollmentState, Outcome, Runner
from programs.timeexpr import Duration, local_instant, parse_duration

DEFAULT_REPLY_DELAY = timedelta(minutes=1)
MAX_EVENTS = 10_000


@dataclass(frozen=True)
class ScriptedAnswer:
    text: str
    after: Duration | timedelta | None = None  # how long the coachee takes (default a minute)


def load_answers(text: str) -> list[ScriptedAnswer]:
    """An answers file: a YAML list of strings or {text, after} mappings. Every scalar is read
    as written (YAML 1.1 would turn `yes` into True and `6:30` into 390)."""
    import yaml

    try:
        data = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 (BaseLoader builds no objects)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from None
    return scripted_answers(data)


def scripted_answers(data: Any) -> list[ScriptedAnswer]:
    """Answers from a parsed answers file: a list of strings or {text, after} mappings."""
    if not isinstance(data, list):
        raise ValueError("an answers file is a YAML list: one answer per question, in order")
    answers = []
    for index, item in enumerate(data, 1):
        if isinstance(item, dict):
            if "text" not in item:
                raise ValueError(f"answer {index}: a mapping needs `text` (and optionally `after`)")
            after = item.get("after")
            answers.append(
                ScriptedAnswer(str(item["text"]), parse_duration(str(after)) if after else None)
            )
        else:
            answers.append(ScriptedAnswer(str(item)))
    return answers


@dataclass
class Line:
    at: datetime
    speaker: str
    text: str


class Simulation:
    """One coachee going through a program. `ask(prompt_lines)` supplies the next answer or
    None to stop."""

    def __init__(
        self,
        program: Program,
        *,
        tz: ZoneInfo,
        start: datetime,
        name: str = "Sam",
        bot: str = "Coach",
        round_trip: Callable[[EnrollmentState], EnrollmentState] | None = None,
    ) -> None:
        self.runner = Runner(program, tz, ContactInfo(first_name=name, name=name))
        self.tz = tz
        self.now = start
        self.name = name
        self.bot = bot
        self.facts = Facts()
        self.lines: list[Line] = []
        # Tests pass a serialize/deserialize round trip here to prove that a run rebuilt from
        # stored state after every event is identical to an uninterrupted one.
        self.round_trip = round_trip or (lambda state: state)

    def _later(self, after: Duration | timedelta | None) -> datetime:
        """`now` plus a reply delay; a delay in days counts local calendar days (DST-safe)."""
        if after is None:
            return self.now + DEFAULT_REPLY_DELAY
        if isinstance(after, timedelta):
            return self.now + after
        local = self.now.astimezone(self.tz)
        moved = local_instant(local.date() + timedelta(days=after.days), local.time(), self.tz)
        return moved + timedelta(seconds=after.seconds)

    def _emit(self, outcome: Outcome) -> EnrollmentState:
        for message in outcome.messages:
            self.lines.append(Line(self.now, self.bot, render_message(message)))
        return self.round_trip(outcome.state)

    def run(self, next_answer: Callable[[], ScriptedAnswer | None]) -> Iterator[Line]:
        state = self._emit(self.runner.start(self.now, self.facts))
        shown = 0
        for _ in range(MAX_EVENTS):
            yield from self.lines[shown:]
            shown = len(self.lines)
            if state.status == "waiting_until" and state.wait_until is not None:
                self.now = max(self.now, state.wait_until)
                state = self._emit(self.runner.due(state, self.now, self.facts))
            elif state.status == "waiting_answer":
                answer = next_answer()
                if answer is None:
                    self.lines.append(Line(self.now, "--", "no more answers: stopped here"))
                    yield self.lines[-1]
                    return
                self.now = self._later(answer.after)
                self.lines.append(Line(self.now, self.name, answer.text))
                outcome = self.runner.answer(state, answer.text, None, self.now, self.facts)
                if not outcome.answered:
                    self.lines.append(
                        Line(
                            self.now,
                            self.bot,
                            "(a side question: answered from the knowledge base, then:)",
                        )
                    )
                    outcome.messages = self.runner.reprompt(state, self.now, self.facts)
                state = self._emit(outcome)
            else:
                yield from self.lines[shown:]
                self.lines.append(Line(self.now, "--", f"program {state.status}"))
                yield self.lines[-1]
                return
        raise RuntimeError("the simulation did not finish")


def render_message(message: OutboundMessage) -> str:
    text = to_plain(message.text) if message.text else ""
    for media in message.media:
        text += f"\n[{media.kind}: {media.url}]"
    if message.choices:
        text += "\n" + "  ".join(f"[{i}] {c.label}" for i, c in enumerate(message.choices, 1))
    return text


def format_line(line: Line, tz: ZoneInfo) -> str:
    local = line.at.astimezone(tz)
    stamp = local.strftime("%a %Y-%m-%d %H:%M %Z")
    body = line.text.replace("\n", "\n" + " " * (len(stamp) + len(line.speaker) + 4))
    return f"{stamp}  {line.speaker}: {body}"
