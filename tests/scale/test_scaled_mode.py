"""Scaled mode end to end: two `serve` processes, two RQ workers and two schedulers on
PostgreSQL, a Redis of their own and a Chroma server. Coachees on Telegram and WhatsApp write
to alternating `serve` processes and get their program's replies; the program's next step
comes back on its own through the scheduler, a worker and the outbox; a widget visitor whose
socket is held by one `serve` process gets that step while everything happens elsewhere (Redis
pub/sub); and a document queued for indexing is indexed by a worker into the Chroma server
only, then a question over a webhook is answered from it."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bots.web.hub import CHANNEL as WIDGET_CHANNEL
from engine.binding_changes import CHANNEL as BINDINGS_CHANNEL
from engine.channel_bindings import add_binding
from engine.db import Database
from engine.models import ChannelIdentity, Creator, InboundReceipt, Outbox
from engine.secrets import SecretBox
from engine.types import Channel
from tests.delivery.test_faults import OwnRedis
from tests.scale.cluster import (
    ORIGIN,
    QUESTION_TEXT,
    SECRET_KEY,
    TW_SID,
    TW_TOKEN,
    WAKE_TEXT,
    Cluster,
    Providers,
    Webhooks,
    World,
)
from tests.scale.conftest import start_cluster

pytestmark = pytest.mark.slow

UPLOAD = """
import asyncio, sys
from config.jobs import RQQueue
from config.settings import load_settings
from config.wiring import build_database, build_knowledge
from knowledge import jobs

async def main():
    settings = load_settings()
    db = build_database(settings)
    service = await asyncio.to_thread(build_knowledge, settings, db)
    try:
        queue = RQQueue(settings.redis_url)
        data = sys.stdin.buffer.read()
        document_id, unchanged = await jobs.submit(
            service, queue, int(sys.argv[1]), sys.argv[2], data
        )
        print(document_id, unchanged)
    finally:
        service.close()
        await db.dispose()

asyncio.run(main())
"""
SLEEP_NOTE = (
    "# Sleep\n\nAim for seven to nine hours of sleep each night. Keep the same wake time every "
    "day, weekends included, and dim the lights an hour before bed."
)


@pytest.fixture(scope="module")
def providers() -> Iterator[Providers]:
    fakes = Providers()
    fakes.start()
    try:
        yield fakes
    finally:
        fakes.stop()


@pytest.fixture(scope="module")
def cluster(
    scale_database: str,
    redis_server: OwnRedis,
    chroma_url: str,
    providers: Providers,
    world: World,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    running = start_cluster(
        scale_database,
        redis_server,
        chroma_url,
        providers,
        tmp_path_factory.mktemp("scaled"),
    )
    try:
        asyncio.run(running.ready())
        yield running
    finally:
        running.stop()


async def until(
    check: Callable[[], bool], what: str, cluster: Cluster, patience: float = 30
) -> None:
    """Wait for `check()`; `patience` bounds a hang (it asserts nothing about speed)."""
    deadline = time.monotonic() + patience
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{cluster.logs()}")
        await asyncio.sleep(0.1)


def has(providers: Providers, who: str, needle: str, count: int = 1) -> Callable[[], bool]:
    """Whether `who` has received `count` messages containing `needle`."""
    return lambda: sum(needle in t for t in providers.texts(who)) >= count


async def subscribed(cluster: Cluster, processes: int, channel: str = WIDGET_CHANNEL) -> None:
    """Wait until `processes` serve processes listen on a Redis channel: the widget's frames
    (each starts listening with its widget service, on the first widget request it gets), or
    the binding changes (from the start)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(cluster.redis.url)
    try:
        deadline = time.monotonic() + 20
        while True:
            [(_name, count)] = await redis.pubsub_numsub(channel)
            if count >= processes:
                return
            assert time.monotonic() < deadline, f"{count} subscribers\n{cluster.logs()}"
            await asyncio.sleep(0.05)
    finally:
        await redis.aclose()


def local_indexes(*directories: Path) -> list[Path]:
    """Chroma directories (or their locks) written under `directories`."""
    return [
        found
        for directory in directories
        for pattern in ("chroma.sqlite3", "coachbot.lock")
        for found in directory.rglob(pattern)
    ]


