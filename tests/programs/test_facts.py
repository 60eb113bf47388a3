"""Streaks count the coachee's local days, not UTC days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from programs.facts import Facts, streak
from programs.timeexpr import local_date

TOKYO = ZoneInfo("Asia/Tokyo")


def test_streak_counts_consecutive_local_days_and_survives_until_the_day_ends() -> None:
    days = [date(2026, 5, d) for d in (1, 2, 3, 5, 6)]
    assert streak(days, date(2026, 5, 6)) == 2
    assert streak(days, date(2026, 5, 7)) == 2  # today not logged yet: still alive
    assert streak(days, date(2026, 5, 8)) == 0  # a whole day missed
    assert streak([], date(2026, 5, 8)) == 0


def test_checkins_late_at_night_and_early_morning_in_tokyo_are_two_days() -> None:
    """23:30 and 07:00 the next morning in Tokyo fall on the same UTC date, but they are two
    local days: a 2-day streak, not 1."""
    facts = Facts()
    for moment in (
        datetime(2026, 5, 1, 14, 30, tzinfo=UTC),
        datetime(2026, 5, 1, 22, 0, tzinfo=UTC),
    ):
        facts.record_metric("mood", 7, moment, local_date(moment, TOKYO))
    assert {p.at.date() for p in facts.metrics["mood"]} == {date(2026, 5, 1)}
    assert facts.streaks(date(2026, 5, 2))["mood"] == 2


def test_context_views_of_metrics_and_unknown_names() -> None:
    facts = Facts()
    for day, value in [(1, 4.0), (2, 6.0), (3, 8.0)]:
        facts.record_metric(
            "mood", value, datetime(2026, 5, day, 8, tzinfo=UTC), date(2026, 5, day)
        )
    context = facts.context(date(2026, 5, 3))
    mood = context["metrics"]["mood"]
    assert (mood.last, mood.previous, mood.trend, mood.avg) == (8, 6, 2, 6.0)
    assert mood.values == [4, 6, 8]  # whole numbers read as whole numbers in messages
    assert mood.today == 8
    assert context["metrics"]["weight"].count == 0  # unknown metric: empty, not an error
    assert context["streaks"]["mood"] == 3
    assert context["streaks"]["anything"] == 0
