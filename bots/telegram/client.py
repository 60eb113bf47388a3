"""The python-telegram-bot `Bot` as we use it: a configurable Bot API base URL (a self-hosted
Bot API server, or a fake one in tests) and a timeout on every call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from telegram import Bot
from telegram.request import BaseRequest

from bots.telegram.transport import AiohttpRequest

DEFAULT_API_URL = "https://api.telegram.org"
LONG_POLL_SECONDS = 25


@dataclass(frozen=True)
class BotClient:
    """The Bot and its two HTTP clients (getUpdates has its own), closed together. The Bot is
    never initialize()d: that would cost a getMe per client, and nothing here needs it."""

    bot: Bot
    requests: tuple[BaseRequest, BaseRequest]

    async def close(self) -> None:
        await asyncio.gather(*(r.shutdown() for r in self.requests))


def make_bot(token: str, api_url: str = DEFAULT_API_URL, *, timeout: float = 10.0) -> BotClient:
    base = api_url.rstrip("/")
    # aiohttp under PTB's Bot: see transport.py for why not PTB's default httpx transport.
    request = AiohttpRequest(
        connection_pool_size=64, connect_timeout=5.0, read_timeout=timeout, write_timeout=timeout
    )
    # getUpdates holds its connection for the long poll: its read timeout must outlast it.
    updates_request = AiohttpRequest(
        connection_pool_size=1,
        connect_timeout=5.0,
        read_timeout=LONG_POLL_SECONDS + timeout,
        write_timeout=timeout,
    )
    bot = Bot(
        token,
        base_url=f"{base}/bot",
        base_file_url=f"{base}/file/bot",
        request=request,
        get_updates_request=updates_request,
    )
    return BotClient(bot, (request, updates_request))
