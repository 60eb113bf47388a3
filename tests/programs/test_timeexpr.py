from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from programs.timeexpr import (
    Duration,
    WaitSpec,
    local_date,
    local_instant,
    parse_duration,
    parse_time_of_day,
    parse_wait,
    resolve_wait,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
# (zone, the local date clocks change) for both directions in both zones, 2026
DST_CHANGES = [
    pytest.param(NEW_YORK, date(2026, 3, 8), id="new_york-spring"),
    pytest.param(NEW_YORK, date(2026, 11, 1), id="new_york-fall"),
    pytest.param(BERLIN, date(2026, 3, 29), id="berlin-spring"),
    pytest.param(BERLIN, date(2026, 10, 25), id="berlin-fall"),
]
START = date(2026, 1, 5)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    """The aware UTC instant of a local wall-clock time (the first one, in a fold)."""
    return datetime(year, month, day, hour, minute, tzinfo=tz).astimezone(UTC)


def on(tz: ZoneInfo, day: date, days: int, hour: int) -> datetime:
    """The aware UTC instant of `hour`:00 local, `days` after `day`."""
    return datetime.combine(day + timedelta(days=days), time(hour), tzinfo=tz).astimezone(UTC)


# --- parse_duration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", Duration(seconds=7200)),
        ("30m", Duration(seconds=1800)),
        ("45s", Duration(seconds=45)),
        ("1d", Duration(days=1)),
        ("1d 2h", Duration(days=1, seconds=7200)),
        ("1d2h", Duration(days=1, seconds=7200)),
        ("1 day", Duration(days=1)),
        ("3 days", Duration(days=3)),
        ("90 minutes", Duration(seconds=5400)),
        ("1h30m", Duration(seconds=5400)),
        ("1h 30m", Duration(seconds=5400)),
        ("2 hours 15 minutes", Duration(seconds=8100)),
        ("2 hours and 15 minutes", Duration(seconds=8100)),
        ("2 hours, 15 minutes", Duration(seconds=8100)),
        ("1 hr", Duration(seconds=3600)),
        ("5 mins", Duration(seconds=300)),
        ("10 sec", Duration(seconds=10)),
        ("24h", Duration(seconds=86400)),
        ("1w", Duration(days=7)),
        ("2 weeks 1d", Duration(days=15)),
        ("  2H  ", Duration(seconds=7200)),
        ("0h 5m", Duration(seconds=300)),
    ],
)
def test_parse_duration_accepts(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2x", "'2x' is not a duration: use e.g. 30m, 2h, 1d or 1d 2h"),
        ("", "is not a duration: use e.g."),
        ("2", "is not a duration: use e.g."),
        ("h", "is not a duration: use e.g."),
        ("two hours", "is not a duration: use e.g."),
        ("2h foo", "is not a duration: use e.g."),
        ("2h30", "is not a duration: use e.g."),
        ("0m", "must be longer than zero"),
        ("0d 0h", "must be longer than zero"),
        ("-2h", "must be positive"),
        ("1.5h", "use whole numbers"),
        ("2,5 days", "use whole numbers"),
        ("1h 1h", "gives the h unit twice"),
        ("1234567d", "is not a duration: use e.g."),
        ("1 hour 30 minutes 10 minutes", "gives the m unit twice"),
    ],
)
def test_parse_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize("text", ["2h", "45s", "1d", "1d 2h30m", "3d 1s", "90m"])
def test_duration_str_round_trips(text: str) -> None:
    duration = parse_duration(text)
    assert parse_duration(str(duration)) == duration


def test_duration_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        Duration(days=-1)


