"""RQ entry points for scaled mode: plain importable functions taking lists of ids (JSON), run by
`coachbot worker`. Each builds its parts from the environment's settings, runs the job's async
implementation on a fresh event loop, and closes what it opened; RQ's forking worker runs every
job in a new process, so nothing is shared between jobs but Redis and the database."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from engine.jobs import JobName

QUEUE_NAME = "coachbot"
JOB_TIMEOUT = 600  # seconds; a delivery batch is far shorter, a stuck one is killed and reaped


def preload() -> None:
    """Import what jobs run before the worker starts forking: RQ runs every job in a fork of the
    worker, which then starts with these modules loaded instead of importing them per job."""
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
        jobs.shutdown()  # the job's process ends here: release the index and the encoder


def _run(job: JobName, ids: list[int]) -> dict[str, int]:
    from config.runtime import build_runtime
    from config.settings import load_settings
    from config.wiring import build_database, build_engine

    settings = load_settings()

    async def main() -> dict[str, int]:
        from redis.asyncio import Redis

        db = build_database(settings)
        redis = Redis.from_url(settings.redis_url or "", socket_timeout=10)
        try:
            engine = build_engine(settings, db)
            runtime = build_runtime(
                settings, engine, queue=RQQueue(settings.redis_url or ""), redis=redis
            )
            try:
                result = await runtime.run(job, ids)
            finally:
                await runtime.close()
            return dict(result) if isinstance(result, dict) else {}
        finally:
            await redis.aclose()
            await db.dispose()

    return asyncio.run(main())


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
