"""/healthz, /readyz and /metrics of `coachbot serve`'s application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import Settings
from config.web import create_app
from engine.db import Database
from engine.pipeline import Engine


async def client_for(db: Database, redis: Any = None) -> TestClient:  # type: ignore[type-arg]
    app = create_app(Settings(), db, Engine(db), redis)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(db: Database) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    client = await client_for(db)
    yield client
    await client.close()


async def test_healthz(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_when_the_database_answers(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": "ok"}


async def test_metrics_in_prometheus_format(client: TestClient) -> None:  # type: ignore[type-arg]
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    body = await response.text()
    assert 'coachbot_http_requests_total{route="/healthz",status="200"}' in body
    assert "coachbot_inbound_messages_total" in body


async def test_index_lists_creators(client: TestClient, creator: object) -> None:  # type: ignore[type-arg]
    response = await client.get("/")
    assert response.status == 200
    assert "Coach Maya" in await response.text()


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:1/nowhere", "sqlite:////nonexistent-dir/sub/coachbot.db"],
)
async def test_readyz_fails_when_the_database_is_unreachable(url: str) -> None:
    db = Database(url)
    client = await client_for(db)
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        body = await response.json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"].startswith("unavailable")
        assert (await client.get("/healthz")).status == 200  # alive, just not ready
    finally:
        await client.close()
        await settle_sqlite_threads()


async def settle_sqlite_threads() -> None:
    """aiosqlite's worker thread of a connection that failed to open reports back to the event
    loop a moment later; let it finish while this test's loop still runs."""
    import asyncio
    import threading

    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 2.0)


async def test_readyz_checks_redis_when_configured(tmp_path: Path) -> None:
    from redis.asyncio import Redis

    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    good = await client_for(db, Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=2))
    try:
        response = await good.get("/readyz")
        assert response.status == 200
        assert (await response.json())["checks"]["redis"] == "ok"
    finally:
        await good.close()
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    bad = await client_for(db, Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1))
    try:
        response = await bad.get("/readyz")
        assert response.status == 503
        assert (await response.json())["checks"]["redis"].startswith("unavailable")
    finally:
        await bad.close()
