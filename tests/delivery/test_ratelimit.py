"""GCRA rate limits, in process and in Redis (shared by workers): a burst, then a wait; several
limits for one send are taken all together or not at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from engine.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter, limits_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "local":
        yield LocalRateLimiter()
        return
    from redis.asyncio import Redis

    redis: Any = Redis.from_url("redis://127.0.0.1:6379/14")
    await redis.flushdb()
    try:
        yield RedisRateLimiter(redis)
    finally:
        await redis.flushdb()
        await redis.aclose()


async def test_a_burst_then_a_wait(limiter: RateLimiter) -> None:
    limit = [("rl:test:a", 2.0, 3)]  # 2 per second, bursts of 3
    assert [await limiter.acquire(limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await limiter.acquire(limit)
    assert 0.0 < wait <= 0.5 + 0.05


async def test_limits_are_taken_together_or_not_at_all(limiter: RateLimiter) -> None:
    chat, bot = ("rl:test:chat", 1.0, 1), ("rl:test:bot", 0.1, 5)  # slow: no refill mid-test
    assert await limiter.acquire([chat, bot]) == 0.0
    assert await limiter.acquire([chat, bot]) > 0.0  # the chat limit holds the send …
    for _ in range(4):  # … and took nothing from the bot's limit while it did
        assert await limiter.acquire([bot]) == 0.0
    assert await limiter.acquire([bot]) > 0.0


async def test_local_limiter_refills_with_time() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock)
    limit = [("k", 1.0, 1)]
    assert await limiter.acquire(limit) == 0.0
    assert await limiter.acquire(limit) == pytest.approx(1.0)
    clock.now += 1.0
    assert await limiter.acquire(limit) == 0.0


def test_channel_limits_follow_the_providers() -> None:
    telegram = limits_for("telegram", 7, "4242")
    assert telegram == [("rl:b:7", 30.0, 30), ("rl:r:7:4242", 1.0, 3)]
    assert limits_for("whatsapp", 7, "whatsapp:+1")[0] == ("rl:b:7", 10.0, 10)
    assert limits_for("terminal", 7, "me") == []
    assert limits_for("whatsapp", 7, "x", scale=10)[0] == ("rl:b:7", 100.0, 100)


async def test_a_batch_reserves_slots_in_order(limiter: RateLimiter) -> None:
    chat = ("rl:test:batch-chat", 1.0, 1)  # one per second
    other = ("rl:test:batch-other", 1.0, 1)
    waits = await limiter.reserve([[chat], [chat], [other], [chat]], max_wait=1.5)
    assert waits[0] == pytest.approx(0.0, abs=0.05)
    assert waits[1] == pytest.approx(1.0, abs=0.05)  # the same chat: the next second
    assert waits[2] == pytest.approx(0.0, abs=0.05)  # another chat is free now
    assert waits[3] == pytest.approx(2.0, abs=0.05)  # beyond max_wait: reported, not taken
    again = await limiter.reserve([[chat]], max_wait=5.0)
    assert again[0] == pytest.approx(2.0, abs=0.05)  # the third slot was still free
