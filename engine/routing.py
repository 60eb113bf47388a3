"""The turn context and the route protocol.

A turn goes through an ordered list of routes (guardrails first, then commands, program answers,
free questions). Like python-telegram-bot's handlers, each route is split into a cheap, pure
`check` and an async `handle`; the first route whose check passes handles the turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from engine.models import ChannelBinding, ChannelIdentity, Contact, Conversation, Creator, Message
from engine.types import InboundMessage, Reply


@dataclass
class Turn:
    """Everything a route may look at or change while handling one inbound message. Routes write
    through `session`; the pipeline commits once the reply is stored."""

    session: AsyncSession
    inbound: InboundMessage
    creator: Creator
    binding: ChannelBinding
    contact: Contact
    identity: ChannelIdentity
    conversation: Conversation
    message: Message
    now: datetime
    data: dict[str, Any] = field(default_factory=dict)  # what routes loaded in `prepare`

    @property
    def text(self) -> str:
        return (self.inbound.text or "").strip()


class Route(Protocol):
    """A route may also define `async def prepare(self, turn)`: it runs before any check and may
    load what the check needs into `turn.data` (one query, not a decision)."""

    name: str

    def check(self, turn: Turn) -> bool:
        """Whether this route takes the turn. Pure and fast: no I/O."""
        ...

    async def handle(self, turn: Turn) -> Reply: ...


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        names = [r.name for r in routes]
        if len(set(names)) != len(names):
            raise ValueError(f"route names must be unique: {names}")
        self.routes = tuple(routes)

    async def prepare(self, turn: Turn) -> None:
        for route in self.routes:
            prepare = getattr(route, "prepare", None)
            if prepare is not None:
                await prepare(turn)

    def select(self, turn: Turn) -> Route:
        for route in self.routes:
            if route.check(turn):
                return route
        raise LookupError("no route took the turn; the last route must accept everything")