# --- parse_time_of_day --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:00", time(8, 0)),
        ("8:00", time(8, 0)),
        ("20:30", time(20, 30)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        (" 07:05 ", time(7, 5)),
    ],
)
def test_parse_time_of_day_accepts(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize(
    "text", ["25:00", "24:00", "08:60", "8", "8am", "8:0", "08:00:00", "08.00", "0800", "", "noon"]
)
def test_parse_time_of_day_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a time of day: use HH:MM, e.g. 08:00"):
        parse_time_of_day(text)


def test_parse_time_of_day_message_names_the_input() -> None:
    with pytest.raises(ValueError, match=r"^'25:00' is not a time of day"):
        parse_time_of_day("25:00")


# --- parse_wait ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2h", WaitSpec("duration", duration=Duration(seconds=7200))),
        ("1d 2h", WaitSpec("duration", duration=Duration(days=1, seconds=7200))),
        ("in 2h", WaitSpec("duration", duration=Duration(seconds=7200))),
        ("in 3 days", WaitSpec("duration", duration=Duration(days=3))),
        ("at 20:30", WaitSpec("at", at=time(20, 30))),
        ("At 8:00", WaitSpec("at", at=time(8, 0))),
        ("day 3 at 08:00", WaitSpec("day_at", at=time(8), day=3)),
        ("Day 1 at 7:15", WaitSpec("day_at", at=time(7, 15), day=1)),
        ("day 3, at 08:00", WaitSpec("day_at", at=time(8), day=3)),
        ("next day at 08:00", WaitSpec("days_at", at=time(8), days=1)),
        ("tomorrow at 08:00", WaitSpec("days_at", at=time(8), days=1)),
        ("3 days at 08:00", WaitSpec("days_at", at=time(8), days=3)),
        ("1 day at 08:00", WaitSpec("days_at", at=time(8), days=1)),
        ("in 3 days at 08:00", WaitSpec("days_at", at=time(8), days=3)),
        ("  in  3   days  at  08:00 ", WaitSpec("days_at", at=time(8), days=3)),
        ({"duration": "2h"}, WaitSpec("duration", duration=Duration(seconds=7200))),
        ({"at": "20:30"}, WaitSpec("at", at=time(20, 30))),
        ({"day": 3, "at": "08:00"}, WaitSpec("day_at", at=time(8), day=3)),
        ({"days": 1, "at": "08:00"}, WaitSpec("days_at", at=time(8), days=1)),
        # a loader that hands every scalar over as text
        ({"day": "3", "at": "08:00"}, WaitSpec("day_at", at=time(8), day=3)),
        ({"days": " 2 ", "at": "08:00"}, WaitSpec("days_at", at=time(8), days=2)),
    ],
)
def test_parse_wait_accepts(value: str | dict[str, object], expected: WaitSpec) -> None:
    assert parse_wait(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2x", "'2x' is not a duration"),
        ("soon", "'soon' is not a wait: use a duration .*'at 20:30', 'day 3 at 08:00'"),
        ("", "is not a wait"),
        ("at", "is not a wait"),
        ("at 8pm", "'8pm' is not a time of day"),
        ("at 8 pm", "is not a wait"),
        ("day 3 at 25:00", "'25:00' is not a time of day"),
        ("day 0 at 08:00", "program days start at 1"),
        ("day three at 08:00", "is not a wait"),
        ("day 1234567 at 08:00", "is not a wait"),
        ("0 days at 08:00", "'days' must be at least 1"),
        ("day 3", "is not a wait"),
        ("next day", "is not a wait"),
        ("-2h", "must be positive"),
        ("0m", "longer than zero"),
        ({"day": 3}, "also needs 'at'"),
        ({"days": 2}, "also needs 'at'"),
        ({"duration": "2h", "at": "08:00"}, "cannot combine at and duration"),
        ({"when": "2h"}, "unknown key.*when"),
        ({}, "is empty"),
        ({"duration": 2}, "'duration' must be a string"),
        ({"duration": "2x"}, "'2x' is not a duration"),
        ({"at": 1230}, "quote the time"),  # what YAML 1.1 makes of an unquoted 20:30
        ({"at": "25:00"}, "'25:00' is not a time of day"),
        ({"day": "three", "at": "08:00"}, "'day' must be a whole number"),
        ({"day": "3.5", "at": "08:00"}, "'day' must be a whole number"),
        ({"days": "-1", "at": "08:00"}, "'days' must be at least 1"),
        ({"day": True, "at": "08:00"}, "'day' must be a whole number"),
        ({"day": 0, "at": "08:00"}, "program days start at 1"),
        ({"days": 0, "at": "08:00"}, "'days' must be at least 1"),
        ({"days": -1, "at": "08:00"}, "'days' must be at least 1"),
    ],
)
def test_parse_wait_rejects(value: str | dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_wait(value)


def test_parse_wait_rejects_other_types() -> None:
    with pytest.raises(ValueError, match="string or a mapping, not list"):
        parse_wait(["2h"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "duration"},
        {"kind": "at"},
        {"kind": "day_at", "at": time(8)},
        {"kind": "days_at", "at": time(8), "day": 1},
        {"kind": "at", "at": time(8), "duration": Duration(1)},
        {"kind": "day_at", "at": time(8), "day": 0},
        {"kind": "days_at", "at": time(8), "days": 0},
    ],
)
def test_wait_spec_checks_its_fields(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"wait needs|start at 1|at least 1"):
        WaitSpec(**fields)  # type: ignore[arg-type]


