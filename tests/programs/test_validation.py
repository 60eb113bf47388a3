"""Program validation: every problem reported, each with the right line and a useful message."""

from __future__ import annotations

import json
import textwrap

import pytest

from programs.definition import CheckinStep, MessageStep, QuestionStep, WaitStep
from programs.validate import check_program, load_program

TEN_MISTAKES = """\
version: 1
slug: ten-mistakes
title: Ten mistakes
steps:
  - id: start
    kind: mesage
    text: hello
  - id: ask
    kind: question
    text: "How are you, {{ undefined_var }}?"
    answer: scael
  - id: later
    wait: day two at 08:00
  - id: pick
    kind: question
    text: Pick one
    answer: choice
    choices:
      - label: ""
      - {label: Fine, goto: done}
  - id: route
    kind: branch
    branches:
      - if: metrics.mood.last <
        goto: nowhere
      - else: spin
  - id: spin
    message: around
    next: spin2
  - id: spin2
    message: again
    next: spin
  - id: orphan
    message: nobody comes here
  - id: done
    kind: end
    txt: bye
"""

# (line, fragment of the message) for each of the ten mistakes above.
EXPECTED = [
    (6, "unknown step kind 'mesage'"),
    (10, "unknown name 'undefined_var' in template"),
    (11, "unknown answer type 'scael'"),
    (13, "`wait`: 'day two at 08:00'"),
    (19, "every choice needs a label"),
    (24, "condition syntax error"),
    (25, "points to step 'nowhere', which does not exist"),
    (27, "steps spin → spin2 → spin loop without ever waiting"),
    (33, "step 'orphan' can never be reached"),
    (37, "unknown field `txt` in end step 'done'"),
]


def test_ten_mistakes_give_ten_errors_with_their_lines() -> None:
    program, problems = check_program(TEN_MISTAKES)
    assert program is None
    got = [(p.line, p.message) for p in problems]
    assert len(got) == len(EXPECTED), "\n".join(f"{line}: {msg}" for line, msg in got)
    for line, fragment in EXPECTED:
        assert any(found_line == line and fragment in message for found_line, message in got), (
            f"expected line {line}: {fragment!r} in {got}"
        )


def program(steps: str, **top: str) -> str:
    header = {"version": "1", "slug": "t", "title": "T", **top}
    head = "".join(f"{k}: {v}\n" for k, v in header.items())
    return head + "steps:\n" + textwrap.indent(textwrap.dedent(steps).strip() + "\n", "  ")


@pytest.mark.parametrize(
    ("steps", "line", "fragment"),
    [
        ("- message: hi\n  next: nope", 6, "points to step 'nope'"),
        ("- message: hi\n- id: x\n  message: two\n  colour: red", 8, "unknown field `colour`"),
        ("- kind: question\n  text: hi", 5, "needs `answer`"),
        (
            "- kind: question\n  text: hi\n  answer: number 10-1",
            7,
            "`min` (10) must be below `max` (1)",
        ),
        (
            "- kind: question\n  text: hi\n  answer: {type: text, pattern: '('}",
            7,
            "not a valid regular expression",
        ),
        (
            "- kind: checkin\n  metric: mood\n  text: hi\n  answer: yes_no",
            8,
            "a check-in records a number",
        ),
        ("- wait: at 25:00", 5, "'25:00' is not a time of day"),
        ("- message: hi\n  media: ftp://x", 6, "media needs an http(s) `url`"),
        ("- id: a\n  message: hi\n- id: a\n  message: again", 7, "step id 'a' is used twice"),
        ("- message: '{% if %}'", 5, "template syntax error"),
        (
            "- kind: branch\n  branches:\n    - else: b\n    - if: 'true'\n      goto: b\n- id: b\n  end: x",
            7,
            "only one `else`, and it must come last",
        ),
        ("- kind: badge\n  badge: star\n  when: streaks.mood >>= 3", 7, "condition syntax error"),
        ("- message: hi\n  text: twice", 6, "give the text once"),
        (
            "- kind: question\n  text: hi\n  answer: text\n  store: contact",
            8,
            "is not a usable variable name",
        ),
        (
            "- kind: question\n  text: hi\n  answer: choice\n  choices: [A, a]",
            8,
            "two choices have the same value",
        ),
    ],
)
def test_each_kind_of_mistake(steps: str, line: int, fragment: str) -> None:
    _, problems = check_program(program(steps))
    assert any(p.line == line and fragment in p.message for p in problems), problems


def test_top_level_mistakes() -> None:
    source = (
        "version: 2\nslug: Not A Slug\ntitle: T\ntimezone: Mars/Base\ncatch_up: later\nsteps: []\n"
    )
    messages = [(p.line, p.message) for p in check_program(source)[1]]
    assert (1, "format version 2 is not supported: use 1") in messages
    assert any(line == 2 and "slug 'Not A Slug'" in m for line, m in messages)
    assert any(line == 4 and "unknown timezone 'Mars/Base'" in m for line, m in messages)
    assert any(
        line == 5 and "'later' is not one of deliver, skip, merge" in m for line, m in messages
    )
    assert any("needs `steps`" in m for _, m in messages)


