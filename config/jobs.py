"""RQ entry points for scaled mode: plain importable functions taking lists of ids (JSON), run by
`coachbot worker`.

`coachbot worker` runs jobs in its own process (RQ's SimpleWorker) on a resident event loop
whose parts (database pool, Redis, the channels' HTTP clients, the runtime) are built once and
kept: measured on delivery, building them per job and forking per job cost about a fifth of the
worker's CPU. Called anywhere else (a forking RQ worker, `coachbot worker --fork`, a test), a job
builds its parts, runs on a fresh event loop and closes what it opened.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config.settings import Settings

from engine.jobs import JobName

QUEUE_NAME = "coachbot"
JOB_TIMEOUT = 600  # seconds; a delivery batch is far shorter, a stuck one is killed and reaped


def preload() -> None:
    """Import what jobs run before the worker takes jobs (with `--fork`, each job's fork then
    starts with these modules loaded instead of importing them per job)."""
    import redis.asyncio  # noqa: F401

    import bots.senders  # noqa: F401
    import config.runtime
    import config.wiring  # noqa: F401
    import engine.runtime  # noqa: F401


def run_due(ids: list[int]) -> dict[str, int]:
    return _run("run_due", ids)


def deliver(ids: list[int]) -> dict[str, int]:
    return _run("deliver", ids)


def recover_inbound(ids: list[int]) -> dict[str, int]:
    return _run("recover_inbound", ids)


def index_documents(ids: list[int]) -> dict[str, int]:
    """Index stored knowledge-base documents. A worker writes only to the Chroma server: the
    local index directory of embedded mode belongs to the one `serve` process that owns it."""
    from config.settings import load_settings
    from knowledge import jobs

    if not load_settings().chroma_url:
        raise RuntimeError(
            "index_documents on an RQ worker needs COACHBOT_CHROMA_URL (a Chroma server); "
            "the documents stay queued: `coachbot kb retry` indexes them inline"
        )
    try:
        return _run("index_documents", ids)
    finally:
        if _resident is None:
            jobs.shutdown()  # the job's process ends here: release the index and the encoder


def _run(job: JobName, ids: list[int]) -> dict[str, int]:
    if _resident is not None:
        return _resident.run(job, ids)
    from config.settings import load_settings

    async def main() -> dict[str, int]:
        parts = await _Parts.build(load_settings())
        try:
            return await parts.run(job, ids)
        finally:
            await parts.close()

    return asyncio.run(main())


class _Parts:
    """What a job runs with: the database, Redis, the engine and the runtime (its senders)."""

    def __init__(self, db: Any, redis: Any, runtime: Any) -> None:
        self.db, self.redis, self.runtime = db, redis, runtime

    @classmethod
    async def build(cls, settings: Settings) -> _Parts:
        from redis.asyncio import Redis

        from config.runtime import build_runtime
        from config.wiring import build_database, build_engine

        db = build_database(settings)
        redis = Redis.from_url(settings.redis_url or "", socket_timeout=10)
        engine = build_engine(settings, db)
        queue = RQQueue(settings.redis_url or "")
        return cls(db, redis, build_runtime(settings, engine, queue=queue, redis=redis))

    async def run(self, job: JobName, ids: list[int]) -> dict[str, int]:
        result = await self.runtime.run(job, ids)
        return dict(result) if isinstance(result, dict) else {}

    async def close(self) -> None:
        try:
            await self.runtime.close()
        finally:
            await self.redis.aclose()
            await self.db.dispose()


class Resident:
    """An event loop in a thread of its own with the job parts built on first use and kept;
    RQ calls the job functions in the worker's main thread, which waits here. A job timeout
    (RQ's SIGALRM in the main thread) cancels the job's coroutine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="coachbot-jobs")
        self._thread.daemon = True
        self._thread.start()
        self._parts: _Parts | None = None
        self._listener: Any = None

    def run(self, job: JobName, ids: list[int]) -> dict[str, int]:
        future = asyncio.run_coroutine_threadsafe(self._run(job, ids), self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    async def _run(self, job: JobName, ids: list[int]) -> dict[str, int]:
        if self._parts is None:
            self._parts = await _Parts.build(self.settings)
            if self.settings.redis_url:
                from engine.binding_changes import listen

                # The kept senders follow a coach's channel change at once, as the serves do.
                self._listener = listen(self.settings.redis_url)
                self._listener.start()
        return await self._parts.run(job, ids)

    def close(self) -> None:
        async def close() -> None:
            if self._listener is not None:
                await self._listener.close()
            if self._parts is not None:
                await self._parts.close()

        # The process is ending anyway: a close that hangs or fails does not stop it.
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


_resident: Resident | None = None


def start_resident(settings: Settings) -> Resident:
    """Run this process's jobs on one resident loop from now on (`coachbot worker`)."""
    global _resident
    _resident = Resident(settings)
    return _resident


def stop_resident() -> None:
    global _resident
    resident, _resident = _resident, None
    if resident is not None:
        resident.close()


class RQQueue:
    """Enqueues jobs on Redis for `coachbot worker` (RQ, JSON-serialized ids)."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._queue: Any = None

    def _rq_queue(self) -> Any:
        if self._queue is None:
            from redis import Redis
            from rq import Queue
            from rq.serializers import JSONSerializer

            connection = Redis.from_url(self.redis_url, socket_timeout=10, socket_connect_timeout=5)
            self._queue = Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)
        return self._queue

    async def enqueue(self, job: JobName, ids: Sequence[int]) -> None:
        if not ids:
            return
        queue = self._rq_queue()
        await asyncio.to_thread(
            queue.enqueue,
            f"config.jobs.{job}",
            list(ids),
            job_timeout=JOB_TIMEOUT,
            result_ttl=300,
            failure_ttl=7 * 24 * 3600,
        )
