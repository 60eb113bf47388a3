"""What the webhook adapters share: the background spawner they hand work to once an inbound is
claimed, and the delivery of a turn's reply through a channel sender.

A webhook claims the inbound (durably, deduped), answers its provider 200 at once, and leaves
the turn to `ReplyDelivery.run` in the background: produce the reply (`engine.process`), send
each message in order, and record the outcome on the stored message. One person's replies go
out in the order of their turns: runs for the same recipient queue on a lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from engine import channel_state
from engine.delivery import (
    Ambiguous,
    DeliveryError,
    Recipient,
    RecipientBlocked,
    RetryLater,
    Sender,
    SenderFactory,
    SendResult,
)
from engine.pipeline import Engine
from engine.types import OutboundMessage

log = logging.getLogger(__name__)

MAX_RETRY_WAIT = 30.0  # seconds we wait for a rate limit before giving a reply up
MAX_ATTEMPTS = 3


class Spawner(Protocol):
    """Runs a coroutine in the background, owned by the web app (see config.background)."""

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None: ...


class ReplyDelivery:
    def __init__(self, engine: Engine, senders: SenderFactory) -> None:
        self.engine = engine
        self.senders = senders
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    async def run(self, receipt_id: int, recipient: Recipient) -> None:
        key = (recipient.binding_id, recipient.external_user_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                await self._run(receipt_id, recipient)
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def _run(self, receipt_id: int, recipient: Recipient) -> None:
        reply = await self.engine.process(receipt_id)
        if reply.duplicate or not reply.messages:
            return
        # (The turn itself cleared any "unreachable" mark on this identity: they just wrote.)
        sender = await self.senders.for_binding(recipient.binding_id)
        sent: list[tuple[int, str | None]] = []
        try:
            await self._send_all(reply.messages, sender, recipient, sent)
        finally:  # one transaction records everything that went out, whatever happened after
            await self.engine.mark_sent_many(sent)

    async def _send_all(
        self,
        messages: Sequence[OutboundMessage],
        sender: Sender,
        recipient: Recipient,
        sent: list[tuple[int, str | None]],
    ) -> None:
        db = self.engine.db
        for position, message in enumerate(messages):
            try:
                result = await self._send(sender, recipient, message)
            except (RetryLater, Ambiguous) as exc:
                # Not now (or maybe already): the outbox retries this and what follows, in order,
                # with backoff; an ambiguous send is marked so a duplicate is accounted for.
                rest = [m.message_id for m in messages[position:] if m.message_id]
                log.info("reply handed to the outbox", extra={"reason": type(exc).__name__})
                await self.engine.defer_replies(rest, ambiguous=isinstance(exc, Ambiguous))
                return
            except RecipientBlocked as exc:
                await channel_state.mark_unreachable(
                    db, recipient.binding_id, recipient.external_user_id, self.engine.clock.now()
                )
                await self._failed(message.message_id, f"blocked: {exc}")
                return  # the rest would fail the same way
            except DeliveryError as exc:
                await self._failed(message.message_id, f"{type(exc).__name__}: {exc}")
                continue
            if message.message_id is not None and result.provider_message_ids:
                ids = result.provider_message_ids
                sent.append((message.message_id, ids[0]))
                if len(ids) > 1:
                    await channel_state.record_parts(
                        db, recipient.binding_id, message.message_id, ids, self.engine.clock.now()
                    )

    async def _send(
        self, sender: Sender, recipient: Recipient, message: OutboundMessage
    ) -> SendResult:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await sender.send(recipient, message)
            except RetryLater as exc:
                wait = exc.retry_after if exc.retry_after is not None else 2.0**attempt
                if attempt == MAX_ATTEMPTS or wait > MAX_RETRY_WAIT:
                    raise
                log.info("rate limited; retrying", extra={"retry_after": wait})
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _failed(self, message_id: int | None, error: str) -> None:
        log.warning("reply not delivered", extra={"message_id": message_id, "error": error})
        if message_id is not None:
            await self.engine.mark_failed(message_id, error)
