"""One coachee across channels: `/link` gives a short one-time code on one channel; sending
`/link CODE` on another asks for confirmation, and `/link yes` joins the two contacts (see
`engine.contact_merge` for how their histories are combined). `/unlink` detaches the channel it
is sent on into a contact of its own.

Codes: 6 digits, valid 10 minutes, single use, unique among a creator's live codes. A contact
may ask for 5 codes an hour and try 5 wrong codes an hour; a code claimed by one chat cannot be
claimed by another (so guessing stops at the first claim), and the claim must be confirmed
within 10 minutes.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import delete, func, select

from engine.channel_models import LinkAttempt, LinkCode
from engine.commands import Command
from engine.contact_merge import detach_identity, merge_contacts
from engine.contacts import open_conversation
from engine.db import upsert_insert
from engine.models import ChannelBinding, ChannelIdentity
from engine.routing import Turn
from engine.types import Choice, Reply

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
CONFIRM_TTL = timedelta(minutes=10)
RATE_WINDOW = timedelta(hours=1)
MAX_CODES_PER_WINDOW = 5
MAX_MISSES_PER_WINDOW = 5

CONFIRM = "/link yes"
CANCEL = "/link no"

_CHANNEL_NAMES = {
    "telegram": "Telegram chat",
    "whatsapp": "WhatsApp chat",
    "web": "web chat",
    "terminal": "terminal chat",
}


def channel_name(channel: str) -> str:
    return _CHANNEL_NAMES.get(channel, f"{channel} chat")


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


async def _count(turn: Turn, kind: str) -> int:
    return (
        await turn.session.scalar(
            select(func.count())
            .select_from(LinkAttempt)
            .where(
                LinkAttempt.contact_id == turn.contact.id,
                LinkAttempt.kind == kind,
                LinkAttempt.at > turn.now - RATE_WINDOW,
            )
        )
    ) or 0


def _note(turn: Turn, kind: str) -> None:
    turn.session.add(LinkAttempt(contact_id=turn.contact.id, kind=kind, at=turn.now))


async def issue_code(turn: Turn) -> Reply:
    if await _count(turn, "issue") >= MAX_CODES_PER_WINDOW:
        return Reply.text("You've asked for several codes already. Please try again in an hour.")
    session = turn.session
    # Expired codes free their number; this contact's older unused codes stop working.
    await session.execute(
        delete(LinkCode).where(
            LinkCode.creator_id == turn.creator.id,
            LinkCode.expires_at < turn.now,
            LinkCode.used_at.is_(None),
        )
    )
    await session.execute(
        delete(LinkCode).where(LinkCode.contact_id == turn.contact.id, LinkCode.used_at.is_(None))
    )
    code = None
    for _ in range(20):  # 10^6 codes: a clash with a live code is rare, twenty in a row is not
        candidate = new_code()
        inserted = await session.scalar(
            upsert_insert(session, LinkCode)
            .values(
                creator_id=turn.creator.id,
                contact_id=turn.contact.id,
                identity_id=turn.identity.id,
                code=candidate,
                created_at=turn.now,
                expires_at=turn.now + CODE_TTL,
            )
            .on_conflict_do_nothing(index_elements=["creator_id", "code"])
            .returning(LinkCode.id)
        )
        if inserted is not None:
            code = candidate
            break
    if code is None:
        raise RuntimeError("could not find a free link code")
    _note(turn, "issue")
    minutes = int(CODE_TTL.total_seconds() // 60)
    return Reply.text(
        f"Your link code is **{code}**.\n\n"
        f"Within {minutes} minutes, send `/link {code}` to me from your other app (WhatsApp, "
        "Telegram or the web chat) to join the two into one conversation. The code works once."
    )


async def claim_code(turn: Turn, code: str) -> Reply:
    if await _count(turn, "miss") >= MAX_MISSES_PER_WINDOW:
        return Reply.text("Too many wrong codes. Please wait an hour, then ask for a new code.")
    row = await turn.session.scalar(
        select(LinkCode)
        .where(LinkCode.creator_id == turn.creator.id, LinkCode.code == code)
        .with_for_update()
    )
    usable = (
        row is not None
        and row.used_at is None
        and row.expires_at > turn.now
        and row.claimed_by_identity_id in (None, turn.identity.id)
    )
    if row is None or not usable:
        _note(turn, "miss")
        return Reply.text(
            "That code doesn't work: it may be mistyped, used or expired. Send /link on your "
            "other app to get a new one."
        )
    if row.contact_id == turn.contact.id:
        return Reply.text("This chat is already linked with that one. Nothing to do!")
    row.claimed_by_identity_id, row.claimed_at = turn.identity.id, turn.now
    origin = await turn.session.get(ChannelIdentity, row.identity_id)
    where = channel_name(origin.channel) if origin else "other chat"
    here = channel_name(turn.identity.channel)
    return Reply.text(
        f"This joins this {here} with your {where}: your conversation, program progress and "
        "settings will be shared by both. Link them?",
        choices=(Choice("Yes, link them", CONFIRM), Choice("No", CANCEL)),
    )


async def _pending(turn: Turn) -> LinkCode | None:
    return await turn.session.scalar(
        select(LinkCode)
        .where(
            LinkCode.claimed_by_identity_id == turn.identity.id,
            LinkCode.used_at.is_(None),
            LinkCode.claimed_at > turn.now - CONFIRM_TTL,
        )
        .order_by(LinkCode.claimed_at.desc())
        .limit(1)
        .with_for_update()
    )


async def confirm(turn: Turn) -> Reply:
    row = await _pending(turn)
    if row is None:
        return Reply.text(
            "There's no link waiting for confirmation. Send /link on one app to get a code, "
            "then /link CODE on the other."
        )
    row.used_at = turn.now
    source_id, target_id = turn.contact.id, row.contact_id
    if source_id != target_id:
        target = await merge_contacts(turn.session, source_id, target_id, turn.now)
        # The turn goes on as the joined contact: its reply is stored there.
        turn.contact = target
        turn.identity.contact_id = target.id
        turn.conversation = await open_conversation(turn.session, target, turn.now)
        turn.message.contact_id = target.id
        turn.message.conversation_id = turn.conversation.id
        log.info("contacts linked", extra={"contact_id": target.id, "merged_id": source_id})
    origin = await turn.session.get(ChannelIdentity, row.identity_id)
    where = channel_name(origin.channel) if origin else "other chat"
    return Reply.text(
        f"Done! This chat and your {where} are now one: carry on in either. "
        "Send /unlink here anytime to separate them again."
    )


async def cancel(turn: Turn) -> Reply:
    row = await _pending(turn)
    if row is not None:
        row.claimed_by_identity_id, row.claimed_at = None, None
    return Reply.text("OK, nothing was linked.")


async def unlink(turn: Turn) -> Reply:
    fresh = await detach_identity(turn.session, turn.identity, turn.now)
    if fresh is None:
        return Reply.text("This chat isn't linked with any other, so there's nothing to unlink.")
    turn.contact = fresh
    turn.conversation = await open_conversation(turn.session, fresh, turn.now)
    turn.message.contact_id = fresh.id
    turn.message.conversation_id = turn.conversation.id
    binding = await turn.session.get(ChannelBinding, turn.identity.binding_id)
    here = channel_name(binding.channel if binding else turn.identity.channel)
    return Reply.text(
        f"This {here} is now separate: it starts fresh here, and your history stays with your "
        "other chats. Send /link to join them again."
    )


def link_commands() -> list[Command]:
    async def link(turn: Turn, args: str) -> Reply:
        word = args.strip().lower()
        if not word:
            return await issue_code(turn)
        if word in ("yes", "y", "confirm"):
            return await confirm(turn)
        if word in ("no", "n", "cancel"):
            return await cancel(turn)
        digits = "".join(ch for ch in word if not ch.isspace() and ch != "-")
        if digits.isdigit() and len(digits) == CODE_DIGITS:
            return await claim_code(turn, digits)
        return Reply.text("Send /link to get a code, or /link followed by the 6-digit code.")

    async def unlink_(turn: Turn, _args: str) -> Reply:
        return await unlink(turn)

    return [
        Command("link", "join this chat with your other apps (one code, once)", link, "[CODE]"),
        Command("unlink", "separate this chat from your other apps", unlink_),
    ]