# --- local_instant / local_date -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "at", "expected"),
    [
        pytest.param(NEW_YORK, date(2026, 1, 5), time(8), utc(2026, 1, 5, 13), id="ny-winter"),
        pytest.param(NEW_YORK, date(2026, 7, 5), time(8), utc(2026, 7, 5, 12), id="ny-summer"),
        pytest.param(BERLIN, date(2026, 1, 5), time(8), utc(2026, 1, 5, 7), id="berlin-winter"),
        pytest.param(BERLIN, date(2026, 7, 5), time(8), utc(2026, 7, 5, 6), id="berlin-summer"),
        # spring forward: 02:00 -> 03:00, so 02:30 does not exist and becomes 03:30
        pytest.param(NEW_YORK, date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 30), id="ny-gap"),
        pytest.param(NEW_YORK, date(2026, 3, 8), time(2), utc(2026, 3, 8, 7), id="ny-gap-start"),
        pytest.param(NEW_YORK, date(2026, 3, 8), time(3), utc(2026, 3, 8, 7), id="ny-after-gap"),
        pytest.param(BERLIN, date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1, 30), id="be-gap"),
        # fall back: 02:00 -> 01:00 (NY) and 03:00 -> 02:00 (Berlin); the first occurrence wins
        pytest.param(
            NEW_YORK, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30), id="ny-fold"
        ),
        pytest.param(
            BERLIN, date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30), id="be-fold"
        ),
        pytest.param(NEW_YORK, date(2026, 11, 1), time(8), utc(2026, 11, 1, 13), id="ny-fall-day"),
    ],
)
def test_local_instant(tz: ZoneInfo, day: date, at: time, expected: datetime) -> None:
    result = local_instant(day, at, tz)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("tz", "day", "at", "wall"),
    [
        (NEW_YORK, date(2026, 3, 8), time(2, 30), time(3, 30)),
        (NEW_YORK, date(2026, 3, 8), time(2, 59), time(3, 59)),
        (BERLIN, date(2026, 3, 29), time(2, 0), time(3, 0)),
        (BERLIN, date(2026, 3, 29), time(2, 45), time(3, 45)),
    ],
)
def test_local_instant_in_a_gap_shifts_forward_by_the_gap(
    tz: ZoneInfo, day: date, at: time, wall: time
) -> None:
    shown = local_instant(day, at, tz).astimezone(tz)
    assert (shown.date(), shown.time()) == (day, wall)


@pytest.mark.parametrize(
    ("tz", "day", "at"),
    [(NEW_YORK, date(2026, 11, 1), time(1, 30)), (BERLIN, date(2026, 10, 25), time(2, 30))],
)
def test_local_instant_in_a_fold_is_the_first_occurrence(tz: ZoneInfo, day: date, at: time) -> None:
    first = datetime.combine(day, at, tzinfo=tz).replace(fold=0).astimezone(UTC)
    second = datetime.combine(day, at, tzinfo=tz).replace(fold=1).astimezone(UTC)
    assert second - first == timedelta(hours=1)
    assert local_instant(day, at, tz) == first
    assert local_instant(day, at.replace(fold=1), tz) == first


def test_local_instant_ignores_a_time_zone_on_the_time() -> None:
    assert local_instant(date(2026, 1, 5), time(8, tzinfo=UTC), BERLIN) == utc(2026, 1, 5, 7)


