"""Per-channel send rate limits, shared by every worker through Redis (or local to the process in
embedded mode). GCRA (the generic cell rate algorithm): one timestamp per key, atomic in Redis
through a Lua script, so N workers together stay under the provider's limits.

Limits follow the providers' published guidance: Telegram about 1 message/s per chat (short
bursts allowed) and 30/s per bot; Twilio WhatsApp 10/s per sender by default. The
`COACHBOT_SEND_RATE_SCALE` setting multiplies them (a sender with a raised Twilio limit, or a
benchmark against a fake provider).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from engine.types import Channel

# (per binding: rate/s, burst), (per recipient: rate/s, burst)
CHANNEL_LIMITS: dict[str, tuple[tuple[float, int], tuple[float, int]]] = {
    Channel.TELEGRAM.value: ((30.0, 30), (1.0, 3)),
    Channel.WHATSAPP.value: ((10.0, 10), (1.0, 3)),
    Channel.WEB.value: ((500.0, 500), (5.0, 10)),
}


Limit = tuple[str, float, int]  # key, rate per second, burst


class RateLimiter(Protocol):
    async def reserve(self, requests: list[list[Limit]], max_wait: float) -> list[float]:
        """For each send (in order), the seconds until its slot under all its limits. A slot
        within `max_wait` is taken (the send must happen then); a later one is only reported,
        nothing taken, so the send can be deferred."""
        ...

    async def acquire(self, limits: list[Limit]) -> float:
        """Take one send now if every limit allows it (returns 0), else the wait (nothing
        taken)."""
        ...


def limits_for(channel: str, binding_id: int, recipient: str, scale: float = 1.0) -> list[Limit]:
    limits = CHANNEL_LIMITS.get(channel)
    if limits is None:
        return []
    (bind_rate, bind_burst), (chat_rate, chat_burst) = limits
    return [
        (f"rl:b:{binding_id}", bind_rate * scale, max(1, int(bind_burst * scale))),
        (f"rl:r:{binding_id}:{recipient}", chat_rate * scale, max(1, int(chat_burst * scale))),
    ]


class LocalRateLimiter:
    """GCRA in process memory (embedded mode: one process sends)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._tat: dict[str, float] = {}
        self._clock = clock

    async def reserve(self, requests: list[list[Limit]], max_wait: float) -> list[float]:
        now = float(self._clock())
        waits = []
        for limits in requests:
            # GCRA: the earliest slot at which every limit's backlog is within burst - 1 intervals.
            slot = now
            for key, rate, burst in limits:
                tat = max(self._tat.get(key, now), now)
                slot = max(slot, tat - (burst - 1) / rate)
            if slot - now <= max_wait:
                for key, rate, _ in limits:
                    self._tat[key] = max(self._tat.get(key, now), slot) + 1.0 / rate
            waits.append(slot - now)
        return waits

    async def acquire(self, limits: list[Limit]) -> float:
        return (await self.reserve([limits], max_wait=0.0))[0]


# A whole batch of sends in one atomic call. ARGV: max_wait, item count, then per item the number
# of its keys followed by (interval, burst) per key; KEYS: every item's keys, in the same order.
_GCRA_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max_wait = tonumber(ARGV[1])
local a, k = 3, 1
local tat_of, out = {}, {}
for i = 1, tonumber(ARGV[2]) do
  local n = tonumber(ARGV[a]); a = a + 1
  local slot = now
  for j = 0, n - 1 do
    local key = KEYS[k + j]
    local interval, burst = tonumber(ARGV[a + 2 * j]), tonumber(ARGV[a + 2 * j + 1])
    local tat = tat_of[key] or tonumber(redis.call('GET', key) or now)
    if tat < now then tat = now end
    tat_of[key] = tat
    local allow = tat - interval * (burst - 1)
    if allow > slot then slot = allow end
  end
  if slot - now <= max_wait then
    for j = 0, n - 1 do
      local key = KEYS[k + j]
      local tat = tat_of[key]
      if slot > tat then tat = slot end
      tat_of[key] = tat + tonumber(ARGV[a + 2 * j])
    end
  end
  out[i] = tostring(slot - now)
  a, k = a + 2 * n, k + n
end
for key, tat in pairs(tat_of) do
  redis.call('SET', key, tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
return out
"""


class RedisRateLimiter:
    """GCRA in Redis: atomic across all workers, on Redis's own clock, one call per batch."""

    def __init__(self, redis: Any) -> None:
        self._script = redis.register_script(_GCRA_RESERVE)

    async def reserve(self, requests: list[list[Limit]], max_wait: float) -> list[float]:
        if not requests:
            return []
        keys: list[str] = []
        args: list[float | int] = [max_wait, len(requests)]
        for limits in requests:
            args.append(len(limits))
            for key, rate, burst in limits:
                keys.append(key)
                args += [1.0 / rate, burst]
        waits = await self._script(keys=keys, args=args)
        return [float(w) for w in waits]

    async def acquire(self, limits: list[Limit]) -> float:
        return (await self.reserve([limits], max_wait=0.0))[0]
