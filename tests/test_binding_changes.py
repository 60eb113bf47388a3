"""A change to a channel binding reaches the binding caches at once: in the process that made it
(the creator hub runs in `serve`), and over Redis in every other `serve` process. A change no
process hears of is still seen when the cache's entry expires."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from engine import channel_bindings, pipeline
from engine.binding_changes import CHANGES, BindingChanges, announce, listen
from engine.channel_bindings import (
    BindingInfo,
    WebhookBindings,
    add_binding,
    remove_binding,
    update_binding,
)
from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelBinding, Creator
from engine.pipeline import Engine, UnknownBindingError
from engine.secrets import SecretBox
from engine.types import Channel, InboundMessage

REDIS_URL = "redis://127.0.0.1:6379/13"
BOX = SecretBox("binding-changes-test-key-0123456789abcdef")


@pytest.fixture
async def telegram(db: Database, creator: Creator, clock: ManualClock) -> BindingInfo:
    return await add_binding(
        db,
        BOX,
        creator,
        Channel.TELEGRAM,
        name="@changes_bot",
        now=clock.now(),
        config={"bot_id": 7, "username": "changes_bot"},
        secrets={"token": "7:AAA", "webhook_secret": "s3cret"},
    )


def inbound(binding: BindingInfo, message: str) -> InboundMessage:
    return InboundMessage(
        channel=Channel.TELEGRAM,
        binding_id=binding.id,
        external_user_id="4242",
        external_message_id=message,
        text="hi",
    )


async def test_a_binding_switched_off_here_is_refused_at_once(
    db: Database, engine: Engine, telegram: BindingInfo
) -> None:
    webhooks = WebhookBindings(db, BOX)
    assert await webhooks.find(telegram.public_key, Channel.TELEGRAM) is not None
    assert await engine.claim(inbound(telegram, "m1")) is not None

    await remove_binding(db, telegram.id)

    assert await webhooks.find(telegram.public_key, Channel.TELEGRAM) is None
    with pytest.raises(UnknownBindingError):
        await engine.claim(inbound(telegram, "m2"))


async def test_a_binding_turned_back_on_is_found_at_once(
    db: Database, engine: Engine, telegram: BindingInfo
) -> None:
    webhooks = WebhookBindings(db, BOX)
    await update_binding(db, BOX, telegram.id, enabled=False)
    assert await webhooks.find(telegram.public_key, Channel.TELEGRAM) is None  # remembered
    with pytest.raises(UnknownBindingError):
        await engine.claim(inbound(telegram, "m1"))

    await update_binding(db, BOX, telegram.id, enabled=True)

    found = await webhooks.find(telegram.public_key, Channel.TELEGRAM)
    assert found is not None
    assert found.id == telegram.id
    assert await engine.claim(inbound(telegram, "m1")) is not None


async def test_new_secrets_replace_the_remembered_ones_at_once(
    db: Database, telegram: BindingInfo
) -> None:
    webhooks = WebhookBindings(db, BOX)
    before = await webhooks.find(telegram.public_key, Channel.TELEGRAM)
    assert before is not None
    assert before.secrets["webhook_secret"] == "s3cret"
    await update_binding(db, BOX, telegram.id, secrets={"token": "7:AAA", "webhook_secret": "new"})
    after = await webhooks.find(telegram.public_key, Channel.TELEGRAM)
    assert after is not None
    assert after.secrets["webhook_secret"] == "new"


async def test_a_change_during_a_lookup_leaves_nothing_stale_behind(
    db: Database, telegram: BindingInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup read the binding before the change committed: what it found must not be
    trusted afterwards."""
    lookups = 0
    real = channel_bindings.find_binding

    async def racing(*args: Any) -> BindingInfo | None:
        nonlocal lookups
        lookups += 1
        found = await real(*args)
        if lookups == 1:
            CHANGES.heard()  # the change commits after the lookup's read
        return found

    monkeypatch.setattr(channel_bindings, "find_binding", racing)
    webhooks = WebhookBindings(db, BOX)
    await webhooks.find(telegram.public_key, Channel.TELEGRAM)
    await webhooks.find(telegram.public_key, Channel.TELEGRAM)
    assert lookups == 2
    await webhooks.find(telegram.public_key, Channel.TELEGRAM)
    assert lookups == 2  # with nothing changed since, the second lookup is remembered


