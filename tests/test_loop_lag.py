"""The web process's event loop lag: measured into a histogram, and a late loop logged with
whether its thread was busy or waiting."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from config.loop_lag import watch_loop
from engine.db import Database
from tests.test_web import client_for


def lag_count() -> float:
    return REGISTRY.get_sample_value("coachbot_event_loop_lag_seconds_count") or 0.0


@pytest.fixture
async def watcher() -> AsyncIterator[None]:
    task = asyncio.create_task(watch_loop(interval=0.05, warn_after=0.15))
    await asyncio.sleep(0.12)  # a couple of ticks: it is running
    yield
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def late(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [r for r in caplog.records if r.getMessage() == "event loop ran late"]


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_a_callback_holding_the_loop_is_logged_as_busy(
    watcher: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="config.loop_lag"):
        busy(0.4)  # CPU-bound code on the loop
        await asyncio.sleep(0.1)
    [record] = late(caplog)
    assert record.lag_ms >= 300
    assert record.loop_cpu_ms >= 150  # the loop's thread ran: this code held it


async def test_a_blocking_call_is_logged_as_waiting(
    watcher: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="config.loop_lag"):
        time.sleep(0.4)  # noqa: ASYNC251 (the point: a blocking call on the loop, no CPU)
        await asyncio.sleep(0.1)
    [record] = late(caplog)
    assert record.lag_ms >= 300
    assert record.loop_cpu_ms < 100


async def test_an_idle_loop_is_measured_and_not_logged(
    watcher: None, caplog: pytest.LogCaptureFixture
) -> None:
    before = lag_count()
    with caplog.at_level(logging.WARNING, logger="config.loop_lag"):
        await asyncio.sleep(0.3)
    assert lag_count() >= before + 3
    assert late(caplog) == []


async def test_the_web_process_reports_its_loop_lag(db: Database) -> None:
    client: TestClient = await client_for(db)  # type: ignore[type-arg]
    try:
        before = lag_count()
        await asyncio.sleep(0.35)
        body = await (await client.get("/metrics")).text()
        assert "coachbot_event_loop_lag_seconds_bucket" in body
        assert lag_count() >= before + 2
    finally:
        await client.close()
