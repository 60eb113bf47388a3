"""The hub as `coachbot serve` mounts it (config.web.create_app), with the real channel
connector: a Telegram token is checked with getMe and the webhook set on the fake Bot API, a
WhatsApp sender is stored with its secret sealed, a widget gets the snippet bots.web makes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import Settings
from config.web import create_app
from engine.clock import ManualClock
from engine.db import Database
from engine.pipeline import Engine
from tests.fakes import FakeTelegram
from tests.hub.conftest import PASSWORD, Browser


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


async def test_served_hub_connects_channels(
    db: Database, clock: ManualClock, tmp_path: Path, telegram: FakeTelegram
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        secret_key="wiring-secret",
        public_url="https://coach.example.com",
        telegram_api_url=telegram.url,
    )
    client = TestClient(
        TestServer(create_app(settings, db, Engine(db, clock=clock)), host="127.0.0.1")
    )
    await client.start_server()
    browser = Browser(client)
    try:
        index = await browser.get("/")
        assert "href=/hub/" in index.body_text
        assert (await client.get("/hub", allow_redirects=False)).headers["Location"] == "/hub/"
        form = await client.get("/hub/signup")
        # The cookies are Secure (the public URL is https): carry them by hand over the test's
        # plain-http connection, as the TLS proxy would.
        anon = form.cookies["coachbot_hub_csrf"]
        assert anon["secure"]
        client.session.cookie_jar.update_cookies({"coachbot_hub_csrf": anon.value})
        await browser.get("/hub/signup")
        response = await client.post(
            "/hub/signup",
            data={
                "csrf": browser.csrf,
                "name": "Maya",
                "email": "maya@example.com",
                "password": PASSWORD,
                "workspace": "Coach Maya",
            },
            allow_redirects=False,
            headers={"X-Forwarded-Proto": "https"},
        )
        assert response.status == 303
        assert response.cookies["coachbot_hub"]["secure"]  # behind a TLS proxy
        client.session.cookie_jar.update_cookies(
            {"coachbot_hub": response.cookies["coachbot_hub"].value}
        )
        await browser.get("/hub/channels")
        page = await browser.follow("/hub/channels/telegram", {"token": "123:TEST"})
        assert "Connected @coach_bot" in page.body_text
        hook = telegram.webhooks["123:TEST"]
        assert re.fullmatch(r"https://coach\.example\.com/webhooks/telegram/[\w-]+", hook["url"])
        assert hook["url"] in page.body_text
        assert "123:TEST" not in page.body_text
        refused = await browser.post("/hub/channels/telegram", {"token": "999:WRONG"})
        assert refused.status == 400
        assert "Unauthorized" in refused.body_text
        page = await browser.follow(
            "/hub/channels/whatsapp",
            {
                "account_sid": "AC0123",
                "auth_token": "twilio-secret-token-value",
                "sender": "+14155238886",
            },
        )
        assert "https://coach.example.com/webhooks/twilio/" in page.body_text
        assert "twilio-secret-token-value" not in page.body_text
        page = await browser.post(
            "/hub/channels/widget",
            {"origins": "https://maya.example\nhttps://www.maya.example", "color": "#0f766e"},
        )
        assert page.status == 200
        assert 'src="https://coach.example.com/widget.js" data-widget="' in page.body_text.replace(
            "&#34;", '"'
        ).replace("&lt;", "<").replace("&gt;", ">")
        bad = await browser.post("/hub/channels/widget", {"origins": "https://*.maya.example"})
        assert bad.status == 400
        assert "wildcards" in bad.body_text
        openapi = await client.get("/api/v1/openapi.json")
        assert (await openapi.json())["servers"][0]["url"] == "https://coach.example.com/api/v1"
    finally:
        await client.close()


async def test_uploads_go_to_the_workers_queue_in_scaled_mode(tmp_path: Path) -> None:
    """With Redis and a Chroma server, the hub's uploads are indexed by `coachbot worker` (the
    RQ job `config.jobs.index_documents`), not inside the web process; with a local index the
    web process owns it and indexes itself."""
    from redis import Redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    from config.hub import _queued_indexing
    from config.jobs import QUEUE_NAME

    spawned: list[str] = []

    def spawn(coro: object, name: str) -> None:
        spawned.append(name)
        coro.close()  # type: ignore[attr-defined]

    local = Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:6379/13")
    assert _queued_indexing(local, spawn) is None  # no Chroma server: this process indexes

    redis_url = "redis://127.0.0.1:6379/13"
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    try:
        scaled = Settings(data_dir=tmp_path, redis_url=redis_url, chroma_url="http://127.0.0.1:9")
        index = _queued_indexing(scaled, spawn)
        assert index is not None
        await index(None, [7, 8])  # type: ignore[arg-type]
        queue = Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)
        (job,) = queue.get_jobs()
        assert (job.func_name, list(job.args)) == ("config.jobs.index_documents", [[7, 8]])
        assert spawned == []
    finally:
        connection.flushdb()
        connection.close()
