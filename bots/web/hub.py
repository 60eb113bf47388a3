"""Where a visitor's frames go: the sockets open in this process (the hub), and between processes
a Redis pub/sub channel.

Embedded mode (no Redis): one process holds the sockets and runs the outbox, so publishing is a
call into the process's hub. Scaled mode: the outbox runs in RQ workers and a visitor's socket
may be held by any `serve` process, so every frame is published on one Redis channel that each
`serve` process subscribes to (the `RedisBridge`); the process holding the visitor's socket
delivers it, the others drop it. One channel rather than one per visitor: subscriptions never
change while sockets come and go, and the fan-out is a few proactive messages per visitor a day.

Nothing here is durable: every message is stored before it is published, so a frame lost on the
way (no socket, Redis down) is still in the history the widget loads when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from engine.pubsub import Subscription, redis_client

log = logging.getLogger(__name__)

CHANNEL = "coachbot:web"
QUEUE_SIZE = 256  # frames waiting for a slow browser before its socket is dropped


class Connection:
    """One open socket of a visitor. Frames wait in a queue that one writer task drains, so a
    slow or stalled browser never blocks the turn or the outbox that publishes to it."""

    def __init__(self, on_overflow: Callable[[], None] | None = None) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False
        self._on_overflow = on_overflow

    def push(self, frame: dict[str, Any]) -> bool:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            # The socket is closed; the widget reconnects and the history fills the gap.
            if not self.overflowed and self._on_overflow is not None:
                self._on_overflow()
            self.overflowed = True
            return False
        return True

    def end(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class LocalHub:
    """The sockets of this process by (binding, visitor): a visitor may have several tabs."""

    def __init__(self) -> None:
        self._sockets: dict[tuple[int, str], set[Connection]] = {}

    def add(self, binding_id: int, visitor: str, connection: Connection) -> None:
        self._sockets.setdefault((binding_id, visitor), set()).add(connection)

    def remove(self, binding_id: int, visitor: str, connection: Connection) -> None:
        key = (binding_id, visitor)
        sockets = self._sockets.get(key)
        if sockets is not None:
            sockets.discard(connection)
            if not sockets:
                del self._sockets[key]

    def deliver(self, binding_id: int, visitor: str, frame: dict[str, Any]) -> int:
        """Queue the frame on each of the visitor's sockets here; returns how many took it."""
        return sum(c.push(frame) for c in list(self._sockets.get((binding_id, visitor), ())))

    def __len__(self) -> int:
        return sum(len(s) for s in self._sockets.values())


# The process's hub: the widget's sockets and, in embedded mode, the outbox's WebSender meet here.
LOCAL = LocalHub()


class Publisher(Protocol):
    async def publish(self, binding_id: int, visitor: str, frame: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class LocalPublisher:
    def __init__(self, hub: LocalHub = LOCAL) -> None:
        self.hub = hub

    async def publish(self, binding_id: int, visitor: str, frame: dict[str, Any]) -> None:
        self.hub.deliver(binding_id, visitor, frame)

    async def close(self) -> None:
        return None


class RedisPublisher:
    """Publishes on the Redis channel every `serve` process listens to. If Redis fails, this
    process's own sockets still get the frame (in a `serve` process they are the likeliest
    holders); the message itself is stored either way."""

    def __init__(self, url: str, hub: LocalHub = LOCAL) -> None:
        self.url = url
        self.hub = hub
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = redis_client(self.url)
        return self._client

    async def publish(self, binding_id: int, visitor: str, frame: dict[str, Any]) -> None:
        from redis.exceptions import RedisError

        data = json.dumps({"b": binding_id, "v": visitor, "f": frame}, separators=(",", ":"))
        try:
            await self.client.publish(CHANNEL, data)
        except (RedisError, OSError) as exc:
            log.warning("widget frame not published", extra={"error": type(exc).__name__})
            self.hub.deliver(binding_id, visitor, frame)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class RedisBridge:
    """Delivers the frames published by any process to the sockets of this one. Reconnects with
    backoff when Redis goes away (frames published meanwhile are in the stored history)."""

    def __init__(self, url: str, hub: LocalHub = LOCAL) -> None:
        self.hub = hub
        self._subscription = Subscription(url, CHANNEL, self._deliver, name="widget-bridge")
        self.subscribed = self._subscription.subscribed

    def start(self) -> None:
        self._subscription.start()

    def _deliver(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            self.hub.deliver(int(message["b"]), str(message["v"]), dict(message["f"]))
        except (ValueError, KeyError, TypeError):
            log.warning("malformed frame on the widget channel")

    async def close(self) -> None:
        await self._subscription.close()
