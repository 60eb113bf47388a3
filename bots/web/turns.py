"""One widget message through the pipeline, the same whether it came over the socket or the HTTP
fallback: rate limit → InboundMessage → claim (deduped on the visitor and the client's message
id, so a resend after a reconnect is recognized) → the turn, with a typing indicator and, when
the answer comes from a language model, its tokens streamed → each reply stored as sent, then
published to every open tab of the visitor.

A pressed choice button sends its payload; the label comes from the choices actually offered to
this person (a payload nobody offered is taken as plain text, never as a choice).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bots.http import Spawner
from bots.web import frames
from bots.web.hub import Publisher
from bots.web.sender import provider_id
from engine import channel_state
from engine.pipeline import Engine
from engine.ratelimit import RateLimiter
from engine.streaming import stream_to
from engine.types import Channel, InboundMessage, OutboundMessage

log = logging.getLogger(__name__)

RECENT_CHOICE_MESSAGES = 5


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many messages; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    per_minute: float = 30.0
    burst: int = 10


class WebTurns:
    def __init__(
        self,
        engine: Engine,
        publisher: Publisher,
        spawner: Spawner,
        limiter: RateLimiter,
        limits: Limits = Limits(),
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.spawner = spawner
        self.limiter = limiter
        self.limits = limits
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    async def claim(
        self, binding_id: int, visitor: str, send: frames.Send, locale: str | None = None
    ) -> tuple[int | None, InboundMessage]:
        """Claim the message; the receipt is None for a resend of a message claimed before.
        Raises RateLimited (and then nothing is stored)."""
        limit = (f"wl:{binding_id}:{visitor}", self.limits.per_minute / 60.0, self.limits.burst)
        wait = await self.limiter.acquire([limit])
        if wait > 0:
            raise RateLimited(wait)
        inbound = await self._inbound(binding_id, visitor, send, locale)
        return await self.engine.claim(inbound), inbound

    async def _inbound(
        self, binding_id: int, visitor: str, send: frames.Send, locale: str | None
    ) -> InboundMessage:
        text, choice = send.text, None
        if send.choice is not None:
            text = send.choice
            offered = await channel_state.recent_choices(
                self.engine.db, binding_id, visitor, messages=RECENT_CHOICE_MESSAGES
            )
            found = next((c for cs in offered for c in cs if c.payload == send.choice), None)
            if found is not None:
                choice = found.payload
                text = found.payload if found.payload.startswith("/") else found.label
        return InboundMessage(
            channel=Channel.WEB,
            binding_id=binding_id,
            external_user_id=visitor,
            # Namespaced by the visitor: one visitor's ids can never collide with another's.
            external_message_id=f"{visitor}:{send.client_id}",
            text=text,
            choice_payload=choice,
            locale=locale,
            received_at=self.engine.clock.now(),
            raw={"id": send.client_id, "text": send.text, "choice": send.choice},
        )

    def echo(self, inbound: InboundMessage, client_id: str) -> None:
        """Show what the visitor wrote in their other tabs (the sending tab already does)."""
        text = inbound.text or ""
        frame = frames.message(None, "in", text, None, inbound.received_at, client_id)
        publish = self.publisher.publish(
            inbound.binding_id, inbound.external_user_id, {"type": "message", "message": frame}
        )
        self.spawner.spawn(publish, name=f"web-echo-{client_id}")

    async def run(
        self, receipt_id: int, binding_id: int, visitor: str, turn: str
    ) -> list[dict[str, Any]]:
        """The turn and its replies, in order per visitor; returns the reply frames."""
        key = (binding_id, visitor)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                return await self._run(receipt_id, binding_id, visitor, turn)
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def _run(
        self, receipt_id: int, binding_id: int, visitor: str, turn: str
    ) -> list[dict[str, Any]]:
        publish = self.publisher.publish

        async def tokens(text: str) -> None:
            await publish(binding_id, visitor, {"type": "stream", "turn": turn, "text": text})

        shown = []
        await publish(binding_id, visitor, {"type": "typing", "on": True})
        try:
            with stream_to(tokens):
                reply = await self.engine.process(receipt_id)
            now = self.engine.clock.now()
            # Stored as sent before they are published, all in one transaction: a tab that
            # reconnects in between finds them in the history instead of missing them.
            ids = [m.message_id for m in reply.messages if m.message_id is not None]
            await self.engine.mark_sent_many([(i, provider_id(i)) for i in ids], now)
            for message in reply.messages:
                shown.append(await self._deliver(binding_id, visitor, message, turn, now))
        finally:  # typing stops once the replies are out: the browser knows the turn is over
            await publish(binding_id, visitor, {"type": "typing", "on": False})
        return shown

    async def _deliver(
        self, binding_id: int, visitor: str, message: OutboundMessage, turn: str, now: datetime
    ) -> dict[str, Any]:
        frame = frames.message(message.message_id, "out", message.text, message.payload_json(), now)
        frame["turn"] = turn
        await self.publisher.publish(binding_id, visitor, {"type": "message", "message": frame})
        return frame
