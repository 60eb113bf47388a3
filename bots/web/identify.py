"""`coachbot.identify({id, name, hash})`: the embedder says which of their users is on the page,
with `hash` = hex HMAC-SHA256 of the id under the widget secret, computed on their server (the
secret never reaches the browser). A wrong or missing hash is refused.

Once verified, the visitor becomes `u:<id>` on this widget, the identity of the embedder's user:
- if that user was never seen, the anonymous visitor's identity is renamed to it, so what they
  wrote before signing in stays theirs;
- if the user is known (another browser, or linked to Telegram or WhatsApp with `/link`), the
  anonymous visitor's contact is merged into the user's contact (`engine.contact_merge`: both
  histories kept) and the anonymous identity is dropped; the coachee carries on where they were,
  on every channel.
An identified visitor who identifies as someone else is switched, never merged: two known users
are never joined by a browser. `coachbot.reset()` (a new anonymous visitor) is what an embedder
calls on sign-out.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bots.web.tokens import identified_visitor_id, valid_user_id
from bots.web.widgets import Widget, identify_hash
from engine.contact_merge import merge_contacts
from engine.contacts import lock_contact, resolve_identity
from engine.db import Database
from engine.models import ChannelBinding, ChannelIdentity
from engine.types import Channel, InboundMessage

log = logging.getLogger(__name__)

MAX_NAME = 200


def verify(widget: Widget, user_id: object, given: object) -> bool:
    if not widget.secret or not valid_user_id(user_id) or not isinstance(given, str):
        return False
    assert isinstance(user_id, str)
    expected = identify_hash(widget.secret, user_id)
    return len(given) == len(expected) and hmac.compare_digest(given.lower(), expected)


def clean_name(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    name = " ".join(name.split())[:MAX_NAME]
    return name if name and name.isprintable() else None


async def _identity(session: AsyncSession, binding_id: int, visitor: str) -> ChannelIdentity | None:
    return await session.scalar(
        select(ChannelIdentity)
        .where(
            ChannelIdentity.binding_id == binding_id, ChannelIdentity.external_user_id == visitor
        )
        .with_for_update()
    )


async def join(
    db: Database,
    widget: Widget,
    current: str | None,
    user_id: str,
    name: str | None,
    now: datetime,
) -> str:
    """Make the browser's visitor (`current`, if any) the embedder's user; returns the visitor
    id to issue a token for."""
    target_id = identified_visitor_id(user_id)
    async with db.transaction() as session:
        binding = await session.get(ChannelBinding, widget.binding_id)
        if binding is None:
            raise LookupError(f"widget binding {widget.binding_id} disappeared")
        target = await _identity(session, binding.id, target_id)
        anonymous = None
        if current is not None and current.startswith("v:"):
            anonymous = await _identity(session, binding.id, current)
        if anonymous is not None and target is None:
            anonymous.external_user_id = target_id
            target = anonymous
        elif anonymous is not None and target is not None:
            if anonymous.contact_id != target.contact_id:
                await merge_contacts(session, anonymous.contact_id, target.contact_id, now)
            # The browser is the user now; its anonymous identity would only split deliveries.
            await session.execute(delete(ChannelIdentity).where(ChannelIdentity.id == anonymous.id))
            log.info("widget visitor joined a known user", extra={"binding_id": binding.id})
        if target is None:
            # The engine's own first-contact path: conflict-tolerant when two tabs identify at once.
            hello = InboundMessage(
                channel=Channel.WEB,
                binding_id=binding.id,
                external_user_id=target_id,
                external_message_id="identify",
                sender_name=name,
                received_at=now,
            )
            target = await resolve_identity(session, binding, hello, now)
        if name:
            contact = await lock_contact(session, target.contact_id)
            target.display_name = name
            contact.display_name = name
            contact.first_name = name.split()[0][:100]
    return target_id