@pytest.mark.parametrize(
    ("moment", "tz", "expected"),
    [
        (utc(2026, 3, 8, 3), NEW_YORK, date(2026, 3, 7)),
        (utc(2026, 3, 8, 5), NEW_YORK, date(2026, 3, 8)),
        (utc(2026, 3, 28, 23, 30), BERLIN, date(2026, 3, 29)),
        (datetime(2026, 3, 8, 0, 30, tzinfo=ZoneInfo("Asia/Tokyo")), NEW_YORK, date(2026, 3, 7)),
    ],
)
def test_local_date(moment: datetime, tz: ZoneInfo, expected: date) -> None:
    assert local_date(moment, tz) == expected


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(datetime(2026, 3, 8, 12), BERLIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_wait(parse_wait("2h"), now=datetime(2026, 3, 8, 12), tz=BERLIN, program_start=START)


# --- resolve_wait -------------------------------------------------------------------------------


def resolve(value: str, now: datetime, tz: ZoneInfo, start: date = START) -> datetime:
    return resolve_wait(parse_wait(value), now=now, tz=tz, program_start=start)


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("2h", local(BERLIN, 2026, 6, 1, 9), local(BERLIN, 2026, 6, 1, 11)),
        ("90 minutes", local(BERLIN, 2026, 6, 1, 23), local(BERLIN, 2026, 6, 2, 0, 30)),
        ("1d", local(BERLIN, 2026, 6, 1, 9, 17), local(BERLIN, 2026, 6, 2, 9, 17)),
        ("1d 2h", local(BERLIN, 2026, 6, 1, 23), local(BERLIN, 2026, 6, 3, 1)),
        ("at 20:30", local(BERLIN, 2026, 6, 1, 9), local(BERLIN, 2026, 6, 1, 20, 30)),
        ("at 20:30", local(BERLIN, 2026, 6, 1, 20, 29), local(BERLIN, 2026, 6, 1, 20, 30)),
        ("at 20:30", local(BERLIN, 2026, 6, 1, 20, 30), local(BERLIN, 2026, 6, 2, 20, 30)),
        ("at 20:30", local(BERLIN, 2026, 6, 1, 21), local(BERLIN, 2026, 6, 2, 20, 30)),
        ("at 00:00", local(BERLIN, 2026, 6, 1, 0), local(BERLIN, 2026, 6, 2, 0)),
        ("next day at 08:00", local(BERLIN, 2026, 6, 1, 7), local(BERLIN, 2026, 6, 2, 8)),
        ("next day at 08:00", local(BERLIN, 2026, 6, 1, 23, 59), local(BERLIN, 2026, 6, 2, 8)),
        ("next day at 08:00", local(BERLIN, 2026, 6, 1, 0, 1), local(BERLIN, 2026, 6, 2, 8)),
        ("3 days at 08:00", local(BERLIN, 2026, 6, 1, 12), local(BERLIN, 2026, 6, 4, 8)),
        ("day 1 at 08:00", local(BERLIN, 2026, 6, 1, 12), local(BERLIN, 2026, 1, 5, 8)),
        ("day 3 at 08:00", local(BERLIN, 2026, 1, 5, 12), local(BERLIN, 2026, 1, 7, 8)),
        ("day 100 at 08:00", local(BERLIN, 2026, 1, 5, 12), local(BERLIN, 2026, 4, 14, 8)),
    ],
)
def test_resolve_wait(value: str, now: datetime, expected: datetime) -> None:
    assert resolve(value, now, BERLIN) == expected


def test_resolve_wait_uses_the_local_date_not_the_utc_one() -> None:
    # 23:30 in New York is already the next day in UTC
    now = local(NEW_YORK, 2026, 6, 1, 23, 30)
    assert now.date() == date(2026, 6, 2)
    assert resolve("next day at 08:00", now, NEW_YORK) == local(NEW_YORK, 2026, 6, 2, 8)
    assert resolve("at 23:45", now, NEW_YORK) == local(NEW_YORK, 2026, 6, 1, 23, 45)
    # and 00:30 in Berlin is still the previous day in UTC
    now = local(BERLIN, 2026, 6, 2, 0, 30)
    assert resolve("next day at 08:00", now, BERLIN) == local(BERLIN, 2026, 6, 3, 8)


