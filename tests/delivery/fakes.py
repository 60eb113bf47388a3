"""An in-process sender whose outcomes a test programs, and a factory that hands it out."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.delivery import DeliveryError, Recipient, Sender, SendResult, TemplateRef
from engine.types import OutboundMessage

_ids = itertools.count(1)


@dataclass
class Sent:
    recipient: Recipient
    message: OutboundMessage
    template: TemplateRef | None


@dataclass
class FakeSender:
    sent: list[Sent] = field(default_factory=list)
    failures: list[DeliveryError | None] = field(default_factory=list)  # popped per send
    fail_when: Callable[[Recipient, OutboundMessage], DeliveryError | None] | None = None

    async def send(
        self, recipient: Recipient, message: OutboundMessage, *, template: TemplateRef | None = None
    ) -> SendResult:
        error = self.failures.pop(0) if self.failures else None
        if error is None and self.fail_when is not None:
            error = self.fail_when(recipient, message)
        if error is not None:
            raise error
        self.sent.append(Sent(recipient, message, template))
        return SendResult((f"fake-{next(_ids)}",))

    async def close(self) -> None:
        return None


@dataclass
class FakeSenders:
    by_binding: dict[int, FakeSender] = field(default_factory=dict)

    async def for_binding(self, binding_id: int) -> Sender:
        if binding_id not in self.by_binding:
            raise LookupError(f"no fake sender for binding {binding_id}")
        return self.by_binding[binding_id]
