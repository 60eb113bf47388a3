"""Polling mode (`coachbot telegram poll`): for development without a public URL. getUpdates in
a loop, each update through the same path as the webhook. Polling and a webhook exclude each
other at Telegram, so the webhook is deleted first (`channel add` sets it again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TelegramError

from bots.telegram.client import LONG_POLL_SECONDS
from bots.telegram.inbound import TelegramInbound
from bots.telegram.parse import MalformedUpdate
from bots.telegram.sender import retry_after_seconds
from engine.channel_bindings import BindingInfo

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


async def poll(
    bot: Bot,
    binding: BindingInfo,
    inbound: TelegramInbound,
    stop: asyncio.Event,
    *,
    long_poll: int = LONG_POLL_SECONDS,
) -> int:
    """Fetch and handle updates until `stop` is set; returns how many were handled."""
    await bot.delete_webhook()
    offset: int | None = None
    handled = 0
    while not stop.is_set():
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=long_poll, allowed_updates=ALLOWED_UPDATES
            )
        except RetryAfter as exc:
            await _pause(stop, retry_after_seconds(exc))
            continue
        except NetworkError as exc:  # includes timeouts: try again after a breath
            log.warning("getUpdates failed; retrying", extra={"error": str(exc)})
            await _pause(stop, 2.0)
            continue
        except TelegramError:
            raise  # a bad token or a conflict: stop and say so
        for update in updates:
            offset = update.update_id + 1
            try:
                outcome = await inbound.receive(binding, update.to_dict())
            except MalformedUpdate as exc:
                outcome = f"malformed: {exc}"
            handled += 1
            log.info("telegram update", extra={"update_id": update.update_id, "outcome": outcome})
    return handled


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
