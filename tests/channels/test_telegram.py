"""Telegram end to end: our webhook route and the real python-telegram-bot client against a fake
Bot API on loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bots.render import telegram_html
from bots.telegram.keyboard import callback_data, digest
from config.settings import Settings
from config.web import ENGINE
from config.wiring import build_senders
from engine.channel_bindings import BindingInfo, remove_binding, update_binding
from engine.db import Database
from engine.models import ChannelIdentity, InboundReceipt, Message
from engine.secrets import SecretBox
from tests.channels.conftest import (
    LONG_TEXT,
    TG_SECRET,
    TG_TOKEN,
    AppClient,
    settle,
    tg_text_update,
)
from tests.fakes import FakeTelegram
from tests.fakes.telegram import visible_text

PAYLOADS = Path(__file__).parent / "payloads"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return data


async def post(
    client: AppClient, binding: BindingInfo, body: Any, headers: dict[str, str] | None = None
) -> int:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await client.post(
        f"/webhooks/telegram/{binding.public_key}",
        data=raw,
        headers={"Content-Type": "application/json", **(HEADERS if headers is None else headers)},
    )
    return response.status


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.sessions() as session:
        receipts = await session.scalar(select(func.count()).select_from(InboundReceipt))
        inbound = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
        outbound = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "out")
        )
    return receipts or 0, inbound or 0, outbound or 0


async def test_text_message_is_answered_in_telegram_html(
    client: AppClient,
    tg_binding: BindingInfo,
    fake_telegram: FakeTelegram,
    db: Database,
) -> None:
    assert await post(client, tg_binding, payload("telegram_command")) == 200
    await settle(client)
    (call,) = fake_telegram.calls_of("sendMessage")
    assert call.params["chat_id"] == "4242"
    assert call.params["parse_mode"] == "HTML"
    assert "Coach Maya" in visible_text(call.params["text"])
    async with db.sessions() as session:
        out = await session.scalar(select(Message).where(Message.direction == "out"))
        assert out is not None
        assert out.status == "sent"
        assert out.provider_message_id is not None


@pytest.mark.parametrize("name", ["telegram_text", "telegram_photo", "telegram_callback"])
async def test_replays_store_one_message_and_send_one_reply(
    name: str,
    client: AppClient,
    tg_binding: BindingInfo,
    fake_telegram: FakeTelegram,
    db: Database,
) -> None:
    body = payload(name)
    for _ in range(5):
        assert await post(client, tg_binding, body) == 200
    statuses = await asyncio.gather(*(post(client, tg_binding, body) for _ in range(10)))
    assert set(statuses) == {200}
    await settle(client)
    receipts, inbound, outbound = await counts(db)
    assert (receipts, inbound) == (1, 1)
    assert len(fake_telegram.calls_of("sendMessage")) == outbound >= 1
    async with db.sessions() as session:
        stored = await session.scalar(select(InboundReceipt.raw))
    assert stored == body  # the update as Telegram sent it, kept for audit


@pytest.mark.parametrize(
    "name", ["telegram_edited", "telegram_group", "telegram_group_join", "telegram_channel_post"]
)
async def test_other_update_kinds_are_ignored_safely(
    name: str,
    client: AppClient,
    tg_binding: BindingInfo,
    fake_telegram: FakeTelegram,
    db: Database,
) -> None:
    response = await client.post(
        f"/webhooks/telegram/{tg_binding.public_key}", json=payload(name), headers=HEADERS
    )
    assert response.status == 200
    assert (await response.json())["outcome"].startswith("ignored")
    await settle(client)
    assert await counts(db) == (0, 0, 0)
    assert fake_telegram.calls == []


async def test_photo_and_document_become_attachments(
    client: AppClient,
    tg_binding: BindingInfo,
    db: Database,
) -> None:
    assert await post(client, tg_binding, payload("telegram_photo")) == 200
    assert await post(client, tg_binding, payload("telegram_document")) == 200
    await settle(client)
    async with db.sessions() as session:
        rows = (
            await session.scalars(
                select(Message).where(Message.direction == "in").order_by(Message.id)
            )
        ).all()
    photo, document = rows[0].payload["attachments"], rows[1].payload["attachments"]
    assert photo == [
        {"kind": "image", "url": "AgACAgQAAxkBAAIBlarge", "mime_type": "image/jpeg", "size": 62351}
    ]
    assert rows[0].text == "my bedroom setup"
    assert document[0]["name"] == "sleep-log.pdf"


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, None, 403),
        ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, None, 403),
        ({"X-Telegram-Bot-Api-Secret-Token": TG_SECRET + "x"}, None, 403),
        (HEADERS, b"not json", 403),
        (HEADERS, b'{"message": {}}', 400),
        (HEADERS, b"[1, 2]", 400),
        # A date past what datetime can represent (found by the webhook fuzz test).
        (HEADERS, b'{"update_id": 0, "message": {"date": 67768036191676800}}', 400),
    ],
)
async def test_forged_or_broken_requests_store_nothing(
    headers: dict[str, str],
    body: bytes | None,
    status: int,
    client: AppClient,
    tg_binding: BindingInfo,
    fake_telegram: FakeTelegram,
    db: Database,
) -> None:
    raw = body if body is not None else json.dumps(payload("telegram_text")).encode()
    assert await post(client, tg_binding, raw, headers) == status
    response = await client.post("/webhooks/telegram/no-such-binding", data=raw, headers=HEADERS)
    assert response.status == 404
    await settle(client)
    assert await counts(db) == (0, 0, 0)
    assert fake_telegram.calls == []


async def test_a_new_webhook_secret_works_at_once_and_the_old_one_stops(
    client: AppClient, tg_binding: BindingInfo, box: SecretBox, db: Database
) -> None:
    """Bindings are remembered per process for a few seconds; a secret that does not match the
    remembered one is looked up again rather than refused."""
    assert await post(client, tg_binding, tg_text_update(1, "hi")) == 200
    new_secret = "a-brand-new-webhook-secret"
    await update_binding(
        db, box, tg_binding.id, secrets={"token": TG_TOKEN, "webhook_secret": new_secret}
    )
    new = {"X-Telegram-Bot-Api-Secret-Token": new_secret}
    assert await post(client, tg_binding, tg_text_update(2, "again"), new) == 200
    assert await post(client, tg_binding, tg_text_update(3, "old secret")) == 403
    await settle(client)
    assert (await counts(db))[0] == 2


async def test_a_removed_binding_is_refused_at_once(
    client: AppClient, tg_binding: BindingInfo, db: Database
) -> None:
    assert await post(client, tg_binding, tg_text_update(1, "hi")) == 200
    await settle(client)
    await remove_binding(db, tg_binding.id)  # in this process, as the creator hub does
    assert await post(client, tg_binding, tg_text_update(2, "still there?")) == 404
    await settle(client)
    assert (await counts(db))[0] == 1


async def test_a_long_reply_is_split_without_breaking_markup(
    client: AppClient,
    tg_binding: BindingInfo,
    fake_telegram: FakeTelegram,
) -> None:
    assert len(LONG_TEXT) > 10_000
    assert await post(client, tg_binding, tg_text_update(1, "/long")) == 200
    await settle(client)
    parts = fake_telegram.sent_texts(4242)
    assert len(parts) >= 3
    shown = [visible_text(p) for p in parts]  # each part is valid Telegram HTML
    assert all(len(s) <= 4096 for s in shown)
    assert "".join(shown).replace("\n", "") == visible_text(telegram_html(LONG_TEXT)).replace(
        "\n", ""
    )
    assert all(p.count("<b>") == p.count("</b>") for p in parts)
    assert "&amp; &lt;on&gt;" in parts[0]


async def test_rate_limit_is_honoured_and_a_block_marks_the_chat_unreachable(
    client: AppClient,
    tg_binding: BindingInfo,
    fake_telegram: FakeTelegram,
    db: Database,
) -> None:
    fake_telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    assert await post(client, tg_binding, tg_text_update(1, "/start")) == 200
    await settle(client)
    assert len(fake_telegram.calls_of("sendMessage")) == 2  # refused once, then sent
    assert len(fake_telegram.sent_texts()) == 2

    fake_telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert await post(client, tg_binding, tg_text_update(2, "/help")) == 200
    await settle(client)
    async with db.sessions() as session:
        identity = await session.scalar(select(ChannelIdentity))
        assert identity is not None
        assert identity.unreachable_at is not None
        failed = await session.scalar(select(Message).where(Message.status == "failed"))
        assert failed is not None
        assert "blocked" in (failed.error or "")


async def test_blocking_the_bot_is_recorded_from_my_chat_member(
    client: AppClient,
    tg_binding: BindingInfo,
    db: Database,
) -> None:
    assert await post(client, tg_binding, tg_text_update(1, "hello")) == 200
    await settle(client)
    assert await post(client, tg_binding, payload("telegram_blocked")) == 200
    async with db.sessions() as session:
        identity = await session.scalar(select(ChannelIdentity))
        assert identity is not None
        assert identity.unreachable_at is not None


def test_long_callback_payloads_are_digested_within_64_bytes() -> None:
    short = "p:mood:very"
    long = "p:" + "a-very-long-step-identifier" * 3 + ":value"
    assert callback_data(short) == short
    assert len(callback_data(long).encode()) <= 64
    assert callback_data(long) == digest(long)
    assert callback_data("#looks-like-a-digest") != "#looks-like-a-digest"


async def test_polling_goes_through_the_same_path(
    settings: Settings,
    db: Database,
    channel_engine: Any,
    tg_binding: BindingInfo,
    fake_telegram: FakeTelegram,
) -> None:
    from bots.http import ReplyDelivery
    from bots.telegram.client import make_bot
    from bots.telegram.inbound import TelegramInbound
    from bots.telegram.poll import poll
    from config.background import BackgroundTasks
    from config.wiring import build_senders

    senders = build_senders(settings, db)
    tasks = BackgroundTasks()
    inbound = TelegramInbound(channel_engine, ReplyDelivery(channel_engine, senders), tasks)
    client = make_bot("123:TEST", fake_telegram.url)
    stop = asyncio.Event()
    fake_telegram.push_update(tg_text_update(5, "/start"))
    fake_telegram.push_update(payload("telegram_edited"))

    async def stop_when_answered() -> None:
        while not fake_telegram.sent_texts():
            await tasks.join()
            await asyncio.sleep(0.01)
        stop.set()

    handled, _ = await asyncio.gather(
        poll(client.bot, tg_binding, inbound, stop, long_poll=1), stop_when_answered()
    )
    assert handled == 2
    assert fake_telegram.calls_of("deleteWebhook")
    assert "Coach Maya" in visible_text(fake_telegram.sent_texts()[0])
    await client.close()
    await senders.close()


async def test_a_rate_limited_reply_is_handed_to_the_outbox_and_delivered(
    client: AppClient,
    fake_telegram: FakeTelegram,
    tg_binding: BindingInfo,
    db: Database,
    settings: Settings,
) -> None:
    """A reply Telegram refuses for a minute does not hold the webhook's task or get lost: the
    outbox takes it (in order, kind reply) and delivers it once the limit has passed."""
    from engine.models import Outbox
    from engine.ratelimit import LocalRateLimiter
    from engine.runtime import Runtime

    fake_telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 60", retry_after=60)
    await post(client, tg_binding, tg_text_update(5001, "/help"))
    await settle(client)
    async with db.sessions() as session:
        (row,) = (await session.scalars(select(Outbox))).all()
    assert (row.kind, row.state) == ("reply", "pending")
    engine = client.app[ENGINE]
    runtime = Runtime(engine, build_senders(settings, db), LocalRateLimiter())
    try:
        outcome = await runtime.deliverer.deliver([row.id])
    finally:
        await runtime.close()
    assert outcome.outcomes == {"sent:-": 1}
    assert fake_telegram.sent_texts("4242")[-1].startswith("Here's what I can do")