async def vectors(chroma_url: str, name: str) -> int:
    """How many vectors the server's collection holds, asked over its REST API."""
    base = f"{chroma_url}/api/v2/tenants/default_tenant/databases/default_database/collections"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/{name}") as response:
            assert response.status == 200, await response.text()
            collection_id = (await response.json())["id"]
        async with session.get(f"{base}/{collection_id}/count") as response:
            assert response.status == 200, await response.text()
            return int(await response.json())


async def test_coachees_on_telegram_and_whatsapp_get_replies_and_proactive_steps(
    cluster: Cluster, providers: Providers, world: World, scale_database: str
) -> None:
    serves = sorted(cluster.serves)
    chats = [5001, 5002]
    numbers = ["whatsapp:+15557000001", "whatsapp:+15557000002"]
    async with aiohttp.ClientSession() as session:
        hooks = Webhooks(session, cluster, world)
        for i, chat in enumerate(chats):
            await hooks.telegram(chat, "/join daily", serve=serves[i % 2])
        for i, number in enumerate(numbers):
            await hooks.whatsapp(number, "/join daily", serve=serves[(i + 1) % 2])
        people = [str(c) for c in chats] + numbers
        for who in people:
            await until(has(providers, who, QUESTION_TEXT), f"{who}'s question", cluster)
        # each answers on the other process than the one they joined on
        for i, chat in enumerate(chats):
            await hooks.telegram(chat, str(5 + i), serve=serves[(i + 1) % 2])
        for i, number in enumerate(numbers):
            await hooks.whatsapp(number, str(7 + i), serve=serves[i % 2])
        for who, answer in zip(people, (5, 6, 7, 8), strict=True):
            await until(has(providers, who, f"Noted {answer}."), f"{who}'s thanks", cluster)
        # two seconds later the program comes back by itself: scheduler → worker → outbox
        for who in people:
            await until(has(providers, who, WAKE_TEXT), f"{who}'s next step", cluster)
            await until(has(providers, who, QUESTION_TEXT, 2), f"{who}'s question again", cluster)

    db = Database(scale_database)
    try:
        async with db.sessions() as session:
            receipts = await session.scalar(
                select(func.count())
                .select_from(InboundReceipt)
                .where(
                    InboundReceipt.binding_id.in_([world.telegram.id, world.whatsapp.id]),
                    InboundReceipt.status == "processed",
                )
            )
            assert receipts == len(hooks.accepted) == 8
            woken = (
                await session.execute(
                    select(ChannelIdentity.external_user_id, Outbox.state, Outbox.kind)
                    .join(Outbox, Outbox.identity_id == ChannelIdentity.id)
                    .where(ChannelIdentity.external_user_id.in_(people))
                )
            ).all()
    finally:
        await db.dispose()
    # the proactive step went out through the outbox (two messages each), nothing left over
    assert sorted(w for w, state, _kind in woken if state == "sent") == sorted(people * 2)
    assert {kind for _w, _s, kind in woken} == {"program"}


async def test_a_channel_removed_with_the_cli_is_refused_at_once_by_every_process(
    cluster: Cluster, world: World, scale_database: str
) -> None:
    """Each process remembers a webhook's binding for a few seconds; the CLI announces the
    removal over Redis, so neither answers the channel a moment longer."""
    db = Database(scale_database)
    try:
        async with db.sessions() as session:
            creator = await session.get(Creator, world.creator_id)
        assert creator is not None
        spare = await add_binding(  # the other tests keep the seeded sender
            db,
            SecretBox(SECRET_KEY),
            creator,
            Channel.WHATSAPP,
            name="spare wa",
            now=datetime.now(UTC),
            config={"account_sid": TW_SID, "from": "whatsapp:+15550009999"},
            secrets={"auth_token": TW_TOKEN},
        )
    finally:
        await db.dispose()
    serves = sorted(cluster.serves)
    await subscribed(cluster, len(serves), BINDINGS_CHANNEL)
    async with aiohttp.ClientSession() as session:
        hooks = Webhooks(session, cluster, replace(world, whatsapp=spare))
        for serve in serves:  # each process looks the binding up and remembers it
            assert await hooks.whatsapp_once("whatsapp:+15557000099", "hi", serve) == 200
        remove = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "config.cli", "channel", "remove", "--creator", "scale",
            str(spare.id), env=cluster.processes.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(remove.communicate(), 60)
        assert remove.returncode == 0, output.decode(errors="replace")
        for serve in serves:
            assert await hooks.whatsapp_once("whatsapp:+15557000099", "still?", serve) == 404


