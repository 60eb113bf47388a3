"""What the hub needs from the rest of the system, handed in by the composition root
(config.web): the database and clock, the knowledge base (opened on first use), the answerer for
"test a question", the channel connector (Telegram, WhatsApp and widget set-up live in `bots`
and `config`, which the hub may not import), a way to run work after a response, and the
engine's turn pipeline ("Try your bot" talks to the coach's bot through it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from engine.channel_bindings import BindingInfo
from engine.clock import Clock
from engine.db import Database
from engine.models import Creator

if TYPE_CHECKING:
    from engine.answering import KnowledgeAnswerer
    from engine.pipeline import Engine
    from knowledge.service import KnowledgeService


class ChannelError(ValueError):
    """A channel could not be connected; the message says why (shown to the coach)."""


class ChannelConnector(Protocol):
    async def bindings(self, creator_id: int) -> list[BindingInfo]: ...
    async def connect_telegram(self, creator: Creator, token: str) -> BindingInfo: ...
    async def connect_whatsapp(
        self,
        creator: Creator,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        messaging_service: str | None,
    ) -> BindingInfo: ...
    async def set_config(self, binding_id: int, config: Mapping[str, Any]) -> BindingInfo: ...
    async def remove(self, binding: BindingInfo) -> None: ...
    def webhook_urls(self, binding: BindingInfo) -> list[tuple[str, str]]: ...
    # The web widget: its validated config (raises ChannelError), adding one (returns the
    # binding and the widget secret, shown once) and its embed snippet.
    def widget_config(self, **fields: Any) -> dict[str, Any]: ...
    async def add_widget(
        self, creator: Creator, config: Mapping[str, Any]
    ) -> tuple[BindingInfo, str]: ...
    def widget_snippet(self, public_key: str) -> str: ...


Spawn = Callable[[Coroutine[Any, Any, None], str], None]
# Hands stored documents to indexing: the workers' queue in scaled mode, else this process.
Index = Callable[["KnowledgeService", list[int]], Awaitable[None]]


@dataclass
class HubServices:
    db: Database
    clock: Clock
    public_url: str
    knowledge: Callable[[], Awaitable[KnowledgeService]]
    answerer: Callable[[KnowledgeService], KnowledgeAnswerer]
    channels: ChannelConnector
    spawn: Spawn
    engine: Engine  # the turn pipeline, for "Try your bot"
    max_upload_bytes: int = 25_000_000
    index: Index | None = None  # None: index in this process's background tasks

    async def index_documents(self, service: KnowledgeService, ids: list[int]) -> None:
        """Index stored documents in the background (queued ones are shown as such)."""
        if self.index is not None:
            await self.index(service, ids)
            return
        from creator_hub.routes.knowledge import index_later

        self.spawn(index_later(service, ids), f"index documents {ids}")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")
