"""The Telegram `Sender`: a stored reply or a proactive message, rendered as Telegram HTML, cut at
4096 characters, choices on the last part as an inline keyboard, media first. Provider errors
become the named outcomes of `engine.delivery`."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

import httpx
from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from bots.render import TELEGRAM_CAPTION_LIMIT, telegram_html, telegram_parts, utf16_len
from bots.telegram.client import BotClient
from bots.telegram.keyboard import inline_keyboard
from bots.telegram.transport import RequestNotSent
from engine.delivery import (
    Ambiguous,
    DeliveryError,
    PermanentFailure,
    Recipient,
    RecipientBlocked,
    RetryLater,
    SendResult,
    TemplateRef,
)
from engine.types import Media, OutboundMessage

NO_TEXT_PROMPT = "Please choose:"
SEND_MESSAGE = "sendMessage"
# do_api_request warns that Bot has a method for this endpoint; we call it on purpose (above).
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.sendMessage'", category=PTBUserWarning)
HTML = ParseMode.HTML
T = TypeVar("T")
# Telegram's 403 texts for a person we can no longer reach.
_BLOCKED = ("blocked", "deactivated", "kicked", "can't initiate", "chat not found")
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, RequestNotSent)


class TelegramSender:
    def __init__(self, client: BotClient) -> None:
        self.client = client
        self.bot: Bot = client.bot

    async def send(
        self, recipient: Recipient, message: OutboundMessage, *, template: TemplateRef | None = None
    ) -> SendResult:
        # Telegram has no 24-hour window and no templates: a template request sends the text.
        chat_id = recipient.external_user_id
        ids: list[str] = []
        for media in message.media:
            ids += await self._send_media(chat_id, media)
        text = message.text.strip() or (NO_TEXT_PROMPT if message.choices else "")
        parts = telegram_parts(text) if text else []
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            markup = inline_keyboard(message.choices) if message.choices and last else None
            ids.append(await self._send_text(chat_id, part, markup))
        return SendResult(tuple(ids))

    async def _send_text(self, chat_id: str, text: str, markup: InlineKeyboardMarkup | None) -> str:
        """sendMessage through PTB's request machinery (same transport, errors and retries),
        keeping only the message id of the answer: building a full `Message` from it was 15 %
        of a delivery worker's CPU (docs/benchmarks.md)."""
        params: dict[str, object] = {"chat_id": chat_id, "text": text, "parse_mode": HTML}
        if markup is not None:
            params["reply_markup"] = markup
        result = await _call(self.bot.do_api_request(SEND_MESSAGE, api_kwargs=params))
        if not isinstance(result, dict) or "message_id" not in result:
            raise PermanentFailure(f"sendMessage answered without a message id: {result!r:.200}")
        return str(result["message_id"])

    async def _send_media(self, chat_id: str, media: Media) -> list[str]:
        caption = telegram_html(media.caption) if media.caption else None
        separate = caption is not None and utf16_len(caption) > TELEGRAM_CAPTION_LIMIT
        shown = None if separate else caption
        bot, url = self.bot, media.url
        if media.kind == "image":
            request = bot.send_photo(chat_id, url, caption=shown, parse_mode=HTML)
        elif media.kind == "video":
            request = bot.send_video(chat_id, url, caption=shown, parse_mode=HTML)
        elif media.kind == "audio":
            request = bot.send_audio(chat_id, url, caption=shown, parse_mode=HTML)
        else:
            request = bot.send_document(chat_id, url, caption=shown, parse_mode=HTML)
        sent = await _call(request)
        ids = [str(sent.message_id)]
        if separate and media.caption:  # too long for a caption: it follows as text
            for part in telegram_parts(media.caption):
                ids.append(await self._send_text(chat_id, part, None))
        return ids

    async def close(self) -> None:
        await self.client.close()


async def _call(request: Awaitable[T]) -> T:
    try:
        return await request
    except TelegramError as exc:
        raise delivery_error(exc) from exc


def delivery_error(exc: TelegramError) -> DeliveryError:
    """Telegram's error → one of the named delivery outcomes."""
    text = exc.message
    if isinstance(exc, RetryAfter):
        return RetryLater(text, retry_after=retry_after_seconds(exc), code="429")
    if isinstance(exc, Forbidden):
        if any(word in text.lower() for word in _BLOCKED):
            return RecipientBlocked(text, code="403")
        return PermanentFailure(text, code="403")
    if isinstance(exc, InvalidToken):
        return PermanentFailure("the bot token was rejected; add the binding again", code="401")
    if isinstance(exc, ChatMigrated):
        return PermanentFailure(text, code="400")
    if isinstance(exc, BadRequest):
        if "chat not found" in text.lower():
            return RecipientBlocked(text, code="400")
        return PermanentFailure(text, code="400")
    if isinstance(exc, TimedOut | NetworkError):
        if isinstance(exc.__cause__, _NOT_SENT) or "Pool timeout" in text:
            return RetryLater(f"not sent: {text}")
        if isinstance(exc, TimedOut):
            return Ambiguous(f"no answer in time: {text}")
        return RetryLater(text)  # a 5xx or a dropped connection before the answer
    return PermanentFailure(text)


def retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 warns that `retry_after` turns from int into a timedelta; accept either.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