async def test_a_widget_visitor_on_one_process_gets_the_step_a_worker_sends(
    cluster: Cluster, world: World
) -> None:
    holder, other = (cluster.serves[name] for name in sorted(cluster.serves))
    key = world.widget.public_key
    headers = {"Origin": ORIGIN, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def api(action: str, body: dict[str, Any], token: str | None = None) -> Any:
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            async with session.post(
                f"{other}/widget/api/{key}/{action}", json=body, headers=headers | auth
            ) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        token = (await api("config", {}))["token"]  # the token works on any process
        async with session.ws_connect(
            f"{holder}/widget/ws/{key}", headers={"Origin": ORIGIN}
        ) as ws:
            await ws.send_str(json.dumps({"type": "hello", "token": token}))
            ready = json.loads((await ws.receive(timeout=20)).data)
            assert ready["type"] == "ready", ready
            await subscribed(cluster, 2)  # both processes listen on the widget channel

            frames: list[dict[str, Any]] = []

            async def texts_until(needle: str) -> None:
                deadline = time.monotonic() + 30
                while not any(needle in f.get("message", {}).get("text", "") for f in frames):
                    remaining = deadline - time.monotonic()
                    assert remaining > 0, f"no {needle!r} on the socket: {frames}\n{cluster.logs()}"
                    message = await ws.receive(timeout=remaining)
                    assert message.type == aiohttp.WSMsgType.TEXT, message
                    frames.append(json.loads(message.data))

            # the visitor writes through the other process (the HTTP fallback of widget.js)
            await api("send", {"id": "msg-00000001", "text": "/join daily"}, token)
            await texts_until(QUESTION_TEXT)
            await api("send", {"id": "msg-00000002", "text": "9"}, token)
            await texts_until("Noted 9.")
            sent_before = len(frames)
            # the wait ends: a scheduler claims it, a worker runs it and delivers the outbox row
            # by publishing on Redis; only the holder has the socket
            await texts_until(WAKE_TEXT)
    wake = [f for f in frames[sent_before:] if WAKE_TEXT in f.get("message", {}).get("text", "")]
    assert len(wake) == 1
    assert wake[0]["message"]["dir"] == "out"


async def test_an_upload_is_indexed_by_a_worker_into_the_chroma_server_and_answers(
    cluster: Cluster,
    providers: Providers,
    world: World,
    scale_database: str,
    chroma_url: str,
) -> None:
    from knowledge.models import Document
    from knowledge.store import collection_name

    # An upload in scaled mode, in a process of its own as in a `serve` process: the bytes are
    # stored as queued and the indexing job goes on the RQ queue.
    upload = await asyncio.create_subprocess_exec(
        sys.executable, "-c", UPLOAD, str(world.creator_id), "sleep.md",
        env=cluster.processes.env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(upload.communicate(SLEEP_NOTE.encode()), 120)
    assert upload.returncode == 0, output.decode(errors="replace")
    document_id, unchanged = output.decode().split()[-2:]
    assert unchanged == "False"
    db = Database(scale_database)
    try:
        deadline = time.monotonic() + 120
        while True:
            async with db.sessions() as session:
                status = await session.scalar(
                    select(Document.status).where(Document.id == int(document_id))
                )
            if status == "ready":  # a worker indexed it
                break
            assert status in ("queued", "indexing"), status
            assert time.monotonic() < deadline, f"not indexed\n{cluster.logs()}"
            await asyncio.sleep(0.2)
    finally:
        await db.dispose()
    assert await vectors(chroma_url, collection_name(world.creator_id)) >= 1
    # nothing was written to a local index, by any process
    assert not local_indexes(cluster.directory / "data")

    async with aiohttp.ClientSession() as session:
        hooks = Webhooks(session, cluster, world)
        await hooks.telegram(6001, "How many hours of sleep should I aim for?")
        await until(lambda: bool(providers.texts("6001")), "the answer", cluster, patience=90)
    answer = providers.texts("6001")[0]
    assert "seven to nine hours" in answer
    assert answer.endswith("Sources: [1] Sleep")  # the document's title
