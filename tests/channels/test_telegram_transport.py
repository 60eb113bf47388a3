"""PTB's Bot over our aiohttp transport: what reached Telegram and what did not stays
distinguishable, because the outbox retries the one and must not blindly retry the other."""

from __future__ import annotations

import socket

import pytest

from bots.telegram.client import make_bot
from bots.telegram.sender import TelegramSender
from engine.delivery import Ambiguous, Recipient, RetryLater
from engine.types import Channel, OutboundMessage
from tests.fakes.telegram import FakeTelegram

TOKEN = "123:TEST"
TO = Recipient(binding_id=1, channel=Channel.TELEGRAM, external_user_id="4242")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket closes


async def test_sends_through_the_real_bot_client(fake_telegram: FakeTelegram) -> None:
    sender = TelegramSender(make_bot(TOKEN, fake_telegram.url, timeout=5))
    try:
        result = await sender.send(TO, OutboundMessage("Hello **there**"))
    finally:
        await sender.close()
    assert len(result.provider_message_ids) == 1
    assert fake_telegram.sent_texts("4242") == ["Hello <b>there</b>"]  # Telegram HTML


async def test_a_refused_connection_was_not_sent_and_is_retried() -> None:
    sender = TelegramSender(make_bot(TOKEN, f"http://127.0.0.1:{closed_port()}", timeout=2))
    try:
        with pytest.raises(RetryLater, match="not sent"):
            await sender.send(TO, OutboundMessage("hi"))
    finally:
        await sender.close()


async def test_no_answer_in_time_is_ambiguous(fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail_next("sendMessage", 0, "", delay=2.0)  # the request arrives; no answer
    sender = TelegramSender(make_bot(TOKEN, fake_telegram.url, timeout=0.5))
    try:
        with pytest.raises(Ambiguous):
            await sender.send(TO, OutboundMessage("hi"))
    finally:
        await sender.close()
    assert len(fake_telegram.calls_of("sendMessage")) == 1  # it did reach the provider