def test_yaml_syntax_error_has_a_line() -> None:
    _, problems = check_program("slug: x\ntitle: [unclosed\nsteps:\n  - message: hi\n")
    assert len(problems) == 1
    assert problems[0].message.startswith("not valid YAML")
    assert problems[0].line >= 2


def test_yaml_11_traps_are_defused() -> None:
    """8:00 stays a time (not 480) and Yes/No/on stay labels (not booleans)."""
    loaded = load_program(
        program(
            """
            - kind: question
              text: Ready?
              answer: choice
              choices: [Yes, No, on]
            - wait: at 8:00
            - end: bye
            """
        )
    )
    question, wait = list(loaded.steps.values())[:2]
    assert isinstance(question, QuestionStep)
    assert [c.label for c in question.choices] == ["Yes", "No", "on"]
    assert isinstance(wait, WaitStep)
    assert wait.wait.at is not None
    assert wait.wait.at.hour == 8


def test_json_programs_are_accepted_with_lines() -> None:
    data = {
        "version": 1,
        "slug": "json-one",
        "title": "JSON",
        "steps": [{"message": "hi"}, {"kind": "checkin", "metric": "mood", "text": "1-10?"}],
    }
    loaded = load_program(json.dumps(data, indent=2))
    assert isinstance(loaded.steps["step-2"], CheckinStep)
    data["steps"].append({"kind": "nope"})  # type: ignore[attr-defined]
    _, problems = check_program(json.dumps(data, indent=2))
    assert problems[0].line > 1
    assert "unknown step kind 'nope'" in problems[0].message


def test_shorthand_defaults_and_implicit_next() -> None:
    loaded = load_program(
        program(
            """
            - message: one
            - id: q
              kind: question
              text: Sleep well?
              answer: yes_no
            - end: bye
            """
        )
    )
    first, question, end = loaded.steps.values()
    assert isinstance(first, MessageStep)
    assert first.next == "q"
    assert isinstance(question, QuestionStep)
    assert [c.label for c in question.choices] == ["Yes", "No"]  # yes/no gets buttons
    assert end.next is None


def test_a_loop_through_a_wait_is_fine() -> None:
    _, problems = check_program(
        program(
            """
            - id: tip
              message: Daily tip
            - wait: next day at 08:00
              next: tip
            """
        )
    )
    assert problems == []


def test_keywords_must_point_to_steps_and_avoid_reserved_words() -> None:
    source = program(
        "- message: hi\n- id: sos\n  message: help is here", keywords="{stop: sos, sos: nowhere}"
    )
    messages = [p.message for p in check_program(source)[1]]
    assert any("keyword 'stop' is reserved" in m for m in messages)
    assert any("`keywords` points to step 'nowhere'" in m for m in messages)


def test_variable_defaults_take_their_declared_type() -> None:
    loaded = load_program(
        program(
            "- message: '{{ held + 1 }} {{ ok }}'",
            variables="{held: {type: integer, default: 0}, ok: {type: boolean, default: yes}}",
        )
    )
    assert loaded.variables["held"].default == 0
    assert loaded.variables["ok"].default is True
    _, problems = check_program(
        program("- message: hi", variables="{held: {type: integer, default: lots}}")
    )
    assert any("default 'lots' is not a whole number" in p.message for p in problems)


def test_keywords_are_normalized_like_what_coachees_type() -> None:
    loaded = load_program(
        program(
            "- message: hi\n- id: sos\n  message: help", keywords='{"Can\'t sleep": sos, help: sos}'
        )
    )
    assert loaded.keywords == {"can t sleep": "sos", "help": "sos"}
    _, problems = check_program(program("- message: hi", keywords="{parar: step-1}"))
    assert any("keyword 'parar' is reserved" in p.message for p in problems)


def test_nudge_and_timeout_are_checked() -> None:
    source = program(
        "- kind: question\n  text: hi\n  answer: text\n  nudge: {text: again}\n"
        "  timeout: {after: 1d, then: nowhere}"
    )
    messages = [p.message for p in check_program(source)[1]]
    assert any("`nudge` needs `after`" in m for m in messages)
    assert any("`then` points to step 'nowhere'" in m for m in messages)


def test_programs_that_never_read_facts_are_marked_so() -> None:
    plain = load_program(program("- message: 'Hi {{ contact.first_name }}'\n- end: bye"))
    assert plain.uses_facts is False
    reads = load_program(program("- message: 'Streak {{ streaks.walk }}'\n- end: bye"))
    assert reads.uses_facts is True
    branch = load_program(
        program(
            "- kind: branch\n  branches:\n    - if: metrics.mood.last < 5\n      goto: x\n"
            "- id: x\n  end: bye"
        )
    )
    assert branch.uses_facts is True
    badge = load_program(program("- kind: badge\n  badge: first\n- end: bye"))
    assert badge.uses_facts is True