async def test_a_change_nobody_announced_is_seen_when_the_memory_expires(
    db: Database, engine: Engine, telegram: BindingInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process switched the channel off and could not tell this one (embedded mode's
    CLI, or Redis down): the expiry still bounds how long it is answered."""
    webhooks = WebhookBindings(db, BOX)
    assert await webhooks.find(telegram.public_key, Channel.TELEGRAM) is not None
    assert await engine.claim(inbound(telegram, "m1")) is not None
    async with db.transaction() as session:
        await session.execute(
            update(ChannelBinding).where(ChannelBinding.id == telegram.id).values(enabled=False)
        )
    assert await webhooks.find(telegram.public_key, Channel.TELEGRAM) is not None  # not heard
    monkeypatch.setattr(channel_bindings, "REMEMBER_SECONDS", 0.0)
    monkeypatch.setattr(pipeline, "BINDING_CHECK_SECONDS", 0.0)
    assert await webhooks.find(telegram.public_key, Channel.TELEGRAM) is None
    with pytest.raises(UnknownBindingError):
        await engine.claim(inbound(telegram, "m2"))


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    client: Any = Redis.from_url(REDIS_URL)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


class Heard(BindingChanges):
    """A process's count that can be waited on."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def heard(self) -> None:
        super().heard()
        self.changed.set()

    async def reach(self, count: int) -> None:
        async with asyncio.timeout(10):
            while self.count < count:
                self.changed.clear()
                await self.changed.wait()
        assert self.count == count


async def test_a_change_announced_by_another_process_reaches_a_listening_one(
    redis: Any,
) -> None:
    here, elsewhere = Heard(), BindingChanges()
    listener = listen(REDIS_URL, here)
    listener.start()
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        heard = here.count
        await announce(REDIS_URL, elsewhere)
        assert elsewhere.count == 1  # the announcing process forgets at once, without Redis
        await here.reach(heard + 1)
    finally:
        await listener.close()


async def test_a_listener_that_lost_redis_assumes_it_missed_a_change(redis: Any) -> None:
    here = Heard()
    listener = listen(REDIS_URL, here)
    listener.start()
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        assert here.count == 1  # subscribing counts: anything before it was not heard
        await redis.client_kill_filter(_type="pubsub")
        await here.reach(2)  # back, and forgetting what it remembered
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        await announce(REDIS_URL, BindingChanges())
        await here.reach(3)
    finally:
        await listener.close()


async def test_announcing_without_redis_still_counts_here(
    caplog: pytest.LogCaptureFixture,
) -> None:
    here = BindingChanges()
    with caplog.at_level(logging.WARNING, logger="engine.binding_changes"):
        await announce("redis://127.0.0.1:1/0", here)
    assert here.count == 1
    assert "binding change not announced" in caplog.text


async def test_senders_follow_a_change_at_once(db: Database, telegram: BindingInfo) -> None:
    """Replies and proactive messages go through senders built from the binding: new secrets
    build a new sender, and a removed binding sends nothing, from the next send on."""
    from bots.senders import ChannelSenders, ProviderUrls
    from engine.delivery import PermanentFailure

    senders = ChannelSenders(db, BOX, ProviderUrls("http://127.0.0.1:9", "http://127.0.0.1:9", ""))
    try:
        first = await senders.for_binding(telegram.id)
        assert await senders.for_binding(telegram.id) is first  # remembered
        await update_binding(
            db, BOX, telegram.id, secrets={"token": "7:BBB", "webhook_secret": "x"}
        )
        second = await senders.for_binding(telegram.id)
        assert second is not first
        await remove_binding(db, telegram.id)
        with pytest.raises(PermanentFailure, match="gone or switched off"):
            await senders.for_binding(telegram.id)
    finally:
        await senders.close()
