"""What a coachee has done: check-in time series, habits, goals, badges, and the streaks computed
from them, as the runner, templates and branches see them.

Streaks count local calendar days (each record carries the coachee's local date), so a check-in
at 23:30 in Tokyo and one at 07:00 the next morning are two days, whatever UTC says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any


@dataclass(frozen=True)
class MetricPoint:
    at: datetime
    local_date: date
    value: float


@dataclass
class HabitRecord:
    title: str
    active: bool = True
    days: set[date] = field(default_factory=set)


@dataclass
class GoalRecord:
    title: str
    status: str = "open"  # open | done


def streak(days: Iterable[date], today: date) -> int:
    """Consecutive days ending today, or ending yesterday if today is not logged yet (the
    streak is still alive until the day is over)."""
    logged = set(days)
    cursor = today if today in logged else today - timedelta(days=1)
    count = 0
    while cursor in logged:
        count += 1
        cursor -= timedelta(days=1)
    return count


class _EmptyDefault(dict[str, Any]):
    """A mapping whose unknown keys read as an empty default (so `metrics.weight.count` is 0
    before the first weigh-in instead of an error)."""

    def __init__(self, data: dict[str, Any], empty: Any) -> None:
        super().__init__(data)
        self._empty = empty

    def __missing__(self, key: str) -> Any:
        return self._empty


def _number(value: float) -> float | int:
    """7.0 reads as 7 in a message; 7.5 stays 7.5."""
    return int(value) if float(value).is_integer() else value


def metric_view(points: list[MetricPoint], today: date) -> SimpleNamespace:
    """What templates see as `metrics.<name>`: attributes, so `values` is the series (a dict's
    `.values` would be its method)."""
    values = [_number(p.value) for p in points]
    recent = [p.value for p in points if p.local_date > today - timedelta(days=7)]
    todays = [p.value for p in points if p.local_date == today]
    return SimpleNamespace(
        last=values[-1] if values else None,
        previous=values[-2] if len(values) > 1 else None,
        today=_number(todays[-1]) if todays else None,
        count=len(values),
        avg=sum(values) / len(values) if values else None,
        avg7=sum(recent) / len(recent) if recent else None,
        min=min(values) if values else None,
        max=max(values) if values else None,
        trend=_number(values[-1] - values[-2]) if len(values) > 1 else None,
        values=values,
    )


@dataclass
class Facts:
    metrics: dict[str, list[MetricPoint]] = field(default_factory=dict)
    habits: dict[str, HabitRecord] = field(default_factory=dict)
    goals: dict[str, GoalRecord] = field(default_factory=dict)
    badges: dict[str, str] = field(default_factory=dict)  # key → title

    def record_metric(self, metric: str, value: float, at: datetime, local_date: date) -> None:
        self.metrics.setdefault(metric, []).append(MetricPoint(at, local_date, value))

    def log_habit(self, habit: str, local_date: date) -> None:
        self.habits.setdefault(habit, HabitRecord(title=habit.replace("_", " "))).days.add(
            local_date
        )

    def streaks(self, today: date) -> dict[str, int]:
        result = {
            name: streak((p.local_date for p in points), today)
            for name, points in self.metrics.items()
        }
        result.update({name: streak(h.days, today) for name, h in self.habits.items()})
        return _EmptyDefault(result, 0)

    def context(self, today: date) -> dict[str, Any]:
        """The part of the template context that comes from facts."""
        return {
            "metrics": _EmptyDefault(
                {name: metric_view(points, today) for name, points in self.metrics.items()},
                metric_view([], today),
            ),
            "streaks": self.streaks(today),
            "habits": {
                name: SimpleNamespace(
                    title=h.title, active=h.active, days=len(h.days), done_today=today in h.days
                )
                for name, h in self.habits.items()
            },
            "goals": {
                name: SimpleNamespace(title=g.title, status=g.status)
                for name, g in self.goals.items()
            },
            "badges": dict(self.badges),
        }
