"""Channel binding changes reach every process's binding caches at once.

Webhooks, the engine and the senders remember bindings for a few seconds, because a busy bot
asks for its binding on every inbound message and every send. When a coach switches a channel
off, gives it new secrets or turns it back on, the process that made the change forgets what
it remembered at once. In scaled mode it also publishes on a Redis channel that every `serve`
process and every worker listens to, so they forget too. The expiry stays as the fallback for
a change whose signal is lost: Redis down, or a CLI command in embedded mode, which has no
Redis to reach the running `serve`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from engine.pubsub import Subscription, redis_client

T = TypeVar("T")

log = logging.getLogger(__name__)

CHANNEL = "coachbot:bindings"


@dataclass(frozen=True)
class Remembered(Generic[T]):
    """What a cache read of a binding, with the change count read before it looked (a change
    committed during the lookup must leave it untrusted) and when the lookup ended."""

    value: T
    changes: int
    at: float = field(default_factory=time.monotonic)


class BindingChanges:
    """How many binding changes this process has heard of. A cache keeps the count it read
    before it looked a binding up, and trusts the entry only while the count is unchanged."""

    def __init__(self) -> None:
        self.count = 0

    def heard(self) -> None:
        self.count += 1

    def trusts(self, remembered: Remembered[T], seconds: float) -> bool:
        """Whether no change has been heard since it was read, and it is not older than
        `seconds`."""
        return remembered.changes == self.count and time.monotonic() - remembered.at < seconds


# The process's: every binding cache in it reads this count.
CHANGES = BindingChanges()


async def announce(redis_url: str | None, changes: BindingChanges = CHANGES) -> None:
    """After a binding change is committed: this process forgets its bindings, and with Redis
    every `serve` process does too. A failed publish only delays the others (their expiry)."""
    changes.heard()
    if not redis_url:
        return
    from redis.exceptions import RedisError

    client = redis_client(redis_url)
    try:
        await client.publish(CHANNEL, b"changed")
    except (RedisError, OSError) as exc:
        log.warning(
            "binding change not announced: other processes see it when they next look it up",
            extra={"error": type(exc).__name__},
        )
    finally:
        await client.aclose()


def listen(redis_url: str, changes: BindingChanges = CHANGES) -> Subscription:
    """What a `serve` process starts in scaled mode. A (re)subscription counts as a change too:
    what was published while it was not listening is lost."""
    return Subscription(
        redis_url,
        CHANNEL,
        lambda _data: changes.heard(),
        name="binding-changes",
        on_subscribed=changes.heard,
    )
