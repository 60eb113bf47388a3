"""The widget's one table: how far each visitor has read, for the unread badge.

A marker per identity rather than a status per message: a proactive message may be seen in an
open panel before the outbox has recorded it as sent, and a "read up to id N" marker that only
moves forward cannot be overwritten by that late bookkeeping.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, BigId, UTCDateTime


class WebVisitor(Base):
    __tablename__ = "web_visitors"

    identity_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("channel_identities.id", ondelete="CASCADE"), primary_key=True
    )
    read_up_to: Mapped[int] = mapped_column(BigId, default=0)  # a messages.id, not a foreign key
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
