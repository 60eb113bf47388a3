"""A Redis pub/sub channel listened to for the life of a process.

Pub/sub keeps nothing: a message published while a listener is disconnected never reaches it.
Every user of a `Subscription` is built for that (the widget's frames are in the stored
history; a binding change is also caught by the caches' expiry), and `on_subscribed` runs on
every (re)subscription so a listener can assume it missed something.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.5
LAST_RETRY_SECONDS = 30.0


def redis_client(url: str) -> Any:
    from redis.asyncio import Redis

    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


class Subscription:
    """Calls `on_message` with the data of every message on `channel`. Reconnects with backoff
    when Redis goes away; `subscribed` is set while it listens."""

    def __init__(
        self,
        url: str,
        channel: str,
        on_message: Callable[[bytes], None],
        *,
        name: str,
        on_subscribed: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.channel = channel
        self.name = name
        self.subscribed = asyncio.Event()
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        from redis.exceptions import RedisError

        delay = FIRST_RETRY_SECONDS
        while True:
            client = redis_client(self.url)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    if self._on_subscribed is not None:
                        self._on_subscribed()
                    self.subscribed.set()
                    delay = FIRST_RETRY_SECONDS
                    async for item in pubsub.listen():
                        if isinstance(item, dict) and item.get("type") == "message":
                            self._on_message(item["data"])
            except (RedisError, OSError) as exc:
                log.warning(
                    "lost Redis", extra={"listener": self.name, "error": type(exc).__name__}
                )
            finally:
                self.subscribed.clear()
                await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
