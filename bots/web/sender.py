"""The web channel's `Sender`: what the outbox (and a turn's reply) hands to a widget visitor.

The message is already stored in the visitor's conversation when it reaches a sender, and the
widget loads that history whenever it connects. So sending means: publish the message to the
visitor's open sockets (in this process, or through Redis to whichever `serve` process holds
them) and report it sent. A visitor with no page open gets it in their inbox: the stored message
counts as unread until they see it, and the launcher shows the count on their next visit.

So "sent" on the web means "delivered to the visitor's inbox", live or not. The outbox never
retries a web message for an absent visitor (there is nobody to retry for, and the message is
not lost), and opt-out, quiet hours and the daily cap apply as on every channel.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bots.web import frames
from bots.web.hub import Publisher
from engine.db import Database
from engine.delivery import Recipient, Sender, SenderFactory, SendResult, TemplateRef
from engine.models import ChannelBinding
from engine.types import Channel, OutboundMessage


def provider_id(message_id: int | None) -> str:
    return f"web:{message_id}" if message_id is not None else "web"


class WebSender:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    async def send(
        self, recipient: Recipient, message: OutboundMessage, *, template: TemplateRef | None = None
    ) -> SendResult:
        # No 24-hour window and no templates on the web: a template request sends the text.
        frame = frames.message(
            message.message_id,
            "out",
            message.text,
            message.payload_json(),
            datetime.now(UTC),
        )
        await self.publisher.publish(
            recipient.binding_id, recipient.external_user_id, {"type": "message", "message": frame}
        )
        return SendResult((provider_id(message.message_id),))

    async def close(self) -> None:
        await self.publisher.close()


class WithWebSender:
    """A SenderFactory that hands out the web sender for widget bindings and asks `inner` (the
    Telegram and WhatsApp senders) for the rest. A binding's channel never changes, so it is
    looked up once per binding."""

    def __init__(self, inner: SenderFactory, web: WebSender, db: Database) -> None:
        self.inner = inner
        self.web = web
        self.db = db
        self._channels: dict[int, asyncio.Future[str | None]] = {}

    async def for_binding(self, binding_id: int) -> Sender:
        # One lookup per binding, however many sends ask at once (a delivery batch starts
        # dozens together); a failed lookup is forgotten so the next send tries again.
        channel = self._channels.get(binding_id)
        if channel is None:
            channel = asyncio.ensure_future(self._channel(binding_id))
            self._channels[binding_id] = channel
        try:
            value = await asyncio.shield(channel)
        except Exception:
            self._channels.pop(binding_id, None)
            raise
        if value == Channel.WEB.value:
            return self.web
        return await self.inner.for_binding(binding_id)

    async def _channel(self, binding_id: int) -> str | None:
        async with self.db.sessions() as session:
            binding = await session.get(ChannelBinding, binding_id)
            return binding.channel if binding is not None else None

    async def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()
        await self.web.close()
