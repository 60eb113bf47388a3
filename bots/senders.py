"""The SenderFactory of the channels: the sender of a stored binding, built from its decrypted
secrets and kept while the binding's secrets and config stay the same (a new token builds a new
client; the old one is closed)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass

from bots.telegram.client import make_bot
from bots.telegram.sender import TelegramSender
from bots.whatsapp.client import make_client
from bots.whatsapp.sender import WhatsAppSender
from bots.whatsapp.webhook import status_path
from engine.binding_changes import CHANGES, Remembered
from engine.channel_bindings import BindingInfo, load_binding
from engine.db import Database
from engine.delivery import PermanentFailure, Sender
from engine.secrets import SecretBox
from engine.types import Channel


@dataclass(frozen=True)
class ProviderUrls:
    telegram_api: str
    twilio_api: str
    public: str  # our own public base URL, for Twilio's status callbacks
    timeout: float = 10.0


def build_sender(binding: BindingInfo, urls: ProviderUrls) -> Sender:
    if binding.secrets_unreadable:
        raise PermanentFailure(f"binding {binding.id}: secrets unreadable with this secret key")
    if binding.channel is Channel.TELEGRAM:
        token = binding.secrets.get("token")
        if not token:
            raise PermanentFailure(f"binding {binding.id} has no bot token")
        return TelegramSender(make_bot(token, urls.telegram_api, timeout=urls.timeout))
    if binding.channel is Channel.WHATSAPP:
        sid = str(binding.config.get("account_sid", ""))
        token = binding.secrets.get("auth_token")
        if not sid or not token:
            raise PermanentFailure(f"binding {binding.id} has no Twilio credentials")
        client, transport = make_client(sid, token, urls.twilio_api, timeout=urls.timeout)
        return WhatsAppSender(
            client,
            transport,
            sender=binding.config.get("from") or None,
            messaging_service_sid=binding.config.get("messaging_service_sid") or None,
            status_callback=urls.public.rstrip("/") + status_path(binding.public_key),
        )
    raise PermanentFailure(f"binding {binding.id}: no sender for the {binding.channel} channel")


def _fingerprint(binding: BindingInfo) -> str:
    data = json.dumps([dict(binding.config), dict(binding.secrets)], sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


# A loaded binding (None: gone) and the fingerprint of its config and secrets.
Loaded = tuple[BindingInfo | None, str]

# How long a loaded binding is trusted: a delivery batch sends hundreds of messages through one
# binding. A coach's change (new token, switched off) takes effect at once in a process that
# hears of it (`engine.binding_changes`), and within this in one that does not.
BINDING_FRESH_SECONDS = 10.0


class ChannelSenders:
    def __init__(self, db: Database, box: SecretBox, urls: ProviderUrls) -> None:
        self.db = db
        self.box = box
        self.urls = urls
        self._senders: dict[int, tuple[str, Sender]] = {}
        # Each loaded binding with its fingerprint, computed once per load (not per send: a
        # batch sends hundreds of messages through one binding).
        self._loaded: dict[int, Remembered[Loaded]] = {}
        self._loading: dict[int, asyncio.Future[Remembered[Loaded]]] = {}
        self._lock = asyncio.Lock()

    async def _load(self, binding_id: int) -> Remembered[Loaded]:
        """The binding, with the count of binding changes heard before it was read: a change
        committed while it loads leaves it untrusted, for every send that waited on it."""
        changes = CHANGES.count
        binding = await load_binding(self.db, self.box, binding_id)
        return Remembered((binding, _fingerprint(binding) if binding is not None else ""), changes)

    async def _binding(self, binding_id: int) -> Loaded:
        cached = self._loaded.get(binding_id)
        if cached is not None and CHANGES.trusts(cached, BINDING_FRESH_SECONDS):
            return cached.value
        loading = self._loading.get(binding_id)
        if loading is None:  # the first of many concurrent sends loads it; the rest wait for it
            loading = asyncio.ensure_future(self._load(binding_id))
            self._loading[binding_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(binding_id, None))
        loaded = await asyncio.shield(loading)
        self._loaded[binding_id] = loaded
        return loaded.value

    async def for_binding(self, binding_id: int) -> Sender:
        binding, fingerprint = await self._binding(binding_id)
        if binding is None or not binding.enabled:
            raise PermanentFailure(f"channel binding {binding_id} is gone or switched off")
        async with self._lock:
            cached = self._senders.get(binding_id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            sender = build_sender(binding, self.urls)
            self._senders[binding_id] = (fingerprint, sender)
        if cached is not None:
            await cached[1].close()
        return sender

    async def close(self) -> None:
        senders, self._senders = list(self._senders.values()), {}
        for _, sender in senders:
            await sender.close()
