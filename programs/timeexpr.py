"""Durations, times of day and the `wait` steps of programs, resolved in the coachee's timezone.

A program says "day 3 at 08:00" or "next day at 08:00" and means 08:00 on the coachee's own wall
clock, whatever the UTC offset is that day. Calendar days are therefore counted on the local
calendar and turned into a UTC instant only at the end (`local_instant`), so a DST change never
moves 08:00 nor skips or repeats a day. Absolute amounts ("2h", "90 minutes") stay absolute.

Everything here is pure: "now", the timezone and the program's start date are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

_DURATION_HELP = "use e.g. 30m, 2h, 1d or 1d 2h"
_TIME_HELP = "use HH:MM, e.g. 08:00"
_WAIT_HELP = (
    "use a duration (e.g. 2h, 1d 2h), 'at 20:30', 'day 3 at 08:00', 'next day at 08:00' "
    "or '3 days at 08:00'"
)


@dataclass(frozen=True)
class Duration:
    days: int = 0  # calendar days in local time
    seconds: int = 0  # absolute seconds

    def __post_init__(self) -> None:
        if self.days < 0 or self.seconds < 0:
            raise ValueError(f"a duration cannot be negative: {self!r}")

    def __str__(self) -> str:
        """The canonical spelling, which `parse_duration` reads back: "1d 2h30m", "45s"."""
        hours, rest = divmod(self.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        clock = "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n)
        return " ".join(p for p in (f"{self.days}d" if self.days else "", clock) if p) or "0s"


_UNITS: dict[str, tuple[str, int]] = {}  # spelling -> (canonical unit, its size)
for _names, _unit, _size in (
    ("w week weeks", "w", 7),
    ("d day days", "d", 1),
    ("h hr hrs hour hours", "h", 3600),
    ("m min mins minute minutes", "m", 60),
    ("s sec secs second seconds", "s", 1),
):
    _UNITS.update(dict.fromkeys(_names.split(), (_unit, _size)))

_PART = re.compile(r"(\d{1,6})\s*([a-z]+)")  # up to 999999 of a unit
_JOINERS = re.compile(r"\s*(?:,|\band\b)\s*")


def parse_duration(text: str) -> Duration:
    """ "2h", "30m", "45s", "1d", "1d 2h", "3 days", "90 minutes", "1h30m", "2 hours 15 minutes".

    Days (and weeks, 7 days) are calendar days on the local clock; hours, minutes and seconds are
    absolute. Each unit may appear once; the total must be positive. Raises ValueError otherwise.
    """
    raw = text.strip()
    s = _JOINERS.sub(" ", raw.lower()).strip()
    if s.startswith("-"):
        raise ValueError(f"'{raw}' is not a duration: durations must be positive, e.g. 30m or 2h")
    if re.search(r"\d[.,]\d", raw):
        raise ValueError(
            f"'{raw}' is not a duration: use whole numbers, e.g. 1h30m rather than 1.5h"
        )
    days = seconds = 0
    seen: set[str] = set()
    pos = 0
    for match in _PART.finditer(s):
        unit = _UNITS.get(match.group(2))
        if s[pos : match.start()].strip() or unit is None:
            break
        if unit[0] in seen:
            raise ValueError(f"'{raw}' is not a duration: it gives the {unit[0]} unit twice")
        seen.add(unit[0])
        amount = int(match.group(1)) * unit[1]
        if unit[0] in ("w", "d"):
            days += amount
        else:
            seconds += amount
        pos = match.end()
    if not seen or s[pos:].strip():
        raise ValueError(f"'{raw}' is not a duration: {_DURATION_HELP}")
    if days == 0 and seconds == 0:
        raise ValueError(f"'{raw}' is not a duration: it must be longer than zero")
    return Duration(days=days, seconds=seconds)


_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def parse_time_of_day(text: str) -> time:
    """Strict 24-hour "HH:MM" ("08:00", "8:00", "20:30") for program definitions."""
    match = _TIME.fullmatch(text.strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"'{text.strip()}' is not a time of day: {_TIME_HELP}")
    return time(int(match.group(1)), int(match.group(2)))


WaitKind = Literal["duration", "at", "day_at", "days_at"]


@dataclass(frozen=True)
class WaitSpec:
    kind: WaitKind
    duration: Duration | None = None  # kind == "duration"
    at: time | None = None  # the local time for the other kinds
    day: int | None = None  # kind == "day_at": program day number (1 = the local start date)
    days: int | None = None  # kind == "days_at": N local calendar days after the wait began

    def __post_init__(self) -> None:
        fields = {"duration": self.duration, "at": self.at, "day": self.day, "days": self.days}
        needed = {
            "duration": {"duration"},
            "at": {"at"},
            "day_at": {"day", "at"},
            "days_at": {"days", "at"},
        }[self.kind]
        given = {name for name, value in fields.items() if value is not None}
        if given != needed:
            raise ValueError(
                f"a '{self.kind}' wait needs exactly {sorted(needed)}, got {sorted(given)}"
            )
        if self.day is not None and self.day < 1:
            raise ValueError(f"program days start at 1, got day {self.day}")
        if self.days is not None and self.days < 1:
            raise ValueError(
                f"'days' must be at least 1 (use 'at' for later today), got {self.days}"
            )


_AT = r"at\s+(?P<at>\S+)"
_WAIT_FORMS: list[tuple[re.Pattern[str], WaitKind]] = [
    (re.compile(_AT), "at"),
    (re.compile(rf"day\s+(?P<day>\d{{1,6}})\s*,?\s+{_AT}"), "day_at"),
    (re.compile(rf"(?:next\s+day|tomorrow)\s*,?\s+{_AT}"), "days_at"),
    (re.compile(rf"(?:in\s+)?(?P<days>\d{{1,6}})\s+days?\s*,?\s+{_AT}"), "days_at"),
]
_MAPPING_FORMS: dict[frozenset[str], WaitKind] = {
    frozenset({"duration"}): "duration",
    frozenset({"at"}): "at",
    frozenset({"day", "at"}): "day_at",
    frozenset({"days", "at"}): "days_at",
}


def parse_wait(value: str | Mapping[str, object]) -> WaitSpec:
    """A `wait` step's value, as a string or a mapping.

    Strings: "2h" or "in 2h" (any duration), "at 20:30", "day 3 at 08:00", "next day at 08:00"
    (also "tomorrow at 08:00"; both mean 1 day), "3 days at 08:00" / "in 3 days at 08:00".
    Mappings: {"duration": "2h"}, {"at": "20:30"}, {"day": 3, "at": "08:00"},
    {"days": 1, "at": "08:00"}. Raises ValueError naming the problem and the accepted forms.
    """
    given: object = value  # YAML may hand over anything
    if isinstance(given, str):
        return _parse_wait_text(given)
    if not isinstance(given, Mapping):
        raise ValueError(f"a wait must be a string or a mapping, not {type(given).__name__}")
    fields = {str(k): v for k, v in given.items()}
    kind = _MAPPING_FORMS.get(frozenset(fields))
    if kind is None:
        unknown = sorted(set(fields) - {"duration", "at", "day", "days"})
        if unknown:
            problem = f"has unknown key(s) {', '.join(unknown)}"
        elif set(fields) in ({"day"}, {"days"}):
            problem = "also needs 'at'"
        else:
            problem = f"cannot combine {' and '.join(sorted(fields))}" if fields else "is empty"
        raise ValueError(
            f"wait {fields!r} {problem}: use one of {{duration: 2h}}, {{at: '20:30'}}, "
            "{day: 3, at: '08:00'} or {days: 1, at: '08:00'}"
        )
    if kind == "duration":
        return WaitSpec("duration", duration=parse_duration(_text(fields["duration"], "duration")))
    at = parse_time_of_day(_text(fields["at"], "at"))
    if kind == "at":
        return WaitSpec("at", at=at)
    if kind == "day_at":
        return WaitSpec("day_at", at=at, day=_count(fields["day"], "day"))
    return WaitSpec("days_at", at=at, days=_count(fields["days"], "days"))


def _parse_wait_text(value: str) -> WaitSpec:
    s = " ".join(value.lower().split())
    for pattern, kind in _WAIT_FORMS:
        match = pattern.fullmatch(s)
        if match is None:
            continue
        at = parse_time_of_day(match["at"])
        if kind == "at":
            return WaitSpec("at", at=at)
        if kind == "day_at":
            return WaitSpec("day_at", at=at, day=_count(int(match["day"]), "day"))
        days = int(match["days"]) if match.groupdict().get("days") else 1
        return WaitSpec("days_at", at=at, days=_count(days, "days"))
    body = s.removeprefix("in ")
    if " at " in f" {s} " or not (body[:1].isdigit() or body.startswith("-")):
        raise ValueError(f"'{value.strip()}' is not a wait: {_WAIT_HELP}")
    return WaitSpec("duration", duration=parse_duration(body))  # its error names the problem


def _text(value: object, key: str) -> str:
    if isinstance(value, str):
        return value
    if key == "at" and isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"'at: {value}' is a number: quote the time, e.g. at: '20:30'")
    raise ValueError(f"'{key}' must be a string such as {'2h' if key == 'duration' else '08:00'}")


def _count(value: object, key: str) -> int:
    """A day number or count: an int, or its digits as a string (loaders may hand over text)."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,6}\s*", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"'{key}' must be a whole number, got {value!r}")
    if value < 1:
        hint = "program days start at 1" if key == "day" else "use 'at' for later today"
        raise ValueError(f"'{key}' must be at least 1, got {value} ({hint})")
    return value


