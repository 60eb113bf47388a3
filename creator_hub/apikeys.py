"""Per-creator REST API keys: `cbk_<prefix>_<secret>`. Only the SHA-256 of the whole key is
stored; the prefix tells keys apart in the hub. A request's creator is the key's creator, never
a parameter."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from creator_hub.accounts import digest
from creator_hub.models import ApiKey
from engine.models import Creator

TOUCH_EVERY = timedelta(minutes=1)


class ApiKeyError(ValueError):
    pass


async def create_key(
    session: AsyncSession, creator_id: int, name: str, now: datetime
) -> tuple[ApiKey, str]:
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise ApiKeyError("give the key a name (up to 100 characters), e.g. 'Zapier'")
    prefix = secrets.token_hex(4)
    raw = f"cbk_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        creator_id=creator_id, name=name, prefix=prefix, key_hash=digest(raw), created_at=now
    )
    session.add(key)
    await session.flush()
    return key, raw


async def list_keys(session: AsyncSession, creator_id: int) -> list[ApiKey]:
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.creator_id == creator_id).order_by(ApiKey.id.desc())
    )
    return list(rows)


async def revoke_key(session: AsyncSession, creator_id: int, key_id: int) -> bool:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.creator_id == creator_id)
        .values(revoked=True)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def creator_for_key(session: AsyncSession, raw: str, now: datetime) -> Creator | None:
    if not raw.startswith("cbk_") or len(raw) > 200:
        return None
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(raw)))
    if key is None or key.revoked:
        return None
    if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY:
        key.last_used_at = now
    return await session.get(Creator, key.creator_id)
