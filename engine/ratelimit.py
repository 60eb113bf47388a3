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
    async def acquire(self, limits: list[Limit]) -> float:
        """Take one send under every limit if all allow it now (returns 0), else return how many
        seconds to wait before asking again (nothing taken)."""
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

    async def acquire(self, limits: list[Limit]) -> float:
        now = float(self._clock())
        wait = 0.0
        for key, rate, burst in limits:
            tat = max(self._tat.get(key, now), now)
            # GCRA: allowed while the backlog (tat - now) is within burst - 1 intervals.
            wait = max(wait, tat - (1.0 / rate) * (burst - 1) - now)
        if wait > 0:
            return wait
        for key, rate, _ in limits:
            self._tat[key] = max(self._tat.get(key, now), now) + 1.0 / rate
        return 0.0


# All of a send's limits in one atomic call: either every key allows it and all are taken, or
# none is and the longest wait comes back. ARGV holds (interval, burst) per key.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  tats[i] = tat
  local allow_at = tat - interval * (burst - 1)
  if now < allow_at and allow_at - now > wait then wait = allow_at - now end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local ttl = math.ceil((tats[i] + interval - now) * 1000) + 1000
  redis.call('SET', key, tostring(tats[i] + interval), 'PX', ttl)
end
return '0'
"""


class RedisRateLimiter:
    """GCRA in Redis: atomic per key across all workers, using Redis's own clock."""

    def __init__(self, redis: Any) -> None:
        self._script = redis.register_script(_GCRA)

    async def acquire(self, limits: list[Limit]) -> float:
        if not limits:
            return 0.0
        args: list[float | int] = []
        for _, rate, burst in limits:
            args += [1.0 / rate, burst]
        wait = await self._script(keys=[key for key, _, _ in limits], args=args)
        return float(wait)
