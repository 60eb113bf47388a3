"""Background tasks owned by the web app: webhook turns run here after the provider got its 200.

Each task is kept (so it is not garbage-collected mid-flight), its failure is logged, and on
shutdown the app drains them: waits up to a timeout, then cancels what is left. A cancelled turn
loses nothing: its receipt stays "claimed" and the scheduler's recovery sweep processes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        if self._closed:  # shutting down: the receipt stays claimed for the recovery sweep
            coro.close()
            log.warning("shutting down; background task not started", extra={"task": name})
            return
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            log.warning("background task cancelled", extra={"task": task.get_name()})
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "background task failed",
                exc_info=(type(exc), exc, exc.__traceback__),
                extra={"task": task.get_name()},
            )

    async def join(self) -> None:
        """Wait until every task spawned so far (and any they spawn) has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 (a deadline, then cancel)
        """Stop taking work, wait up to `timeout` seconds for the running tasks, cancel the rest."""
        self._closed = True
        if not self._tasks:
            return
        pending = set(self._tasks)
        log.info("waiting for background tasks", extra={"count": len(pending)})
        _, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still)