def local_instant(d: date, t: time, tz: ZoneInfo) -> datetime:
    """The aware UTC instant of wall time `t` on local date `d` in `tz`.

    In a spring-forward gap the wall time is read with the offset from before the change, which
    lands the same distance past the gap (02:30 when clocks jump 02:00→03:00 gives 03:30 local).
    In a fall-back fold the first occurrence wins. Both follow PEP 495's fold=0.
    """
    wall = datetime.combine(d, t.replace(tzinfo=None, fold=0))
    return wall.replace(tzinfo=tz).astimezone(UTC)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The date on the local calendar of `tz` at the aware instant `moment`."""
    _require_aware(moment, "moment")
    return moment.astimezone(tz).date()


def resolve_wait(spec: WaitSpec, *, now: datetime, tz: ZoneInfo, program_start: date) -> datetime:
    """The aware UTC instant at which the wait ends.

    duration: the days on the local calendar (same wall time, DST-safe), then the seconds
    absolutely. at: the next occurrence of the wall time strictly after now (on a fall-back day,
    once the first occurrence has passed, the next one is tomorrow's). day_at: that time on program
    day N (may be in the past). days_at: that time N local calendar days after now's local date.
    """
    _require_aware(now, "now")
    now = now.astimezone(UTC)
    if spec.kind == "duration":
        assert spec.duration is not None
        end = now
        if spec.duration.days:
            local = now.astimezone(tz)
            end = local_instant(local.date() + timedelta(days=spec.duration.days), local.time(), tz)
        return end + timedelta(seconds=spec.duration.seconds)
    assert spec.at is not None
    if spec.kind == "at":
        day = local_date(now, tz)
        end = local_instant(day, spec.at, tz)
        while end <= now:  # once, except where a fold crosses midnight
            day += timedelta(days=1)
            end = local_instant(day, spec.at, tz)
        return end
    if spec.kind == "day_at":
        assert spec.day is not None
        return local_instant(program_start + timedelta(days=spec.day - 1), spec.at, tz)
    assert spec.days is not None
    return local_instant(local_date(now, tz) + timedelta(days=spec.days), spec.at, tz)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"'{name}' must be a timezone-aware datetime, got {moment!r}")