def test_resolve_wait_accepts_any_aware_now_and_returns_utc() -> None:
    now = datetime(2026, 6, 1, 9, tzinfo=BERLIN)
    result = resolve("2h", now, NEW_YORK)
    assert result == now + timedelta(hours=2)
    assert result.tzinfo is UTC


def test_day_at_may_be_in_the_past() -> None:
    now = local(NEW_YORK, 2026, 1, 9, 12)
    assert resolve("day 2 at 08:00", now, NEW_YORK) == local(NEW_YORK, 2026, 1, 6, 8)


@pytest.mark.parametrize(("tz", "change"), DST_CHANGES)
def test_day_at_across_dst_keeps_the_wall_time(tz: ZoneInfo, change: date) -> None:
    start = change - timedelta(days=10)
    for day in range(1, 21):
        shown = resolve(f"day {day} at 08:00", utc(2026, 1, 1), tz, start).astimezone(tz)
        assert (shown.date(), shown.time()) == (start + timedelta(days=day - 1), time(8))


@pytest.mark.parametrize(("tz", "change"), DST_CHANGES)
def test_one_day_keeps_the_wall_time_but_24_hours_do_not(tz: ZoneInfo, change: date) -> None:
    now = on(tz, change, -1, 8)
    one_day = resolve("1d", now, tz)
    assert one_day.astimezone(tz).replace(tzinfo=None) == datetime.combine(change, time(8))
    hours = 23 if change.month < 6 else 25
    assert one_day - now == timedelta(hours=hours)
    twenty_four = resolve("24h", now, tz)
    assert twenty_four - now == timedelta(hours=24)
    expected_wall = time(9) if change.month < 6 else time(7)
    assert twenty_four.astimezone(tz).time() == expected_wall


@pytest.mark.parametrize(("tz", "change"), DST_CHANGES)
def test_days_then_seconds(tz: ZoneInfo, change: date) -> None:
    now = on(tz, change, -1, 20)
    result = resolve("1d 2h", now, tz)
    assert result == on(tz, change, 0, 20) + timedelta(hours=2)


@pytest.mark.parametrize(("tz", "change"), DST_CHANGES)
@pytest.mark.parametrize("value", ["next day at 08:00", "at 08:00", "1 day at 08:00"])
@pytest.mark.parametrize("first_wall", [time(7), time(8), time(21, 15), time(23, 59)])
def test_a_daily_chain_across_dst_fires_at_0800_once_a_day(
    tz: ZoneInfo, change: date, value: str, first_wall: time
) -> None:
    begin = change - timedelta(days=15)
    now = datetime.combine(begin, first_wall, tzinfo=tz).astimezone(UTC)
    fired: list[datetime] = []
    for _ in range(30):
        now = resolve(value, now, tz)
        fired.append(now.astimezone(tz))
    assert all(moment.time() == time(8) for moment in fired)
    first = begin if value == "at 08:00" and first_wall < time(8) else begin + timedelta(days=1)
    assert [moment.date() for moment in fired] == [first + timedelta(days=n) for n in range(30)]
    assert change in [moment.date() for moment in fired]


@pytest.mark.parametrize(("tz", "change"), DST_CHANGES)
def test_a_one_day_duration_chain_across_dst_keeps_the_wall_time(
    tz: ZoneInfo, change: date
) -> None:
    now = on(tz, change, -15, 8)
    dates = []
    for _ in range(30):
        now = resolve("1d", now, tz)
        shown = now.astimezone(tz)
        assert shown.time() == time(8)
        dates.append(shown.date())
    assert len(set(dates)) == 30
    assert dates == sorted(dates)
    assert dates[-1] - dates[0] == timedelta(days=29)


