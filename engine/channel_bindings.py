"""Provider channel bindings (Telegram bots, Twilio WhatsApp senders) with their secrets sealed at
rest: saving, finding by the public key in a webhook URL, listing and removing.

A binding's `config` holds what is not secret (the bot's username, the sender number); its
`secrets` column holds the sealed tokens (see `engine.secrets`). Decrypted secrets live only in
a `BindingInfo` in memory and are never logged (its repr hides them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.binding_changes import CHANGES, Remembered
from engine.bindings import new_public_key
from engine.db import Database
from engine.models import ChannelBinding, Creator
from engine.secrets import SecretBox, SecretsUnreadable
from engine.types import Channel


@dataclass(frozen=True)
class BindingInfo:
    """A binding as adapters and senders need it, secrets opened."""

    id: int
    creator_id: int
    channel: Channel
    name: str
    public_key: str
    enabled: bool
    config: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    secrets_unreadable: bool = False  # sealed with another secret key: add the binding again


def _info(binding: ChannelBinding, box: SecretBox) -> BindingInfo:
    try:
        secrets, unreadable = box.open(binding.secrets), False
    except SecretsUnreadable:
        secrets, unreadable = {}, True
    return BindingInfo(
        id=binding.id,
        creator_id=binding.creator_id,
        channel=Channel(binding.channel),
        name=binding.name,
        public_key=binding.public_key,
        enabled=binding.enabled,
        config=dict(binding.config or {}),
        secrets=secrets,
        secrets_unreadable=unreadable,
    )


async def add_binding(
    db: Database,
    box: SecretBox,
    creator: Creator,
    channel: Channel,
    *,
    name: str,
    now: datetime,
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    public_key: str | None = None,
) -> BindingInfo:
    async with db.transaction() as session:
        binding = ChannelBinding(
            creator_id=creator.id,
            channel=channel.value,
            name=name,
            public_key=public_key or new_public_key(),
            config=dict(config),
            secrets=box.seal(secrets),
            created_at=now,
        )
        session.add(binding)
        await session.flush()
        return _info(binding, box)


async def update_binding(
    db: Database,
    box: SecretBox,
    binding_id: int,
    *,
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    enabled: bool | None = None,
) -> BindingInfo:
    async with db.transaction() as session:
        binding = await session.get(ChannelBinding, binding_id, with_for_update=True)
        if binding is None:
            raise LookupError(f"no channel binding {binding_id}")
        if config is not None:
            binding.config = dict(config)
        if secrets is not None:
            binding.secrets = box.seal(secrets)
        if enabled is not None:
            binding.enabled = enabled
        await session.flush()
        info = _info(binding, box)
    CHANGES.heard()  # committed: this process's caches forget it (`announce` tells the others)
    return info


async def load_binding(db: Database, box: SecretBox, binding_id: int) -> BindingInfo | None:
    async with db.sessions() as session:
        binding = await session.get(ChannelBinding, binding_id)
        return _info(binding, box) if binding is not None else None


async def find_binding(
    db: Database, box: SecretBox, public_key: str, channel: Channel
) -> BindingInfo | None:
    """The enabled binding a webhook URL names, or None (unknown, disabled or another channel)."""
    if not public_key or len(public_key) > 64:
        return None
    async with db.sessions() as session:
        binding = await session.scalar(
            select(ChannelBinding).where(ChannelBinding.public_key == public_key)
        )
        if binding is None or not binding.enabled or binding.channel != channel.value:
            return None
        return _info(binding, box)


class WebhookBindings:
    """`find_binding` remembered for a few seconds per process: every inbound of a busy bot asks
    for its binding, and opening sealed secrets costs CPU. Any binding change this process hears
    of (`engine.binding_changes`) makes it look every binding up again; one it does not hear of
    is seen within `REMEMBER_SECONDS` (as `Engine.claim` sees it). A remembered binding that the
    request's credentials do not fit is looked up again too (`verified`)."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box
        self._seen: dict[tuple[str, Channel], Remembered[BindingInfo | None]] = {}

    async def find(self, public_key: str, channel: Channel) -> BindingInfo | None:
        return (await self._find(public_key, channel))[0]

    async def verified(
        self, public_key: str, channel: Channel, accepts: Callable[[BindingInfo], bool]
    ) -> tuple[BindingInfo | None, bool]:
        """The binding, and whether the request's credentials fit it (`accepts`). A remembered
        binding they do not fit is looked up again: its secret may have changed since."""
        info, remembered = await self._find(public_key, channel)
        if info is not None and accepts(info):
            return info, True
        if remembered:
            info, _ = await self._find(public_key, channel, fresh=True)
        return info, info is not None and accepts(info)

    async def _find(
        self, public_key: str, channel: Channel, *, fresh: bool = False
    ) -> tuple[BindingInfo | None, bool]:
        """The binding, and whether it came from memory."""
        key = (public_key, channel)
        # Read before the lookup: a change committed while it runs leaves the entry stale.
        changes = CHANGES.count
        cached = self._seen.get(key)
        if not fresh and cached is not None and CHANGES.trusts(cached, REMEMBER_SECONDS):
            return cached.value, True
        info = await find_binding(self.db, self.box, public_key, channel)
        if len(self._seen) >= MAX_REMEMBERED:  # unknown keys must not grow it without bound
            self._seen.clear()
        self._seen[key] = Remembered(info, changes)
        return info, False


REMEMBER_SECONDS = 5.0
MAX_REMEMBERED = 10_000


async def list_bindings(db: Database, box: SecretBox, creator_id: int) -> list[BindingInfo]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(ChannelBinding)
            .where(ChannelBinding.creator_id == creator_id)
            .order_by(ChannelBinding.id)
        )
        return [_info(b, box) for b in rows]


async def remove_binding(db: Database, binding_id: int) -> None:
    """Switch the binding off and forget its secrets. The row stays, so its identities, contacts
    and history stay too, and adding the same bot or number again picks them up (see
    `find_reusable`)."""
    async with db.transaction() as session:
        binding = await session.get(ChannelBinding, binding_id, with_for_update=True)
        if binding is not None:
            binding.enabled = False
            binding.secrets = None
    CHANGES.heard()


async def find_reusable(
    db: Database, box: SecretBox, creator_id: int, channel: Channel, match: Mapping[str, Any]
) -> BindingInfo | None:
    """The creator's binding of `channel` whose config has all of `match` (e.g. the same bot
    id), enabled or not: adding a bot again reuses its row instead of forking its contacts."""
    for info in await list_bindings(db, box, creator_id):
        if info.channel is channel and all(info.config.get(k) == v for k, v in match.items()):
            return info
    return None
