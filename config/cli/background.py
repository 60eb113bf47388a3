"""`coachbot worker` and `coachbot scheduler`: the background processes of scaled mode."""

from __future__ import annotations

import asyncio
import signal

import click

from config.cli.base import AppContext, fail, pass_app


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty (tests, cron).")
@click.option("--name", help="Worker name shown in RQ (default: host and pid).")
@click.option(
    "--fork",
    is_flag=True,
    help="Run each job in a fork of the worker (RQ's default Worker) instead of on the worker's "
    "resident event loop: slower, but a job cannot leave anything behind in the worker.",
)
@pass_app
def worker(app: AppContext, burst: bool, name: str | None, fork: bool) -> None:
    """Run an RQ worker for coachbot's jobs (delivery, due work, recovery, indexing). Needs
    Redis; in embedded mode `coachbot serve` runs jobs itself."""
    settings = app.start(migrate=False)
    if not settings.redis_url:
        raise fail(
            "coachbot worker needs COACHBOT_REDIS_URL (scaled mode); without Redis, "
            "`coachbot serve` runs the jobs itself"
        )
    from redis import Redis
    from rq import Queue, SimpleWorker, Worker
    from rq.serializers import JSONSerializer

    from config.jobs import QUEUE_NAME, preload, start_resident, stop_resident

    preload()
    connection = Redis.from_url(settings.redis_url, socket_timeout=30, socket_connect_timeout=5)
    queue = Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)
    # SimpleWorker runs jobs in this process, on the resident loop (config.jobs.Resident).
    worker_class = Worker if fork else SimpleWorker
    if not fork:
        start_resident(settings)
    try:
        rq_worker = worker_class(
            [queue], connection=connection, serializer=JSONSerializer, name=name
        )
        rq_worker.work(burst=burst, logging_level=settings.log_level, with_scheduler=False)
    finally:
        stop_resident()


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run one pass (and its jobs, without Redis), then exit.")
@pass_app
def scheduler(app: AppContext, once: bool) -> None:
    """Hand due program steps, nudges and queued sends to workers, and return what dead workers
    left behind. Safe to run more than one. Without Redis it runs the jobs itself."""
    settings = app.start()
    from config.runtime import build_embedded_background, build_scheduler
    from config.wiring import build_database, build_engine

    async def main() -> None:
        db = build_database(settings)
        engine = build_engine(settings, db)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            if settings.redis_url:
                from config.jobs import RQQueue

                sched = build_scheduler(settings, engine, RQQueue(settings.redis_url))
                if once:
                    click.echo(dict(await sched.tick(housekeeping=True)))
                else:
                    await sched.run(stop)
            else:
                background = build_embedded_background(settings, engine)
                if once:
                    click.echo(dict(await background.scheduler.tick(housekeeping=True)))
                    await background.queue.drain()
                else:
                    await background.start()
                    await stop.wait()
                await background.close()
        finally:
            await db.dispose()

    asyncio.run(main())