@pytest.mark.parametrize(("tz", "change"), DST_CHANGES[::2])
def test_a_daily_chain_at_a_time_that_falls_in_the_gap(tz: ZoneInfo, change: date) -> None:
    at = "02:30"
    now = on(tz, change, -5, 12)
    fired = []
    for _ in range(10):
        now = resolve(f"next day at {at}", now, tz)
        fired.append(now.astimezone(tz))
    assert [m.date() for m in fired] == [change + timedelta(days=n - 4) for n in range(10)]
    assert [m.time() for m in fired] == [
        time(3, 30) if m.date() == change else time(2, 30) for m in fired
    ]


@pytest.mark.parametrize(
    ("tz", "change", "at"),
    [(NEW_YORK, date(2026, 11, 1), "01:30"), (BERLIN, date(2026, 10, 25), "02:30")],
)
def test_at_a_time_that_occurs_twice(tz: ZoneInfo, change: date, at: str) -> None:
    first = local_instant(change, parse_time_of_day(at), tz)
    second = first + timedelta(hours=1)
    before = first - timedelta(minutes=10)
    assert resolve(f"at {at}", before, tz) == first
    # Once the first occurrence has passed, the next one is tomorrow's: never twice in a day.
    assert resolve(f"at {at}", first, tz).astimezone(tz).date() == change + timedelta(days=1)
    assert resolve(f"at {at}", second - timedelta(minutes=1), tz) > second


# --- properties ---------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Australia/Sydney",
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight
    "Asia/Kolkata",
    "Pacific/Chatham",
]
nows = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
times = st.times().map(lambda t: t.replace(second=0, microsecond=0))
zones = st.sampled_from(ZONES).map(ZoneInfo)


@settings(max_examples=400, deadline=None)
@given(now=nows, tz=zones, at=times)
def test_at_is_the_next_occurrence(now: datetime, tz: ZoneInfo, at: time) -> None:
    result = resolve_wait(WaitSpec("at", at=at), now=now, tz=tz, program_start=START)
    assert now < result <= now + timedelta(hours=26)
    today = local_date(now, tz)
    occurrences = [local_instant(today + timedelta(days=k), at, tz) for k in range(-1, 3)]
    assert result == min(moment for moment in occurrences if moment > now)


@settings(max_examples=400, deadline=None)
@given(now=nows, tz=zones, at=times, days=st.integers(1, 400))
def test_days_at_is_later_and_on_the_right_local_date(
    now: datetime, tz: ZoneInfo, at: time, days: int
) -> None:
    result = resolve_wait(
        WaitSpec("days_at", at=at, days=days), now=now, tz=tz, program_start=START
    )
    assert result > now
    assert result == local_instant(local_date(now, tz) + timedelta(days=days), at, tz)
    wall = result.astimezone(tz)
    if wall.time() == at:  # unless `at` fell in a gap that day
        assert wall.date() == local_date(now, tz) + timedelta(days=days)


@settings(max_examples=400, deadline=None)
@given(
    now=nows,
    tz=zones,
    days=st.integers(0, 400),
    seconds=st.integers(0, 10 * 86400),
)
def test_a_duration_ends_later(now: datetime, tz: ZoneInfo, days: int, seconds: int) -> None:
    if days == 0 and seconds == 0:
        seconds = 1
    spec = WaitSpec("duration", duration=Duration(days=days, seconds=seconds))
    result = resolve_wait(spec, now=now, tz=tz, program_start=START)
    assert result > now
    if days == 0:
        assert result == now + timedelta(seconds=seconds)
    else:
        assert local_date(result - timedelta(seconds=seconds), tz) >= local_date(
            now, tz
        ) + timedelta(days=days)


@settings(max_examples=200, deadline=None)
@given(hours=st.integers(0, 23), minutes=st.integers(0, 59))
def test_every_valid_time_of_day_parses(hours: int, minutes: int) -> None:
    assert parse_time_of_day(f"{hours:02d}:{minutes:02d}") == time(hours, minutes)
    assert parse_time_of_day(f"{hours}:{minutes:02d}") == time(hours, minutes)


@settings(max_examples=200, deadline=None)
@given(days=st.integers(0, 99), seconds=st.integers(0, 10**6))
def test_duration_str_round_trips_for_any_duration(days: int, seconds: int) -> None:
    if days == 0 and seconds == 0:
        return
    duration = Duration(days=days, seconds=seconds)
    assert parse_duration(str(duration)) == duration
