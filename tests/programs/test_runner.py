"""The runner as a pure state machine: answers, retries, choices, branches, badges, side
questions, waits in local time across DST, catch-up policies, and rebuilds from storage."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from programs.facts import Facts
from programs.runner import ContactInfo, EnrollmentState, Outcome, Runner
from programs.simulate import ScriptedAnswer, Simulation
from programs.validate import load_program

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def make(steps: str, **top: str) -> Runner:
    header = {"version": "1", "slug": "t", "title": "Test", **top}
    source = "".join(f"{k}: {v}\n" for k, v in header.items())
    source += "steps:\n" + textwrap.indent(textwrap.dedent(steps).strip() + "\n", "  ")
    return Runner(load_program(source), BERLIN, ContactInfo(first_name="Ana"))


def texts(outcome: Outcome) -> list[str]:
    return [m.text for m in outcome.messages]


NOW = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)  # Monday 09:00 in Berlin

QUIZ = """
- message: "Hi {{ contact.first_name }}!"
- id: hours
  kind: question
  text: How many hours did you sleep?
  answer: number 0-14
  store: hours
  retries: 1
  on_fail: fallback
- message: "Noted: {{ hours }} hours."
- end: Bye
- id: fallback
  end: Let's talk about it another time.
"""


def test_start_asks_and_a_valid_answer_moves_on() -> None:
    runner, facts = make(QUIZ), Facts()
    started = runner.start(NOW, facts)
    assert texts(started) == ["Hi Ana!", "How many hours did you sleep?"]
    assert started.state.status == "waiting_answer"
    done = runner.answer(started.state, "about 7.5", None, NOW, facts)
    assert texts(done) == ["Noted: 7.5 hours.", "Bye"]
    assert done.state.status == "completed"
    assert done.state.variables == {"hours": 7.5}


def test_invalid_answers_reprompt_then_go_to_on_fail() -> None:
    runner, facts = make(QUIZ), Facts()
    state = runner.start(NOW, facts).state
    first = runner.answer(state, "lots", None, NOW, facts)
    assert texts(first) == ["Sorry, please send a number from 0 to 14."]
    assert first.state.status == "waiting_answer"
    second = runner.answer(first.state, "twenty", None, NOW, facts)
    assert texts(second) == ["No problem, let's move on.", "Let's talk about it another time."]
    assert second.state.status == "completed"


def test_a_side_question_is_not_an_answer_and_keeps_the_place() -> None:
    runner, facts = make(QUIZ), Facts()
    state = runner.start(NOW, facts).state
    side = runner.answer(state, "What should I eat before bed?", None, NOW, facts)
    assert side.answered is False
    assert side.state == state  # nothing consumed, no retry counted
    assert texts(Outcome(state, runner.reprompt(state, NOW, facts))) == [
        "How many hours did you sleep?"
    ]


CHOICES = """
- id: feel
  kind: question
  text: How do you feel?
  answer: yes_no
  choices:
    - {label: Great, value: "yes", goto: happy}
    - {label: Not great, value: "no", goto: sad}
- id: happy
  end: Wonderful!
- id: sad
  end: Sorry to hear that.
"""


def test_buttons_carry_payloads_and_gotos_follow_the_pick() -> None:
    runner, facts = make(CHOICES), Facts()
    started = runner.start(NOW, facts)
    payloads = [c.payload for c in started.messages[0].choices]
    assert payloads == ["p:feel:yes", "p:feel:no"]
    assert texts(runner.answer(started.state, "Not great", "p:feel:no", NOW, facts)) == [
        "Sorry to hear that."
    ]
    assert texts(runner.answer(started.state, "yes", None, NOW, facts)) == ["Wonderful!"]


def test_a_stale_button_is_refused_and_the_question_asked_again() -> None:
    runner, facts = make(CHOICES), Facts()
    state = runner.start(NOW, facts).state
    stale = runner.answer(state, "Maybe", "p:old-question:maybe", NOW, facts)
    assert texts(stale) == ["That button is from an earlier question.", "How do you feel?"]
    assert stale.state.status == "waiting_answer"


DAILY_MOOD = """
- id: mood
  kind: checkin
  metric: mood
  text: "Day {{ day }}: mood 1-10?"
- kind: branch
  branches:
    - if: metrics.mood.last < 5
      goto: low
- kind: badge
  badge: three_days
  title: Three days in a row
  when: streaks.mood >= 3
  text: "Badge: {{ badges.three_days }}!"
- id: wait
  wait: next day at 08:00
  next: mood
