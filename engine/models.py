"""Core tables: creators, channel bindings, contacts and their channel identities, conversations,
messages, and inbound receipts (the dedupe claim).

Programs and knowledge keep their own tables in their packages, on the same `Base`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base, BigId, Json, UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Creator(Base):
    """A coach's workspace: their persona, policies, bindings, contacts and content."""

    __tablename__ = "creators"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    bot_name: Mapped[str] = mapped_column(String(100))
    persona: Mapped[str] = mapped_column(Text, default="")
    greeting: Mapped[str] = mapped_column(Text, default="")
    crisis_message: Mapped[str | None] = mapped_column(Text)
    helpline: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(35), default="en")
    # Delivery policies for proactive messages, in each contact's local time.
    quiet_hours_start: Mapped[str] = mapped_column(
        String(5), default="21:00", server_default="21:00"
    )
    quiet_hours_end: Mapped[str] = mapped_column(String(5), default="08:00", server_default="08:00")
    daily_proactive_cap: Mapped[int] = mapped_column(default=4, server_default="4")
    # Re-engagement rules: a nudge after this many days of silence, and a reminder at this local
    # time when a streak is about to break (None: off).
    inactivity_days: Mapped[int | None] = mapped_column()
    inactivity_message: Mapped[str | None] = mapped_column(Text)
    streak_reminder_at: Mapped[str | None] = mapped_column(String(5))
    # The creator's own opt-out and opt-in words, on top of the defaults (engine.keywords), stored
    # normalized (`keyword()`); validated by engine.creator_settings.
    opt_out_words: Mapped[list[str]] = mapped_column(
        Json, default=list, server_default=text("'[]'")
    )
    opt_in_words: Mapped[list[str]] = mapped_column(Json, default=list, server_default=text("'[]'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    bindings: Mapped[list[ChannelBinding]] = relationship(back_populates="creator")


class ChannelBinding(Base):
    """One connected channel of a creator: a Telegram bot, a WhatsApp sender, a widget, the
    terminal. `public_key` names it in webhook URLs so ids are not enumerable."""

    __tablename__ = "channel_bindings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)  # encrypted with the app's secret key
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    creator: Mapped[Creator] = relationship(back_populates="bindings")

    __table_args__ = (Index(None, "creator_id", "channel"),)


class Contact(Base):
    """A coachee of one creator, across all their channels."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str | None] = mapped_column(String(200))
    first_name: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA; None: the creator's
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where proactive messages go; None: the identity the contact wrote from most recently.
    # A plain id, not a foreign key: identities already point at contacts, and a cycle of
    # foreign keys makes deletes and SQLite's batch migrations fragile.
    preferred_identity_id: Mapped[int | None] = mapped_column(BigId)

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="contact")


class ChannelIdentity(Base):
    """How a contact appears on one binding (a Telegram chat id, a WhatsApp number, a visitor)."""

    __tablename__ = "channel_identities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    binding_id: Mapped[int] = mapped_column(ForeignKey("channel_bindings.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    external_user_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # e.g. bot blocked

    contact: Mapped[Contact] = relationship(back_populates="identities")

    __table_args__ = (UniqueConstraint("binding_id", "external_user_id"),)


class Conversation(Base):
    """A stretch of talk with a contact. One is open at a time; /reset closes it."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flag_reason: Mapped[str | None] = mapped_column(String(50))  # e.g. "crisis"
    handoff_active: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index(None, "contact_id", "status"),
        Index(None, "creator_id", "flagged_at"),
    )


class InboundReceipt(Base):
    """The atomic claim on a provider message: stored before anything else happens, unique on
    (binding, external message id), so a redelivery is recognized however it arrives."""

    __tablename__ = "inbound_receipts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    binding_id: Mapped[int] = mapped_column(ForeignKey("channel_bindings.id", ondelete="CASCADE"))
    external_message_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="claimed")  # claimed|processed|failed
    inbound: Mapped[dict[str, Any]] = mapped_column(Json)  # InboundMessage.to_json()
    raw: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # the provider payload
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("binding_id", "external_message_id"),
        Index(None, "status", "claimed_at"),
    )


# (A clause built here: inside Message, `text` is the column.)
UNSENT_REPLY = text("direction = 'out' AND status = 'pending' AND reply_to_id IS NOT NULL")


class Message(Base):
    """A stored message, inbound or outbound. Outbound rows carry the provider's id and delivery
    status once the adapter reports them."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    channel: Mapped[str] = mapped_column(String(20))
    binding_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_bindings.id", ondelete="SET NULL")
    )
    receipt_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_receipts.id", ondelete="SET NULL"), unique=True
    )
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # choices, media, files
    route: Mapped[str | None] = mapped_column(String(30))  # which stage produced/handled it
    status: Mapped[str] = mapped_column(String(20))  # in: received; out: pending|sent|failed
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(None, "conversation_id", "id"),
        Index(None, "binding_id", "provider_message_id"),
        # The scheduler's search for replies a dead serve never sent: a handful of rows.
        Index(
            "ix_messages_unsent_replies",
            "id",
            postgresql_where=UNSENT_REPLY,
            sqlite_where=UNSENT_REPLY,
        ),
    )


class ScheduledWork(Base):
    """Due work: a program wake-up, a nudge, a reminder, a broadcast. SQL is the schedule: a row
    is claimed atomically when due, handled by an idempotent handler, and marked done. `key`
    makes scheduling the same work twice a no-op (e.g. "wake:<enrollment>:<occurrence>")."""

    __tablename__ = "scheduled_work"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(BigId)  # no FK: engine must not need programs
    payload: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|claimed|done
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index(None, "state", "due_at"),)


class Outbox(Base):
    """One proactive send: the message (already in the conversation) and its delivery state.
    pending → queued → sending → sent | failed | skipped (each end state with a reason)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))  # program | nudge | reminder | broadcast | reply
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    binding_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_bindings.id", ondelete="SET NULL")
    )
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_identities.id", ondelete="SET NULL")
    )
    template_key: Mapped[str | None] = mapped_column(String(200))  # for the WhatsApp window
    state: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(String(60))
    attempts: Mapped[int] = mapped_column(default=0)
    ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_message_ids: Mapped[list[str]] = mapped_column(Json, default=list)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index(None, "state", "next_attempt_at"),
        Index(None, "contact_id", "sent_at"),
        Index(None, "message_id"),  # "has this message an outbox row?", and deletes cascading
    )
