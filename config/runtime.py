"""The background half of the composition root: the job queue (RQ with Redis, in-process
without), the rate limiter, the job runtime, and the scheduler that `coachbot serve` runs
itself in embedded mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from config.settings import Settings

if TYPE_CHECKING:
    from engine.db import Database
    from engine.delivery import Sender, SenderFactory
    from engine.jobs import InProcessQueue, JobQueue
    from engine.pipeline import Engine
    from engine.ratelimit import RateLimiter
    from engine.runtime import Runtime
    from engine.scheduler import Scheduler

log = logging.getLogger(__name__)


class NoSenders:
    """A sender factory for channels that have none (yet): sending fails with a clear reason
    instead of crashing the worker."""

    async def for_binding(self, binding_id: int) -> Sender:
        raise LookupError(f"no sender is available for channel binding {binding_id}")


def build_senders(settings: Settings, engine: Engine) -> SenderFactory:
    """The channels' senders when the channel adapters are installed, else none."""
    import config.wiring as wiring

    factory = getattr(wiring, "build_senders", None)
    if factory is None:
        return NoSenders()
    return factory(settings, engine.db)  # type: ignore[no-any-return]


def build_limiter(settings: Settings, redis: Any = None) -> RateLimiter:
    from engine.ratelimit import LocalRateLimiter, RedisRateLimiter

    return RedisRateLimiter(redis) if redis is not None else LocalRateLimiter()


def build_runtime(
    settings: Settings, engine: Engine, *, queue: JobQueue | None, redis: Any = None
) -> Runtime:
    from engine.runtime import Runtime

    install_knowledge(settings, engine.db)
    return Runtime(
        engine,
        build_senders(settings, engine),
        build_limiter(settings, redis),
        queue=queue,
        rate_scale=settings.send_rate_scale,
        ambiguous_retry_after=timedelta(seconds=settings.ambiguous_retry_after),
    )


def install_knowledge(settings: Settings, db: Database) -> None:
    """How the `index_documents` job opens this process's knowledge base if nothing has yet:
    the same way the answerer does, so the process holds one (a local index has one owner)."""
    import config.wiring as wiring
    from knowledge import jobs

    opener = getattr(wiring, "process_knowledge", None)
    if opener is not None:
        jobs.install_factory(lambda: opener(settings, db))
    else:
        jobs.install_factory(lambda: wiring.build_knowledge(settings, db))


def build_scheduler(settings: Settings, engine: Engine, queue: JobQueue) -> Scheduler:
    from engine.scheduler import Scheduler

    return Scheduler(
        engine.db,
        queue,
        engine.clock,
        batch_size=settings.job_batch_size,
        interval=settings.scheduler_interval,
        reap_after=timedelta(seconds=settings.reap_after),
    )


@dataclass
class EmbeddedBackground:
    """Scheduler and job runner inside one process (no Redis): what `coachbot serve` and
    `coachbot scheduler` run in embedded mode."""

    runtime: Runtime
    queue: InProcessQueue
    scheduler: Scheduler
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.scheduler.run(self.stop), name="scheduler")

    async def close(self, patience: float = 10.0) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.queue.drain(patience)
        await self.runtime.close()


def build_embedded_background(settings: Settings, engine: Engine) -> EmbeddedBackground:
    from engine.jobs import InProcessQueue

    holder: dict[str, Runtime] = {}

    async def run(job: Any, ids: list[int]) -> object:
        return await holder["runtime"].run(job, ids)

    queue = InProcessQueue(run)
    runtime = build_runtime(settings, engine, queue=queue)
    holder["runtime"] = runtime
    return EmbeddedBackground(runtime, queue, build_scheduler(settings, engine, queue))
