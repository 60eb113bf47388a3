"""The hub's own tables: coach accounts and their memberships in creator workspaces, server-side
sessions, one-time tokens (password resets, invitations), API keys and broadcasts.

Secrets are stored only as SHA-256 digests (session tokens, reset and invitation tokens, API
keys): a copy of the database lets nobody sign in. Passwords are Argon2id (engine.passwords).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, BigId, Json, UTCDateTime
from engine.models import utcnow

OWNER, COLLABORATOR = "owner", "collaborator"
ROLES = (OWNER, COLLABORATOR)


class Account(Base):
    """A person who signs in to the hub. One account may work in several workspaces."""

    __tablename__ = "hub_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Throttling: failures in the current window, when it started, and a lock while it holds.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Membership(Base):
    """An account's role in a creator's workspace: owner or collaborator."""

    __tablename__ = "hub_memberships"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("hub_accounts.id", ondelete="CASCADE"))
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "creator_id"),)


class HubSession(Base):
    """A signed-in browser. The cookie holds a random token; only its digest is stored."""

    __tablename__ = "hub_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("hub_accounts.id", ondelete="CASCADE"), index=True
    )
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creators.id", ondelete="SET NULL"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    flash: Mapped[str | None] = mapped_column(Text)  # one message shown on the next page
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OneTimeToken(Base):
    """A password-reset or invitation link's token (digest only), single use, expiring."""

    __tablename__ = "hub_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))  # reset | invite
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("hub_accounts.id", ondelete="CASCADE")
    )
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """A creator's REST API key. The key is shown once; `prefix` tells keys apart in the list."""

    __tablename__ = "hub_api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Broadcast(Base):
    """A one-off message to a segment, sent at a local time through the outbox."""

    __tablename__ = "hub_broadcasts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    segment: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    local_date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD in each contact's zone
    local_time: Mapped[str] = mapped_column(String(5))  # HH:MM
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index(None, "creator_id", "created_at"),)
