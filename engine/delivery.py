"""The seam between the engine and the channels for sending: a `Sender` per channel binding, and
the named outcomes a provider can give. The outbox (proactive messages) and the webhook adapters
(replies) use the same senders; adapters implement them in `bots/`, the composition root hands
the engine a `SenderFactory`.

Each failure a provider can report maps to one exception below, so the outbox can apply one
documented policy per kind instead of parsing provider errors:

- RetryLater: rate limited or temporarily down (with `retry_after`): retried with backoff.
- RecipientBlocked: the person blocked the bot or opted out at the carrier: failed, and the
  identity is marked unreachable.
- OutsideWindow: WhatsApp's 24-hour window is closed for free text: a template, else skipped.
- Ambiguous: timed out after the request left, so it may have landed: not retried blindly.
- PermanentFailure: the provider will never accept this message: failed with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from engine.types import Channel, OutboundMessage


@dataclass(frozen=True)
class Recipient:
    """Where a message goes: one identity of a contact on one binding."""

    binding_id: int
    channel: Channel
    external_user_id: str  # Telegram chat id, "whatsapp:+4915…", widget visitor id
    contact_id: int | None = None  # known on the proactive path; a webhook reply has the address
    identity_id: int | None = None


@dataclass(frozen=True)
class TemplateRef:
    """A provider-approved template (WhatsApp Content SID) with its variables, for sends
    outside the 24-hour window."""

    content_sid: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider_message_ids: tuple[str, ...]  # one per part when a long text was split


class DeliveryError(Exception):
    """Base of the named send failures. `code` is the provider's own code, for the record."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RetryLater(DeliveryError):
    def __init__(
        self, message: str, *, retry_after: float | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class RecipientBlocked(DeliveryError):
    pass


class OutsideWindow(DeliveryError):
    pass


class Ambiguous(DeliveryError):
    """The request left and no answer came back: the message may or may not have arrived."""


class PermanentFailure(DeliveryError):
    pass


class Sender(Protocol):
    """Sends to one binding's provider. Implementations split long texts, render choices and
    media for the provider, enforce its timeouts and map its errors to the exceptions above."""

    async def send(
        self, recipient: Recipient, message: OutboundMessage, *, template: TemplateRef | None = None
    ) -> SendResult: ...

    async def close(self) -> None: ...


class SenderFactory(Protocol):
    """Builds (and may cache) the sender of a stored binding."""

    async def for_binding(self, binding_id: int) -> Sender: ...
