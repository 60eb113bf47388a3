"""Proactive messages for widget visitors through the real outbox and the web sender: live to an
open socket (in-process, and through Redis between `serve` processes), stored for an absent
visitor and counted as unread until read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bots.web.hub import LocalHub, RedisPublisher
from bots.web.routes import WIDGET
from bots.web.sender import WebSender, WithWebSender
from config.runtime import build_limiter
from config.settings import Settings
from config.web import create_app
from config.wiring import build_senders
from engine.channel_bindings import BindingInfo
from engine.clock import ManualClock
from engine.db import Database
from engine.delivery import SenderFactory
from engine.models import ChannelIdentity, Contact, Message, Outbox
from engine.outbox import enqueue
from engine.pipeline import Engine
from engine.runtime import Runtime
from engine.types import OutboundMessage
from tests.web.conftest import AppClient, api, connect, new_token

REDIS_URL = "redis://127.0.0.1:6379/0"


async def nudge(
    settings: Settings,
    engine: Engine,
    clock: ManualClock,
    visitor: str,
    text: str,
    senders: SenderFactory | None = None,
) -> str:
    """A proactive message to the visitor's contact, delivered by the outbox; its end state."""
    db = engine.db
    async with db.transaction() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.external_user_id == visitor)
        )
        assert identity is not None
        contact = await session.get(Contact, identity.contact_id)
        assert contact is not None
        ids = await enqueue(
            session,
            key=f"test:{text}",
            kind="nudge",
            contact=contact,
            messages=[OutboundMessage(text)],
            now=clock.now(),
        )
    factory = senders or build_senders(settings, db)
    runtime = Runtime(engine, factory, build_limiter(settings))
    try:
        await runtime.deliverer.deliver(ids)
    finally:
        if senders is None:
            await factory.close()  # type: ignore[attr-defined]
    async with db.sessions() as session:
        row = await session.scalar(select(Outbox).where(Outbox.id == ids[0]))
        assert row is not None
        return f"{row.state}:{row.reason or '-'}"


async def test_a_proactive_message_reaches_the_open_socket_live(
    client: AppClient,
    widget: BindingInfo,
    settings: Settings,
    web_engine: Engine,
    clock: ManualClock,
) -> None:
    socket, ready = await connect(client, widget, await new_token(client, widget))
    await socket.reply_to("msg-00000001", "/help")
    assert (
        await nudge(settings, web_engine, clock, ready["visitor"], "Time for a walk!") == "sent:-"
    )
    frame = await socket.next("message")
    assert frame["message"]["text"] == "Time for a walk!"
    assert frame["message"]["dir"] == "out"


async def test_offline_a_proactive_message_is_stored_and_counted_unread_until_read(
    client: AppClient,
    widget: BindingInfo,
    settings: Settings,
    web_engine: Engine,
    clock: ManualClock,
    db: Database,
) -> None:
    token = await new_token(client, widget)
    socket, ready = await connect(client, widget, token)
    await socket.reply_to("msg-00000001", "/help")
    replies = [m for m in socket.seen if m["type"] == "message" and m["message"]["dir"] == "out"]
    await socket.send({"type": "read", "up_to": replies[-1]["message"]["id"]})
    await socket.next("read")
    await socket.ws.close()  # the visitor left

    # "sent" means delivered to the visitor's inbox: the outbox is done with it, no retries
    assert await nudge(settings, web_engine, clock, ready["visitor"], "Missed you!") == "sent:-"
    assert await nudge(settings, web_engine, clock, ready["visitor"], "Still there?") == "sent:-"
    async with db.sessions() as session:
        statuses = (
            await session.scalars(select(Message.status).where(Message.route == "nudge"))
        ).all()
    assert statuses == ["sent", "sent"]

    status, config = await api(client, widget, "config", token=token)  # the next visit
    assert (status, config["unread"]) == (200, 2)
    socket, ready = await connect(client, widget, token)
    assert ready["unread"] == 2
    assert [m["text"] for m in ready["messages"][-2:]] == ["Missed you!", "Still there?"]
    status, data = await api(
        client, widget, "read", {"up_to": ready["messages"][-1]["id"]}, token=token
    )
    assert (status, data) == (200, {"unread": 0})
    assert (await socket.next("read"))["up_to"] == ready["messages"][-1]["id"]  # other tabs
    # the marker never moves back
    await api(client, widget, "read", {"up_to": 1}, token=token)
    assert (await api(client, widget, "config", token=token))[1]["unread"] == 0


@pytest.fixture
async def redis_apps(
    settings: Settings, db: Database, web_engine: Engine
) -> AsyncIterator[tuple[AppClient, AppClient, Settings]]:
    """Two `serve` processes' apps sharing Redis, as in scaled mode."""
    scaled = replace(settings, redis_url=REDIS_URL)
    clients = []
    for _ in range(2):
        client = TestClient(TestServer(create_app(scaled, db, web_engine), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
    try:
        yield clients[0], clients[1], scaled
    finally:
        for client in clients:
            await client.close()


async def test_scaled_mode_delivers_through_redis_to_the_process_holding_the_socket(
    redis_apps: tuple[AppClient, AppClient, Settings],
    widget: BindingInfo,
    web_engine: Engine,
    clock: ManualClock,
) -> None:
    holder, other, scaled = redis_apps
    token = await new_token(other, widget)  # tokens work on any process
    socket, ready = await connect(holder, widget, token)
    service = await holder.app[WIDGET].service()
    assert service.bridge is not None
    await asyncio.wait_for(service.bridge.subscribed.wait(), 10)
    # a turn on the other process reaches this socket too
    status, _ = await api(
        other, widget, "send", {"id": "msg-00000001", "text": "/help"}, token=token
    )
    assert status == 200
    echoed = await socket.next("message")
    assert echoed["message"]["dir"] == "in"
    # The outbox of a worker process publishes on Redis and the holder delivers. A worker has
    # no sockets: its own hub is empty, so the frame can only arrive through Redis.
    wired = build_senders(scaled, web_engine.db)
    assert isinstance(wired.web.publisher, RedisPublisher)
    worker = WithWebSender(wired.inner, WebSender(RedisPublisher(REDIS_URL, LocalHub())), wired.db)
    try:
        sent = await nudge(scaled, web_engine, clock, ready["visitor"], "From a worker", worker)
    finally:
        await worker.close()
    assert sent == "sent:-"
    while (await socket.next("message"))["message"]["text"] != "From a worker":
        pass
