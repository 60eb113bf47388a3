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


class RateLimiter(Protocol):
    async def acquire(self, key: str, rate: float, burst: int) -> float:
        """Take one send for `key` if allowed now (returns 0), else return how many seconds to
        wait before asking again (nothing taken)."""
        ...


def limits_for(
    channel: str, binding_id: int, recipient: str, scale: float = 1.0
) -> list[tuple[str, float, int]]:
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

    async def acquire(self, key: str, rate: float, burst: int) -> float:
        now = float(self._clock())
        interval = 1.0 / rate
        tat = max(self._tat.get(key, now), now)
        allow_at = tat - interval * burst
        if now < allow_at:
            return allow_at - now
        self._tat[key] = tat + interval
        return 0.0


_GCRA = """
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local allow_at = tat - interval * burst
if now < allow_at then return tostring(allow_at - now) end
local ttl = math.ceil((tat + interval - now) * 1000) + 1000
redis.call('SET', key, tostring(tat + interval), 'PX', ttl)
return '0'
"""


class RedisRateLimiter:
    """GCRA in Redis: atomic per key across all workers, using Redis's own clock."""

    def __init__(self, redis: Any) -> None:
        self._script = redis.register_script(_GCRA)

    async def acquire(self, key: str, rate: float, burst: int) -> float:
        wait = await self._script(keys=[key], args=[1.0 / rate, burst])
        return float(wait)
