"""The example programs in programs/examples/: they validate, and a scripted run of each
reproduces its golden transcript in tests/programs/golden/, also when the runner state is
rebuilt from storage (JSON) after every event.

To regenerate a golden transcript after an intended change to a program, its answers or the
engine, run the simulation with the same zone, start and name as in EXAMPLES below, e.g.:

    coachbot program simulate programs/examples/sleep-reset.yaml \
        --answers tests/programs/golden/sleep-reset.answers.yaml \
        --tz Europe/Berlin --start 2026-03-24T19:30 --name Lena \
        > tests/programs/golden/sleep-reset.transcript.txt

then read the whole diff (`git diff tests/programs/golden/`) before committing it.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from programs.runner import EnrollmentState
from programs.simulate import Simulation, format_line, load_answers
from programs.validate import check_program, load_program

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "programs" / "examples"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


@dataclass(frozen=True)
class Example:
    slug: str
    zone: str
    start: str  # local wall time in `zone`, as passed to `--start`
    name: str

    @property
    def program_path(self) -> Path:
        return EXAMPLES_DIR / f"{self.slug}.yaml"

    @property
    def answers_path(self) -> Path:
        return GOLDEN_DIR / f"{self.slug}.answers.yaml"

    @property
    def transcript_path(self) -> Path:
        return GOLDEN_DIR / f"{self.slug}.transcript.txt"

    def command(self) -> str:
        return (
            f"coachbot program simulate {self.program_path.relative_to(ROOT)} "
            f"--answers {self.answers_path.relative_to(ROOT)} --tz {self.zone} "
            f"--start {self.start} --name {self.name} > {self.transcript_path.relative_to(ROOT)}"
        )


# Each crosses a DST change in the coachee's zone, so the golden files show 08:00 staying 08:00.
EXAMPLES = [
    Example("sleep-reset", "Europe/Berlin", "2026-03-24T19:30", "Lena"),
    Example("habit-builder", "Australia/Sydney", "2026-03-30T12:30", "Priya"),
    Example("beginner-5k", "America/New_York", "2026-10-28T18:00", "Marcus"),
]
BY_SLUG = pytest.mark.parametrize("example", EXAMPLES, ids=[e.slug for e in EXAMPLES])


def round_trip(state: EnrollmentState) -> EnrollmentState:
    """What storing the state in the database and loading it back does to it."""
    return EnrollmentState.from_json(json.loads(json.dumps(state.to_json())))


def transcript(example: Example, *, rebuild_state: bool = False) -> str:
    """The transcript `coachbot program simulate` prints for the example (same lines, same
    format), run in-process."""
    program = load_program(example.program_path.read_text(encoding="utf-8"))
    tz = ZoneInfo(example.zone)
    start = datetime.fromisoformat(example.start).replace(tzinfo=tz).astimezone(UTC)
    answers = iter(load_answers(example.answers_path.read_text("utf-8")))
    simulation = Simulation(
        program,
        tz=tz,
        start=start,
        name=example.name,
        round_trip=round_trip if rebuild_state else None,
    )
    lines = simulation.run(lambda: next(answers, None))
    return "".join(format_line(line, tz) + "\n" for line in lines)


def assert_matches_golden(example: Example, actual: str) -> None:
    expected = example.transcript_path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/{example.transcript_path.name}",
                tofile="this run",
            )
        )
        pytest.fail(
            f"the {example.slug} transcript differs from its golden file.\n{diff}\n"
            f"If the change is intended, regenerate it with:\n  {example.command()}",
            pytrace=False,
        )


def test_every_example_is_covered() -> None:
    assert sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml")) == sorted(e.slug for e in EXAMPLES)


@BY_SLUG
def test_example_validates(example: Example) -> None:
    program, problems = check_program(example.program_path.read_text(encoding="utf-8"))
    assert problems == []
    assert program is not None
    assert program.slug == example.slug


@BY_SLUG
def test_simulation_matches_golden_transcript(example: Example) -> None:
    actual = transcript(example)
    assert actual.rstrip().endswith("--: program completed"), "the run must reach the end"
    assert_matches_golden(example, actual)


@BY_SLUG
def test_state_rebuilt_from_storage_gives_the_same_transcript(example: Example) -> None:
    assert_matches_golden(example, transcript(example, rebuild_state=True))