- id: low
  message: "Only {{ metrics.mood.last | int }}? Be kind to yourself today."
  next: wait
"""


def test_checkins_feed_branches_streaks_and_a_badge_once() -> None:
    runner, facts = make(DAILY_MOOD), Facts()
    outcome = runner.start(NOW, facts)
    said: list[str] = []
    now = NOW
    for answer in ["7", "3", "8", "9"]:
        outcome = runner.answer(outcome.state, answer, None, now, facts)
        said += texts(outcome)
        assert outcome.wakeup is not None
        now = outcome.wakeup
        outcome = runner.due(outcome.state, now, facts)
        said += texts(outcome)
    assert "Only 3? Be kind to yourself today." in said
    assert said.count("Badge: Three days in a row!") == 1
    assert [p.value for p in facts.metrics["mood"]] == [7, 3, 8, 9]
    assert said[-1] == "Day 5: mood 1-10?"


def test_a_wait_ends_at_the_local_time_and_early_wake_ups_do_nothing() -> None:
    runner, facts = make("- message: hi\n- wait: day 3 at 08:00\n- end: Day three!"), Facts()
    waiting = runner.start(NOW, facts)
    assert waiting.wakeup == datetime(2026, 5, 6, 6, 0, tzinfo=UTC)  # 08:00 CEST
    early = runner.due(waiting.state, waiting.wakeup - timedelta(minutes=1), facts)
    assert early.messages == []
    assert early.state == waiting.state
    assert texts(runner.due(waiting.state, waiting.wakeup, facts)) == ["Day three!"]


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        (NEW_YORK, date(2026, 3, 1)),  # spring forward on 8 March
        (NEW_YORK, date(2026, 10, 20)),  # fall back on 1 November
        (BERLIN, date(2026, 3, 20)),  # 29 March
        (BERLIN, date(2026, 10, 15)),  # 25 October
    ],
)
def test_a_daily_0800_step_fires_at_0800_local_every_day_once_across_dst(
    zone: ZoneInfo, start: date
) -> None:
    program = load_program(
        "version: 1\nslug: d\ntitle: Daily\nsteps:\n"
        "  - id: tip\n    message: Good morning\n"
        "  - wait: next day at 08:00\n    next: tip\n"
    )
    runner, facts = Runner(program, zone, ContactInfo()), Facts()
    now = datetime.combine(start, datetime.min.time(), zone).replace(hour=9).astimezone(UTC)
    outcome = runner.start(now, facts)
    fired: list[datetime] = []
    for _ in range(30):
        assert outcome.wakeup is not None
        now = outcome.wakeup
        outcome = runner.due(outcome.state, now, facts)
        assert texts(outcome) == ["Good morning"]
        fired.append(now.astimezone(zone))
    assert all((t.hour, t.minute) == (8, 0) for t in fired)
    days = Counter(t.date() for t in fired)
    assert max(days.values()) == 1
    assert sorted(days) == [start + timedelta(days=n) for n in range(1, 31)]


WEEK = """
- message: Welcome
- wait: day 2 at 08:00
- message: Day two
- wait: day 3 at 08:00
- message: Day three
- wait: day 4 at 08:00
- message: Day four
- end: Done
"""


def run_late(policy: str) -> tuple[list[str], Outcome]:
    """Welcome on day 1, then nothing is delivered until day 3 at 18:00 (server down)."""
    runner, facts = make(WEEK, catch_up=policy), Facts()
    outcome = runner.start(NOW, facts)
    late = datetime(2026, 5, 6, 16, 0, tzinfo=UTC)  # day 3, 18:00 in Berlin
    outcome = runner.due(outcome.state, late, facts)
    return texts(outcome), outcome


def test_catch_up_deliver_sends_the_missed_step_and_shifts_the_rest() -> None:
    said, outcome = run_late("deliver")
    assert said == ["Day two"]  # one message, not a burst
    assert outcome.wakeup == datetime(2026, 5, 7, 6, 0, tzinfo=UTC)  # "day 3" is now tomorrow
    assert outcome.state.day_offset == 1  # day 2 happened one local day late


def test_catch_up_skip_passes_over_what_was_missed() -> None:
    said, outcome = run_late("skip")
    assert said == []
    assert outcome.wakeup == datetime(2026, 5, 7, 6, 0, tzinfo=UTC)  # day 4 at 08:00, on time


def test_catch_up_merge_sends_one_message_with_what_was_missed() -> None:
    said, outcome = run_late("merge")
    assert said == ["While you were away:\n\nDay two\n\nDay three"]
    assert outcome.wakeup == datetime(2026, 5, 7, 6, 0, tzinfo=UTC)


def test_a_little_late_is_still_on_time() -> None:
    runner, facts = make(WEEK, late_after="2h"), Facts()
    outcome = runner.start(NOW, facts)
    assert outcome.wakeup is not None
    outcome = runner.due(outcome.state, outcome.wakeup + timedelta(minutes=90), facts)
    assert texts(outcome) == ["Day two"]
    assert outcome.state.day_offset == 0


def test_keyword_jump_and_forced_due() -> None:
    runner, facts = (
        make(WEEK + "- id: sos\n  end: Here is some help.", keywords="{sos: sos}"),
        Facts(),
    )
    outcome = runner.start(NOW, facts)
    assert texts(runner.jump(outcome.state, "sos", NOW, facts)) == ["Here is some help."]
    assert texts(runner.due(outcome.state, NOW, facts, force=True)) == ["Day two"]


def test_state_survives_json_at_every_event() -> None:
    """Rebuilding the runner state from its stored form after every event changes nothing."""
    program = load_program(
        "version: 1\nslug: all\ntitle: All kinds\nsteps:\n"
        + textwrap.indent(textwrap.dedent(DAILY_MOOD).strip() + "\n", "  ")
    )
    answers = ["5", "what helps with stress?", "2", "x", "8", "9", "10"]

    def run(round_trip: bool) -> list[tuple[datetime, str, str]]:
        queue = iter(ScriptedAnswer(a, timedelta(minutes=5)) for a in answers)
        simulation = Simulation(
            program,
            tz=NEW_YORK,
            start=datetime(2026, 3, 6, 14, 0, tzinfo=UTC),
            round_trip=(
                (lambda s: EnrollmentState.from_json(json.loads(json.dumps(s.to_json()))))
                if round_trip
                else None
            ),
        )
        return [
            (line.at, line.speaker, line.text) for line in simulation.run(lambda: next(queue, None))
        ]

    uninterrupted = run(round_trip=False)
    assert len(uninterrupted) > 15
    assert run(round_trip=True) == uninterrupted


def test_fast_forward_moves_the_program_calendar() -> None:
    runner, facts = (
        make("- id: tip\n  message: 'Day {{ day }}'\n- wait: next day at 08:00\n  next: tip"),
        Facts(),
    )
    outcome = runner.start(NOW, facts)
    for expected in ("Day 2", "Day 3"):
        outcome = runner.due(outcome.state, NOW, facts, force=True)  # /skipwait, same real day
        assert texts(outcome) == [expected]


def test_deliver_waits_for_the_time_of_day_when_it_is_still_ahead() -> None:
    runner, facts = make("- message: hi\n- wait: day 2 at 21:00\n- end: Evening nudge"), Facts()
    outcome = runner.start(NOW, facts)
    noon_two_days_later = datetime(2026, 5, 7, 10, 0, tzinfo=UTC)  # 12:00 in Berlin, day 4
    late = runner.due(outcome.state, noon_two_days_later, facts)
    assert texts(late) == []  # not at noon …
    assert late.wakeup == datetime(2026, 5, 7, 19, 0, tzinfo=UTC)  # … at 21:00 the same day
    assert texts(runner.due(late.state, late.wakeup, facts)) == ["Evening nudge"]


def test_a_question_in_reply_to_a_free_text_question_is_a_side_question() -> None:
    runner = make(
        "- kind: question\n  text: Which habit?\n  answer: text\n  store: habit\n- end: 'Habit: {{ habit }}'"
    )
    facts = Facts()
    state = runner.start(NOW, facts).state
    assert runner.answer(state, "Can I pick two habits?", None, NOW, facts).answered is False
    assert texts(runner.answer(state, "Reading before bed", None, NOW, facts)) == [
        "Habit: Reading before bed"
    ]


def test_skipped_questions_leave_no_stale_answer_for_branches() -> None:
    source = """
    - kind: question
      text: First?
      answer: yes_no
    - wait: day 2 at 08:00
    - kind: question
      text: Second?
      answer: yes_no
    - kind: branch
      branches:
        - if: answer
          goto: yes
    - id: no
      end: No branch
    - id: yes
      end: Yes branch
    """
    runner, facts = make(source, catch_up="skip"), Facts()
    outcome = runner.answer(runner.start(NOW, facts).state, "yes", None, NOW, facts)
    late = runner.due(outcome.state, datetime(2026, 5, 8, 8, 0, tzinfo=UTC), facts)
    assert texts(late) == ["No branch"]  # "Second?" was missed: no answer, not the first one's
