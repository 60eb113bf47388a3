"""How late the web process's event loop runs. Every request waits on the one loop, so a turn's
CPU, a blocking call or a machine that did not schedule the process all show up as lag.

A timer fires every `INTERVAL`; how late it fired goes to the histogram
`coachbot_event_loop_lag_seconds`. Lag past `WARN_AFTER` is logged with the CPU the loop's
thread used meanwhile: about the lag means code ran too long on the loop (a CPU-bound
callback), far less means the thread waited (a blocking call, or the machine gave the process
no core).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import suppress

from aiohttp import web
from prometheus_client import Histogram

log = logging.getLogger(__name__)

INTERVAL = 0.1
WARN_AFTER = 0.25

LAG = Histogram(
    "coachbot_event_loop_lag_seconds",
    "How late the web process's event loop ran a timer due every 100 ms.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


async def watch_loop(interval: float = INTERVAL, warn_after: float = WARN_AFTER) -> None:
    """Measure the loop's lag until cancelled."""
    while True:
        started, cpu = time.perf_counter(), time.thread_time()
        await asyncio.sleep(interval)
        lag = max(0.0, time.perf_counter() - started - interval)
        LAG.observe(lag)
        if lag >= warn_after:
            log.warning(
                "event loop ran late",
                extra={
                    "lag_ms": round(lag * 1000),
                    "loop_cpu_ms": round((time.thread_time() - cpu) * 1000),
                    "tasks": len(asyncio.all_tasks()),
                },
            )


async def loop_lag(_app: web.Application) -> AsyncIterator[None]:
    """The watcher for the life of the application (an aiohttp cleanup context)."""
    task = asyncio.get_running_loop().create_task(watch_loop(), name="loop-lag")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
