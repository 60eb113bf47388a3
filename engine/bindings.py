"""Channel bindings: the connections of a creator to channels."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.models import ChannelBinding, Creator
from engine.types import Channel


def new_public_key() -> str:
    return secrets.token_urlsafe(18)


async def create_binding(
    session: AsyncSession,
    creator: Creator,
    channel: Channel,
    *,
    name: str,
    now: datetime,
    config: dict[str, Any] | None = None,
) -> ChannelBinding:
    binding = ChannelBinding(
        creator_id=creator.id,
        channel=channel.value,
        name=name,
        public_key=new_public_key(),
        config=config or {},
        created_at=now,
    )
    session.add(binding)
    await session.flush()
    return binding


async def terminal_binding(
    session: AsyncSession, creator: Creator, now: datetime
) -> ChannelBinding:
    """The creator's terminal binding (for `coachbot chat`), created on first use."""
    binding = await session.scalar(
        select(ChannelBinding)
        .where(
            ChannelBinding.creator_id == creator.id,
            ChannelBinding.channel == Channel.TERMINAL.value,
        )
        .order_by(ChannelBinding.id)
        .limit(1)
    )
    if binding is None:
        binding = await create_binding(
            session, creator, Channel.TERMINAL, name="Terminal (coachbot chat)", now=now
        )
    return binding
