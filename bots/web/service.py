"""What the widget's HTTP routes and its WebSocket share: finding the widget, checking the visitor
token, taking a message in, and the parts behind them (the turns, the publisher, the Redis
bridge). Built once per process, on the first widget request (see `routes`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bots.http import Spawner
from bots.web import frames, visitors
from bots.web.hub import LOCAL, LocalHub, LocalPublisher, Publisher, RedisBridge, RedisPublisher
from bots.web.tokens import Visitor, VisitorTokens
from bots.web.turns import Limits, WebTurns
from bots.web.widgets import Widget, load_widget
from engine.db import Database
from engine.pipeline import Engine
from engine.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from engine.secrets import SecretBox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WidgetOptions:
    secret_key: str
    redis_url: str | None = None
    limits: Limits = field(default_factory=Limits)


@dataclass
class WidgetService:
    engine: Engine
    box: SecretBox
    tokens: VisitorTokens
    turns: WebTurns
    publisher: Publisher
    hub: LocalHub = LOCAL
    bridge: RedisBridge | None = None
    redis: Any = None
    sockets: set[web.WebSocketResponse] = field(default_factory=set)

    @property
    def db(self) -> Database:
        return self.engine.db

    async def widget(self, public_key: str) -> Widget | None:
        return await load_widget(self.db, self.box, public_key)

    def visitor(self, widget: Widget, token: object) -> Visitor | None:
        """The token's visitor on this widget, or None. An identified visitor's token holds the
        fingerprint of the widget secret it was verified with; a new secret signs them out."""
        visitor = self.tokens.verify(token, widget.public_key)
        if visitor is None:
            return None
        if visitor.identified and visitor.secret_id != widget.secret_id():
            return None
        return visitor

    def token(self, widget: Widget, visitor: Visitor) -> str:
        return self.tokens.issue(widget.public_key, visitor)

    async def take(
        self, widget: Widget, visitor: Visitor, send: frames.Send, locale: str | None
    ) -> int | None:
        """Claim one message (raises RateLimited); None for a resend of a claimed message."""
        receipt_id, inbound = await self.turns.claim(widget.binding_id, visitor.id, send, locale)
        if receipt_id is not None:
            self.turns.echo(inbound, send.client_id)
        return receipt_id

    async def inbox(self, widget: Widget, visitor: Visitor, **kwargs: Any) -> visitors.Inbox:
        return await visitors.inbox(self.db, widget.binding_id, visitor.id, **kwargs)

    async def unread(self, widget: Widget, visitor: Visitor) -> int:
        return await visitors.unread(self.db, widget.binding_id, visitor.id)

    async def read(self, widget: Widget, visitor: Visitor, up_to: int) -> None:
        marker = await visitors.mark_read(
            self.db, widget.binding_id, visitor.id, up_to, self.engine.clock.now()
        )
        if marker is not None:  # the visitor's other tabs clear their badge too
            await self.publisher.publish(
                widget.binding_id, visitor.id, {"type": "read", "up_to": marker}
            )

    async def close_sockets(self) -> None:
        """Shutting down: browsers reconnect (to another process, or to this one restarted)."""
        for socket in list(self.sockets):
            await socket.close(code=1001, message=b"server shutting down")

    async def close(self) -> None:
        await self.close_sockets()
        if self.bridge is not None:
            await self.bridge.close()
        await self.publisher.close()
        if self.redis is not None:
            await self.redis.aclose()


def build_service(
    engine: Engine, box: SecretBox, spawner: Spawner, options: WidgetOptions
) -> WidgetService:
    """Blocking parts only (no event loop needed); `start` runs the bridge once serving."""
    limiter: RateLimiter
    publisher: Publisher
    redis = bridge = None
    if options.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(options.redis_url, socket_timeout=5, socket_connect_timeout=5)
        limiter = RedisRateLimiter(redis)
        publisher = RedisPublisher(options.redis_url)
        bridge = RedisBridge(options.redis_url)
    else:
        limiter, publisher = LocalRateLimiter(), LocalPublisher()
    turns = WebTurns(engine, publisher, spawner, limiter, options.limits)
    return WidgetService(
        engine=engine,
        box=box,
        tokens=VisitorTokens(options.secret_key),
        turns=turns,
        publisher=publisher,
        bridge=bridge,
        redis=redis,
    )
