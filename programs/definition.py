"""A parsed, validated program: what the runner executes. Built by `programs.parse`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from programs.answers import AnswerSpec
from programs.timeexpr import Duration, WaitSpec

FORMAT_VERSION = 1
CatchUp = Literal["deliver", "skip", "merge"]
VariableType = Literal["text", "number", "integer", "boolean", "time", "date"]


@dataclass(frozen=True)
class ProgramChoice:
    """A button on a message or question; `goto` sends the program to another step."""

    label: str
    value: str
    goto: str | None = None


@dataclass(frozen=True)
class MediaRef:
    kind: str  # image | audio | video | document
    url: str
    caption: str | None = None


@dataclass(frozen=True, kw_only=True)
class Step:
    id: str
    line: int
    next: str | None = None  # the step that follows (explicit `next`, else the one below)

    @property
    def kind(self) -> str:
        return STEP_KINDS_BY_CLASS[type(self)]

    @property
    def blocks(self) -> bool:
        """Whether the runner stops here until an answer or a time arrives."""
        return False


@dataclass(frozen=True, kw_only=True)
class MessageStep(Step):
    text: str
    media: tuple[MediaRef, ...] = ()
    choices: tuple[ProgramChoice, ...] = ()  # with choices, the message waits for a pick

    @property
    def blocks(self) -> bool:
        return bool(self.choices)


@dataclass(frozen=True)
class Nudge:
    """If the question is still unanswered `after` it was asked, send `text` (default: the
    question again)."""

    after: Duration
    text: str | None = None


@dataclass(frozen=True)
class Timeout:
    """If the question is still unanswered `after` it was asked: pause the enrollment, move on
    to the next step, or go to a step."""

    after: Duration
    then: str  # "pause" | "next" | a step id


@dataclass(frozen=True, kw_only=True)
class AskingStep(Step):
    """A step that asks and waits for a valid answer (questions and check-ins)."""

    text: str
    answer: AnswerSpec
    choices: tuple[ProgramChoice, ...] = ()
    store: str | None = None  # variable to keep the answer in
    reprompt: str | None = None
    retries: int = 2  # re-asks after an invalid answer before `on_fail`
    on_fail: str | None = None  # step after too many invalid answers (None: the next step)
    habit: str | None = None  # a valid answer logs this habit for today (yes/no: when yes)
    nudge: Nudge | None = None
    timeout: Timeout | None = None

    @property
    def blocks(self) -> bool:
        return True


@dataclass(frozen=True, kw_only=True)
class QuestionStep(AskingStep):
    pass


@dataclass(frozen=True, kw_only=True)
class CheckinStep(AskingStep):
    metric: str
    unit: str | None = None


@dataclass(frozen=True, kw_only=True)
class WaitStep(Step):
    wait: WaitSpec

    @property
    def blocks(self) -> bool:
        return True


@dataclass(frozen=True)
class Branch:
    condition: str | None  # None: the `else` branch
    goto: str
    line: int


@dataclass(frozen=True, kw_only=True)
class BranchStep(Step):
    branches: tuple[Branch, ...]


@dataclass(frozen=True, kw_only=True)
class GoalStep(Step):
    goal: str
    title: str
    action: Literal["set", "complete"] = "set"
    text: str | None = None


@dataclass(frozen=True, kw_only=True)
class HabitStep(Step):
    habit: str
    title: str
    action: Literal["start", "stop"] = "start"
    text: str | None = None


@dataclass(frozen=True, kw_only=True)
class BadgeStep(Step):
    badge: str
    title: str
    when: str | None = None  # condition; None: always awarded when reached
    text: str | None = None  # sent when the badge is awarded


@dataclass(frozen=True, kw_only=True)
class EndStep(Step):
    text: str | None = None


STEP_CLASSES: dict[str, type[Step]] = {
    "message": MessageStep,
    "question": QuestionStep,
    "checkin": CheckinStep,
    "wait": WaitStep,
    "branch": BranchStep,
    "goal": GoalStep,
    "habit": HabitStep,
    "badge": BadgeStep,
    "end": EndStep,
}
STEP_KINDS_BY_CLASS = {cls: kind for kind, cls in STEP_CLASSES.items()}


@dataclass(frozen=True)
class VariableSpec:
    name: str
    type: VariableType
    default: str | int | float | bool | None = None


@dataclass(frozen=True)
class Program:
    slug: str
    title: str
    description: str
    steps: dict[str, Step]  # in file order; the first is where the program starts
    timezone: str | None = None  # None: each coachee's own timezone
    catch_up: CatchUp = "deliver"
    late_after: Duration = field(default_factory=lambda: Duration(seconds=3600))
    variables: dict[str, VariableSpec] = field(default_factory=dict)
    keywords: dict[str, str] = field(default_factory=dict)  # normalized word → step id
    whatsapp_reask: bool = False  # re-ask a pending question before WhatsApp's window closes
    # Whether any template or condition reads the coachee's facts (metrics, streaks, habits,
    # goals, badges) or a badge step checks them: if not, a turn need not load them.
    uses_facts: bool = True

    @property
    def first(self) -> str:
        return next(iter(self.steps))

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]
