"""The program runner: a pure state machine over one enrollment.

Every entry point takes the enrollment state, the time (`now`, aware UTC) and the coachee's facts,
and returns a new state plus what to send, what to record and when to wake up. Nothing here does
I/O, so a run can be stopped after any event and rebuilt from stored state with the same result.

Catch-up: when a wait ends more than `late_after` ago (the coachee was away, the server was down)
the program's `catch_up` policy decides, and no policy sends a burst of stale messages:
- deliver: send the missed step now and shift the rest of the program by the whole days missed;
- skip: pass over what was missed (messages, questions, check-ins) up to the next wait that is
  still ahead; bookkeeping steps (goals, habits, badges) still apply;
- merge: like skip, but the missed messages arrive as one "while you were away" message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from engine.types import Choice, Media, OutboundMessage
from programs import definition as d
from programs.answers import AnswerSpec, ChoiceOption, InvalidAnswer, looks_like_question
from programs.answers import parse_answer as parse_typed_answer
from programs.facts import Facts, GoalRecord, HabitRecord
from programs.templating import evaluate, render
from programs.timeexpr import local_date, local_instant, resolve_wait

Status = Literal[
    "scheduled", "active", "waiting_answer", "waiting_until", "paused", "completed", "left"
]
MAX_STEPS_PER_EVENT = 500
PAYLOAD_PREFIX = "p:"


@dataclass
class EnrollmentState:
    """Everything the runner needs to continue, JSON-serializable via `to_json`."""

    status: Status
    cursor: str | None
    start_date: date  # local date of program day 1
    variables: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    day_offset: int = 0  # whole days the program was shifted by late deliveries
    wait_until: datetime | None = None
    occurrence: int = 0  # bumped at every wait: (enrollment, occurrence) keys one wake-up
    asked: int = 0  # bumped every time a question is put (a reprompt is the same ask)
    last_answer: Any = None
    paused_status: Status | None = None  # what to go back to on resume
    paused_reason: str | None = None  # "coachee", or "migration" (their step was removed)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["start_date"] = self.start_date.isoformat()
        data["wait_until"] = self.wait_until.isoformat() if self.wait_until else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnrollmentState:
        values = dict(data)
        values["start_date"] = date.fromisoformat(values["start_date"])
        if values.get("wait_until"):
            values["wait_until"] = datetime.fromisoformat(values["wait_until"])
        return cls(**values)


@dataclass(frozen=True)
class RecordMetric:
    metric: str
    value: float
    unit: str | None


@dataclass(frozen=True)
class LogHabit:
    habit: str


@dataclass(frozen=True)
class HabitChange:
    habit: str
    title: str
    active: bool


@dataclass(frozen=True)
class GoalChange:
    goal: str
    title: str
    status: str


@dataclass(frozen=True)
class AwardBadge:
    badge: str
    title: str


Effect = RecordMetric | LogHabit | HabitChange | GoalChange | AwardBadge


@dataclass
class Outcome:
    state: EnrollmentState
    messages: list[OutboundMessage] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    answered: bool = True  # False: the text was not an answer (e.g. a side question)

    @property
    def wakeup(self) -> datetime | None:
        return self.state.wait_until if self.state.status == "waiting_until" else None


@dataclass(frozen=True)
class ContactInfo:
    first_name: str | None = None
    name: str | None = None
    locale: str | None = None


class Runner:
    def __init__(self, program: d.Program, tz: ZoneInfo, contact: ContactInfo) -> None:
        self.program = program
        self.tz = tz
        self.contact = contact

    # -- entry points ----------------------------------------------------------------------

    def start(self, now: datetime, facts: Facts) -> Outcome:
        state = EnrollmentState(
            status="active", cursor=self.program.first, start_date=local_date(now, self.tz)
        )
        return self._walk(Outcome(state), now, facts)

    def answer(
        self,
        state: EnrollmentState,
        text: str | None,
        choice_payload: str | None,
        now: datetime,
        facts: Facts,
    ) -> Outcome:
        out = Outcome(dataclasses.replace(state))
        if state.status != "waiting_answer" or state.cursor is None:
            out.answered = False
            return out
        step = self.program.steps[state.cursor]
        assert isinstance(step, (d.MessageStep, d.AskingStep))
        value_payload = None
        if choice_payload is not None:
            prefix = f"{PAYLOAD_PREFIX}{step.id}:"
            if not choice_payload.startswith(prefix):
                out.messages.append(OutboundMessage("That button is from an earlier question."))
                out.messages += self._ask(step, out.state, now, facts)
                return out
            value_payload = choice_payload[len(prefix) :]
        spec = step.answer if isinstance(step, d.AskingStep) else _choice_spec(step.choices)
        if spec.type == "text" and value_payload is None and text and looks_like_question(text):
            out.answered = False  # "can I pick two habits?" asks rather than answers
            return out
        try:
            value = parse_typed_answer(spec, text, value_payload, local_date(now, self.tz))
        except InvalidAnswer as problem:
            if value_payload is None and text and looks_like_question(text):
                out.answered = False  # a side question: the caller answers it and re-asks
                return out
            return self._invalid(step, out, str(problem), now, facts)
        out.state.retries = 0
        out.state.last_answer = value
        goto = self._record(step, value, out, now, facts)
        out.state.cursor = goto or step.next
        out.state.status = "active"
        return self._walk(out, now, facts)

    def due(
        self, state: EnrollmentState, now: datetime, facts: Facts, *, force: bool = False
    ) -> Outcome:
        """The wake-up of a wait. Early calls do nothing unless `force` (fast-forward)."""
        out = Outcome(dataclasses.replace(state))
        if state.status != "waiting_until" or state.cursor is None or state.wait_until is None:
            return out
        if not force and now < state.wait_until:
            return out
        step = self.program.steps[state.cursor]
        out.state.status = "active"
        out.state.cursor = step.next
        out.state.wait_until = None
        if force and state.wait_until > now:
            # Fast-forward moves the program's calendar too, so `day` and "day N" waits follow.
            skipped = (local_date(state.wait_until, self.tz) - local_date(now, self.tz)).days
            out.state.day_offset -= max(0, skipped)
        late = not force and now - state.wait_until > self._late_after()
        if late:
            return self._catch_up(out, step.id, state.wait_until, now, facts)
        return self._walk(out, now, facts)

    def jump(self, state: EnrollmentState, step_id: str, now: datetime, facts: Facts) -> Outcome:
        if step_id not in self.program.steps:
            raise KeyError(f"no step {step_id!r} in program {self.program.slug!r}")
        out = Outcome(dataclasses.replace(state, status="active", cursor=step_id, retries=0))
        out.state.wait_until = None
        return self._walk(out, now, facts)

    def remind(
        self, state: EnrollmentState, asked: int, now: datetime, facts: Facts
    ) -> list[OutboundMessage]:
        """The question's nudge (or the question again) if ask number `asked` is still open."""
        if state.status != "waiting_answer" or state.asked != asked or state.cursor is None:
            return []
        step = self.program.steps[state.cursor]
        if isinstance(step, d.AskingStep) and step.nudge is not None and step.nudge.text:
            text = self._render(step.nudge.text, state, now, facts)
            return [self._message(text, (), step.choices, step.id)]
        return self.reprompt(state, now, facts)

    def expire(self, state: EnrollmentState, asked: int, now: datetime, facts: Facts) -> Outcome:
        """Ask number `asked` timed out unanswered: pause, or move on as the step says."""
        out = Outcome(dataclasses.replace(state))
        if state.status != "waiting_answer" or state.asked != asked or state.cursor is None:
            return out
        step = self.program.steps[state.cursor]
        if not isinstance(step, d.AskingStep) or step.timeout is None:
            return out
        if step.timeout.then == "pause":
            out.state.status, out.state.paused_status = "paused", "waiting_answer"
            out.state.paused_reason = "no_answer"
            return out
        out.state.status, out.state.retries, out.state.last_answer = "active", 0, None
        out.state.cursor = step.next if step.timeout.then == "next" else step.timeout.then
        return self._walk(out, now, facts)

    def reprompt(
        self, state: EnrollmentState, now: datetime, facts: Facts
    ) -> list[OutboundMessage]:
        """The pending question again (after a side question was answered)."""
        if state.status != "waiting_answer" or state.cursor is None:
            return []
        step = self.program.steps[state.cursor]
        assert isinstance(step, (d.MessageStep, d.AskingStep))
        return self._ask(step, state, now, facts)

    # -- walking ---------------------------------------------------------------------------

    def _walk(
        self,
        out: Outcome,
        now: datetime,
        facts: Facts,
        silent: bool = False,
        missed: list[str] | None = None,
    ) -> Outcome:
        state = out.state
        for _ in range(MAX_STEPS_PER_EVENT):
            if state.cursor is None:
                state.status = "completed"
                return out
            step = self.program.steps[state.cursor]
            if isinstance(step, d.WaitStep):
                due = resolve_wait(step.wait, now=now, tz=self.tz, program_start=self._start(state))
                if due > now:
                    if silent:
                        self._flush_missed(out, missed, now, facts)
                    state.status, state.wait_until = "waiting_until", due
                    state.occurrence += 1
                    return out
                state.cursor = step.next
                if now - due > self._late_after():
                    if not silent:
                        return self._catch_up(out, step.id, due, now, facts)
                elif silent:  # back on schedule: what comes next is sent as usual
                    self._flush_missed(out, missed, now, facts)
                    silent, missed = False, None
                continue
            if isinstance(step, d.EndStep):
                if silent:
                    self._flush_missed(out, missed, now, facts)
                if step.text:
                    out.messages.append(OutboundMessage(self._render(step.text, state, now, facts)))
                state.status, state.cursor = "completed", None
                return out
            if step.blocks:  # a question, a check-in or a message with buttons
                assert isinstance(step, (d.MessageStep, d.AskingStep))
                if silent:  # missed: not asked, and branches must not see an older answer
                    if missed is not None and isinstance(step, d.MessageStep):
                        missed.append(self._render(step.text, state, now, facts))
                    state.last_answer = None
                    state.cursor = step.next
                    continue
                out.messages += self._ask(step, state, now, facts)
                state.status, state.retries = "waiting_answer", 0
                state.asked += 1
                return out
            state.cursor = self._run_plain(step, out, now, facts, silent, missed)
        raise RuntimeError(
            f"program {self.program.slug!r} ran {MAX_STEPS_PER_EVENT} steps in a row"
        )

    def _run_plain(
        self,
        step: d.Step,
        out: Outcome,
        now: datetime,
        facts: Facts,
        silent: bool,
        missed: list[str] | None,
    ) -> str | None:
        state = out.state
        text: str | None = None
        if isinstance(step, d.MessageStep):
            text = self._render(step.text, state, now, facts)
            if not silent:
                out.messages.append(self._message(text, step.media, (), step.id))
                text = None
        elif isinstance(step, d.BranchStep):
            context = self._context(state, now, facts)
            for branch in step.branches:
                if branch.condition is None or evaluate(branch.condition, context):
                    return branch.goto
            return step.next
        elif isinstance(step, d.GoalStep):
            title = self._render(step.title, state, now, facts)
            status = "done" if step.action == "complete" else "open"
            self._apply(GoalChange(step.goal, title, status), out, now, facts)
            text = self._render(step.text, state, now, facts) if step.text else None
        elif isinstance(step, d.HabitStep):
            title = self._render(step.title, state, now, facts)
            self._apply(HabitChange(step.habit, title, step.action == "start"), out, now, facts)
            text = self._render(step.text, state, now, facts) if step.text else None
        elif isinstance(step, d.BadgeStep):
            holds = step.when is None or evaluate(step.when, self._context(state, now, facts))
            if holds and step.badge not in facts.badges:
                title = self._render(step.title, state, now, facts)
                self._apply(AwardBadge(step.badge, title), out, now, facts)
                text = self._render(step.text, state, now, facts) if step.text else None
        if text:
            if silent:
                if missed is not None:
                    missed.append(text)
            else:
                out.messages.append(OutboundMessage(text))
        return step.next

    def _catch_up(
        self, out: Outcome, wait_id: str, due: datetime, now: datetime, facts: Facts
    ) -> Outcome:
        """Continue after the wait `wait_id` ended `now - due` ago, by the catch-up policy."""
        state = out.state
        if self.program.catch_up == "deliver":
            # Shift the rest of the program by the whole days missed; if the wait's time of day
            # is still ahead today (a 21:00 step missed two days ago), wait for it.
            missed_days = max(0, (local_date(now, self.tz) - local_date(due, self.tz)).days)
            state.day_offset += missed_days
            local_due = due.astimezone(self.tz)
            shifted = local_instant(
                local_due.date() + timedelta(days=missed_days), local_due.time(), self.tz
            )
            if shifted > now:
                state.cursor, state.status, state.wait_until = wait_id, "waiting_until", shifted
                state.occurrence += 1
                return out
            return self._walk(out, now, facts)
        missed: list[str] | None = [] if self.program.catch_up == "merge" else None
        return self._walk(out, now, facts, silent=True, missed=missed)

    def _flush_missed(
        self, out: Outcome, missed: list[str] | None, now: datetime, facts: Facts
    ) -> None:
        if missed:
            body = "\n\n".join(missed)
            out.messages.append(OutboundMessage(f"While you were away:\n\n{body}"))
            missed.clear()

    # -- answers ---------------------------------------------------------------------------

    def _invalid(
        self,
        step: d.MessageStep | d.AskingStep,
        out: Outcome,
        problem: str,
        now: datetime,
        facts: Facts,
    ) -> Outcome:
        state = out.state
        state.retries += 1
        limit = step.retries if isinstance(step, d.AskingStep) else 2
        if state.retries > limit:
            state.retries = 0
            on_fail = step.on_fail if isinstance(step, d.AskingStep) else None
            state.cursor, state.status = on_fail or step.next, "active"
            out.messages.append(OutboundMessage("No problem, let's move on."))
            return self._walk(out, now, facts)
        reprompt = step.reprompt if isinstance(step, d.AskingStep) else None
        text = (
            self._render(reprompt, state, now, facts)
            if reprompt
            else f"Sorry, {_lower_first(problem)}"
        )
        out.messages.append(self._message(text, (), step.choices, step.id))
        return out

    def _record(
        self,
        step: d.MessageStep | d.AskingStep,
        value: Any,
        out: Outcome,
        now: datetime,
        facts: Facts,
    ) -> str | None:
        """Store a valid answer; return the step a picked choice jumps to, if any."""
        if isinstance(step, d.AskingStep):
            if step.store:
                out.state.variables[step.store] = value
            if isinstance(step, d.CheckinStep):
                self._apply(RecordMetric(step.metric, float(value), step.unit), out, now, facts)
            if step.habit and value is not False:
                self._apply(LogHabit(step.habit), out, now, facts)
        spec = step.answer if isinstance(step, d.AskingStep) else _choice_spec(step.choices)
        for choice in step.choices:
            if choice.value == value or _reads_as(spec, choice.value, now) == value:
                return choice.goto
        return None

    def _apply(self, effect: Effect, out: Outcome, now: datetime, facts: Facts) -> None:
        """Record an effect and update the in-memory facts, so later steps in the same event
        (a branch on the check-in just given) see it."""
        out.effects.append(effect)
        today = local_date(now, self.tz)
        if isinstance(effect, RecordMetric):
            facts.record_metric(effect.metric, effect.value, now, today)
        elif isinstance(effect, LogHabit):
            facts.log_habit(effect.habit, today)
        elif isinstance(effect, HabitChange):
            record = facts.habits.setdefault(effect.habit, HabitRecord(effect.title))
            record.title, record.active = effect.title, effect.active
        elif isinstance(effect, GoalChange):
            facts.goals[effect.goal] = GoalRecord(effect.title, effect.status)
        else:
            facts.badges[effect.badge] = effect.title

    # -- rendering -------------------------------------------------------------------------

    def _ask(
        self,
        step: d.MessageStep | d.AskingStep,
        state: EnrollmentState,
        now: datetime,
        facts: Facts,
    ) -> list[OutboundMessage]:
        text = self._render(step.text, state, now, facts)
        media = step.media if isinstance(step, d.MessageStep) else ()
        return [self._message(text, media, step.choices, step.id)]

    def _message(
        self,
        text: str,
        media: tuple[d.MediaRef, ...],
        choices: tuple[d.ProgramChoice, ...],
        step_id: str,
    ) -> OutboundMessage:
        return OutboundMessage(
            text=text,
            choices=tuple(Choice(c.label, f"{PAYLOAD_PREFIX}{step_id}:{c.value}") for c in choices),
            media=tuple(Media(m.kind, m.url, m.caption) for m in media),
        )

    def _render(self, source: str, state: EnrollmentState, now: datetime, facts: Facts) -> str:
        return render(source, self._context(state, now, facts))

    def _context(self, state: EnrollmentState, now: datetime, facts: Facts) -> dict[str, Any]:
        today = local_date(now, self.tz)
        variables = {name: spec.default for name, spec in self.program.variables.items()}
        variables.update(state.variables)
        first = self.contact.first_name or ""
        return {
            **variables,
            "vars": variables,
            "contact": {
                "first_name": first,
                "name": self.contact.name or first,
                "locale": self.contact.locale,
                "timezone": self.tz.key,
            },
            "day": (today - self._start(state)).days + 1,
            "program": {"title": self.program.title, "slug": self.program.slug},
            "answer": state.last_answer,
            "now": now.astimezone(self.tz),
            **facts.context(today),
        }

    def _start(self, state: EnrollmentState) -> date:
        return state.start_date + timedelta(days=state.day_offset)

    def _late_after(self) -> timedelta:
        late = self.program.late_after
        return timedelta(days=late.days, seconds=late.seconds)


def _choice_spec(choices: tuple[d.ProgramChoice, ...]) -> AnswerSpec:
    return AnswerSpec("choice", choices=tuple(ChoiceOption(c.label, c.value) for c in choices))


def _reads_as(spec: AnswerSpec, reply: str, now: datetime) -> Any:
    """The value a button's own value parses to (a Yes button of a yes/no question is True)."""
    try:
        return parse_typed_answer(spec, reply, None, now.date())
    except (InvalidAnswer, ValueError):
        return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text
