"""A Telegram update → what it means for us: a message from a person (an InboundMessage), a
button they pressed (also an InboundMessage, with the callback query to answer), the person
blocking the bot, or something we ignore (edited messages, channel posts, groups, joins, …)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram import CallbackQuery, Message, Update

from engine.types import Attachment, Channel, InboundMessage


class MalformedUpdate(ValueError):
    """The body is JSON but not a Telegram update."""


@dataclass(frozen=True)
class Ignored:
    reason: str


@dataclass(frozen=True)
class Blocked:
    """The person blocked the bot (my_chat_member: kicked, in their private chat)."""

    chat_id: str


@dataclass(frozen=True)
class Pressed:
    """A button press: the inbound still needs its payload resolved (see keyboard.resolve)."""

    inbound: InboundMessage
    callback_query_id: str
    data: str
    label: str | None


Parsed = InboundMessage | Pressed | Blocked | Ignored


def load_update(data: Any) -> Update:
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise MalformedUpdate("not a Telegram update: no integer update_id")
    try:
        return Update.de_json(data, None)
    # OSError: datetime.fromtimestamp on a timestamp past what the platform can represent.
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError) as exc:
        raise MalformedUpdate(f"not a Telegram update: {type(exc).__name__}") from None


def parse_update(update: Update, binding_id: int, now: datetime, raw: Mapping[str, Any]) -> Parsed:
    """`raw` is the update as it arrived, kept with the inbound for audit (not `to_dict()`
    of the parsed one: that costs a second walk and is not what Telegram sent)."""
    if update.message is not None:
        return _message(update, update.message, binding_id, raw)
    if update.callback_query is not None:
        return _pressed(update, update.callback_query, binding_id, now, raw)
    member = update.my_chat_member
    if member is not None and member.chat.type == "private":
        if member.new_chat_member.status == "kicked":
            return Blocked(str(member.chat.id))
        return Ignored("chat member update")
    for kind in ("edited_message", "channel_post", "edited_channel_post"):
        if getattr(update, kind, None) is not None:
            return Ignored(kind)
    return Ignored("unsupported update kind")


def _message(update: Update, message: Message, binding_id: int, raw: Mapping[str, Any]) -> Parsed:
    if message.chat.type != "private":
        return Ignored(f"{message.chat.type} chat")
    if message.new_chat_members or message.left_chat_member:
        return Ignored("membership change")
    user = message.from_user
    if user is None or user.is_bot:
        return Ignored("not from a person")
    attachments = _attachments(message)
    text = message.text or message.caption
    if text is None and not attachments:
        return Ignored("no text or file")
    return InboundMessage(
        channel=Channel.TELEGRAM,
        binding_id=binding_id,
        external_user_id=str(message.chat.id),
        external_message_id=str(update.update_id),
        text=text,
        attachments=attachments,
        locale=user.language_code,
        sender_name=user.full_name,
        received_at=_aware(message.date),
        raw=raw,
    )


def _pressed(
    update: Update, query: CallbackQuery, binding_id: int, now: datetime, raw: Mapping[str, Any]
) -> Parsed:
    message = query.message
    if message is None or message.chat.type != "private" or not query.data:
        return Ignored("callback outside a private chat")
    label = None
    markup = getattr(message, "reply_markup", None)
    if markup is not None:
        for row in markup.inline_keyboard:
            for button in row:
                if button.callback_data == query.data:
                    label = button.text
    inbound = InboundMessage(
        channel=Channel.TELEGRAM,
        binding_id=binding_id,
        external_user_id=str(message.chat.id),
        external_message_id=str(update.update_id),
        text=label,
        choice_payload=query.data,
        locale=query.from_user.language_code,
        sender_name=query.from_user.full_name,
        received_at=now,
        raw=raw,
    )
    return Pressed(inbound, query.id, query.data, label)


def _attachments(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.photo:
        biggest = max(message.photo, key=lambda p: p.width * p.height)
        found.append(Attachment("image", biggest.file_id, "image/jpeg", None, biggest.file_size))
    if message.document is not None:
        d = message.document
        found.append(Attachment("document", d.file_id, d.mime_type, d.file_name, d.file_size))
    for kind, media in (("audio", message.audio), ("audio", message.voice)):
        if media is not None:
            found.append(Attachment(kind, media.file_id, media.mime_type, None, media.file_size))
    if message.video is not None:
        v = message.video
        found.append(Attachment("video", v.file_id, v.mime_type, v.file_name, v.file_size))
    return tuple(found)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
