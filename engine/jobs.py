"""Background work as named jobs over lists of ids, with one code path whether the jobs run on RQ
workers (scaled mode, `config.jobs`) or as tasks inside `coachbot serve` (embedded mode, here).

Jobs take ids, never objects: they are JSON-serializable, and a job that runs twice finds its
rows already handled (every job is idempotent over its ids).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol

log = logging.getLogger(__name__)

JobName = Literal["run_due", "deliver", "recover_inbound", "index_documents"]
JOB_NAMES: tuple[JobName, ...] = ("run_due", "deliver", "recover_inbound", "index_documents")


class JobQueue(Protocol):
    async def enqueue(self, job: JobName, ids: Sequence[int]) -> None: ...


JobRunner = Callable[[JobName, list[int]], Awaitable[object]]


class InProcessQueue:
    """Runs jobs as asyncio tasks of this process, a few at a time. What is queued here is lost
    with the process, which is fine: the rows stay pending/claimed in SQL and the scheduler's
    reaper hands them out again."""

    def __init__(self, run: JobRunner, concurrency: int = 4) -> None:
        self._run = run
        self._gate = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, job: JobName, ids: Sequence[int]) -> None:
        if not ids:
            return
        task = asyncio.create_task(self._guarded(job, list(ids)), name=f"job:{job}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, job: JobName, ids: list[int]) -> None:
        async with self._gate:
            try:
                await self._run(job, ids)
            except Exception:
                log.exception("job failed", extra={"job": job, "count": len(ids)})

    async def drain(self, patience: float = 30.0) -> None:
        """Wait for queued jobs (and the jobs they queue) to finish: on shutdown, in tests."""
        while self._tasks:
            done, _ = await asyncio.wait(set(self._tasks), timeout=patience)
            if not done:
                log.warning("jobs still running at shutdown", extra={"count": len(self._tasks)})
                return

    @property
    def busy(self) -> int:
        return len(self._tasks)


def chunks(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]
