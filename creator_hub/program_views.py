"""What the program editor shows next to the YAML: the source with problems under their lines,
a structured outline of the steps, and a simulated chat on a fast-forward clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from programs import definition as d
from programs.parse import Problem
from programs.simulate import ScriptedAnswer, Simulation
from programs.validate import check_program

MAX_SIM_LINES = 400


@dataclass
class SourceLine:
    number: int
    text: str
    problems: list[str]


def annotate(source: str, problems: list[Problem]) -> list[SourceLine]:
    by_line: dict[int, list[str]] = {}
    for p in problems:
        by_line.setdefault(p.line, []).append(f"col {p.column}: {p.message}")
    lines = source.splitlines() or [""]
    return [SourceLine(i, text, by_line.get(i, [])) for i, text in enumerate(lines, 1)]


def _wait(spec: Any) -> str:
    if spec.kind == "duration":
        return f"wait {spec.duration}"
    at = spec.at.strftime("%H:%M") if spec.at else ""
    if spec.kind == "day_at":
        return f"wait until day {spec.day} at {at}"
    if spec.kind == "days_at":
        return f"wait {spec.days} day(s), then {at}"
    return f"wait until {at}"


def outline(program: d.Program) -> list[dict[str, Any]]:
    """One entry per step: id, kind, what it says or does, and where it goes."""
    out = []
    for step in program.steps.values():
        summary = ""
        if isinstance(step, d.MessageStep | d.AskingStep):
            summary = step.text
        elif isinstance(step, d.WaitStep):
            summary = _wait(step.wait)
        elif isinstance(step, d.BranchStep):
            summary = "; ".join(
                f"if {b.condition} → {b.goto}" if b.condition else f"else → {b.goto}"
                for b in step.branches
            )
        elif isinstance(step, d.HabitStep | d.GoalStep | d.BadgeStep):
            summary = step.title
        elif isinstance(step, d.EndStep):
            summary = step.text or "end"
        choices = [c.label for c in getattr(step, "choices", ())]
        out.append(
            {
                "id": step.id,
                "kind": step.kind,
                "line": step.line,
                "summary": summary[:200],
                "choices": choices,
                "next": step.next,
                "metric": getattr(step, "metric", None),
            }
        )
    return out


def examples() -> dict[str, str]:
    folder = resources.files("programs") / "examples"
    return {
        entry.name.removesuffix(".yaml"): entry.read_text()
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


BLANK = """version: 1
slug: my-program
title: My program
steps:
  - message: "Hi {{ contact.first_name }}! Welcome to my program."
  - id: morning
    wait: at 08:00
  - id: mood
    kind: checkin
    text: How do you feel this morning, from 1 to 10?
    metric: mood
  - end: "Thanks! See you tomorrow."
"""


@dataclass
class Simulated:
    lines: list[tuple[str, str, str]]  # (local time, speaker, text)
    waiting: bool  # the program waits for the next answer
    problems: list[Problem]


def simulate(source: str, answers: list[str], tz_name: str, start: datetime) -> Simulated:
    """Run the program from the start with these answers in order (each a minute after the
    question; waits are skipped to when they end)."""
    program, problems = check_program(source)
    if program is None:
        return Simulated([], False, problems)
    try:
        tz = ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    pending = [ScriptedAnswer(a) for a in answers]
    sim = Simulation(program, tz=tz, start=start, name="Sam", bot="Coach")
    waiting = False

    def next_answer() -> ScriptedAnswer | None:
        nonlocal waiting
        if pending:
            return pending.pop(0)
        waiting = True
        return None

    lines = []
    for line in sim.run(next_answer):
        if line.speaker == "--" and waiting:
            break
        stamp = line.at.astimezone(tz).strftime("%a %d %b %H:%M")
        lines.append((stamp, line.speaker, line.text))
        if len(lines) >= MAX_SIM_LINES:
            break
    return Simulated(lines, waiting, [])
