"""Server-side sessions. The cookie carries a random token; the table keeps its SHA-256, the
account, the current workspace, the CSRF token and a one-shot flash message. Signing in always
makes a new session (and a new CSRF token), so a token planted before sign-in is worthless.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from creator_hub.accounts import digest, role_in
from creator_hub.models import Account, HubSession
from engine.models import Creator

LIFETIME = timedelta(days=7)
IDLE = timedelta(days=2)
TOUCH_EVERY = timedelta(minutes=5)  # refresh last_seen_at at most this often


@dataclass
class Signed:
    """Who is signed in, and in which workspace with which role (None before choosing one)."""

    session: HubSession
    account: Account
    creator: Creator | None
    role: str | None


async def start(
    session: AsyncSession, account: Account, creator_id: int | None, now: datetime
) -> str:
    raw = secrets.token_urlsafe(32)
    session.add(
        HubSession(
            token_hash=digest(raw),
            account_id=account.id,
            creator_id=creator_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + LIFETIME,
        )
    )
    await session.flush()
    return raw


async def load(session: AsyncSession, raw: str, now: datetime) -> Signed | None:
    if not raw or len(raw) > 100:
        return None
    row = await session.scalar(select(HubSession).where(HubSession.token_hash == digest(raw)))
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at + IDLE <= now:
        await session.delete(row)
        return None
    account = await session.get(Account, row.account_id)
    if account is None:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
    creator = role = None
    if row.creator_id is not None:
        role = await role_in(session, account.id, row.creator_id)
        creator = await session.get(Creator, row.creator_id) if role else None
    return Signed(row, account, creator, role if creator else None)


async def end(session: AsyncSession, raw: str) -> None:
    await session.execute(delete(HubSession).where(HubSession.token_hash == digest(raw)))


async def switch(session: AsyncSession, signed: Signed, creator_id: int) -> bool:
    """Make `creator_id` the current workspace, if the account is a member of it."""
    if await role_in(session, signed.account.id, creator_id) is None:
        return False
    row = await session.get(HubSession, signed.session.id)
    if row is not None:
        row.creator_id = creator_id
    return True


async def flash(session: AsyncSession, session_id: int, message: str) -> None:
    row = await session.get(HubSession, session_id)
    if row is not None:
        row.flash = message[:1000]
