"""Tables of the channels issue: one-time link codes (one coachee across channels), the attempts
that rate-limit them, and provider delivery events (status callbacks, deduped on sid + status)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, BigId, UTCDateTime


class LinkCode(Base):
    """A short code a contact asked for on one channel (`/link`), to be sent from another.

    Life: issued (expires_at) → claimed by another identity, which must confirm (claimed_at,
    claimed_by_identity_id) → used (used_at). A code is single-use and one claim holds it."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("channel_identities.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_identities.id", ondelete="SET NULL"), index=True
    )
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("creator_id", "code"),)


class LinkAttempt(Base):
    """A code issued ("issue") or a wrong code tried ("miss"): counted to rate-limit both."""

    __tablename__ = "link_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index(None, "contact_id", "kind", "at"),)


class DeliveryEvent(Base):
    """One delivery status a provider reported for one of its message ids (a Twilio status
    callback), or "sent" recorded by us for each part of a split message. Unique on (binding,
    provider id, status): a callback delivered twice is stored once."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    binding_id: Mapped[int] = mapped_column(ForeignKey("channel_bindings.id", ondelete="CASCADE"))
    provider_message_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    error_code: Mapped[str | None] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("binding_id", "provider_message_id", "status"),)
