"""Delivery policies for proactive messages, as pure functions of time: quiet hours in the
contact's local time, the WhatsApp 24-hour customer-service window, and retry backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from programs.timeexpr import local_instant

WHATSAPP_WINDOW = timedelta(hours=24)
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which nothing proactive is sent. start > end wraps midnight (21:00–08:00);
    start == end means no quiet hours."""

    start: time
    end: time

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, now: datetime, tz: ZoneInfo) -> datetime:
        """The UTC instant quiet hours next end, at or after `now` (now if not quiet)."""
        local = now.astimezone(tz)
        if not self.contains(local.time()):
            return now
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return local_instant(day, self.end, tz)

    def next_morning(self, now: datetime, tz: ZoneInfo) -> datetime:
        """The end of the next quiet period that starts after today: tomorrow's first moment
        a message may go out (used to defer past a daily cap)."""
        tomorrow = now.astimezone(tz).date() + timedelta(days=1)
        end = self.end if self.start != self.end else time(0, 0)
        return local_instant(tomorrow, end, tz)


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Inside WhatsApp's customer-service window: the person wrote in the last 24 hours."""
    return last_inbound_at is not None and now - last_inbound_at < WHATSAPP_WINDOW


def local_day_start(now: datetime, tz: ZoneInfo) -> datetime:
    """UTC instant of the contact's local midnight today (for per-day caps)."""
    return local_instant(now.astimezone(tz).date(), time(0, 0), tz)


def backoff(
    attempt: int, retry_after: float | None = None, rng: random.Random | None = None
) -> timedelta:
    """Exponential backoff with full jitter (attempt 1 → up to 5 s, 2 → 10 s, … capped at an
    hour), never sooner than the provider's `retry_after`."""
    rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempt - 1)))
    delay = timedelta(seconds=rng.uniform(ceiling.total_seconds() / 2, ceiling.total_seconds()))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay
