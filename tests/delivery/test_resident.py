"""`coachbot worker` runs jobs on a resident event loop (config.jobs.Resident): the parts are
built once and kept across jobs, jobs run on the loop's own thread, and a job timeout (RQ's
SIGALRM in the worker's main thread) cancels the job's coroutine."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from config import jobs
from config.settings import Settings


class FakeParts:
    built = 0

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.cancelled = asyncio.Event()
        self.closed = False

    async def run(self, job: str, ids: list[int]) -> dict[str, int]:
        self.threads.append(threading.current_thread().name)
        if job == "run_due":  # stands for a job that hangs
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return {job: len(ids)}

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeParts]:
    made = FakeParts()

    async def build(settings: Settings) -> Any:
        FakeParts.built += 1
        return made

    FakeParts.built = 0
    monkeypatch.setattr(jobs._Parts, "build", build)
    jobs.start_resident(Settings())
    yield made
    jobs.stop_resident()


def test_jobs_share_one_set_of_parts_on_the_resident_thread(parts: FakeParts) -> None:
    assert jobs.deliver([1, 2, 3]) == {"deliver": 3}
    assert jobs.recover_inbound([4]) == {"recover_inbound": 1}
    assert FakeParts.built == 1
    assert parts.threads == ["coachbot-jobs", "coachbot-jobs"]
    jobs.stop_resident()
    assert parts.closed


class JobTimeout(Exception):
    pass


def test_a_timeout_in_the_main_thread_cancels_the_job(parts: FakeParts) -> None:
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise JobTimeout  # what RQ's UnixSignalDeathPenalty does

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(JobTimeout):
            jobs.run_due([1])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    resident = jobs._resident
    assert resident is not None
    waited = asyncio.run_coroutine_threadsafe(parts.cancelled.wait(), resident.loop)
    waited.result(timeout=5)  # the hung coroutine was cancelled, not left running
    assert jobs.deliver([1]) == {"deliver": 1}  # and the loop takes the next job


def listeners() -> int:
    from redis import Redis

    from engine.binding_changes import CHANNEL

    client = Redis.from_url("redis://127.0.0.1:6379/13")
    try:
        return int(client.pubsub_numsub(CHANNEL)[0][1])
    finally:
        client.close()


def test_a_scaled_worker_listens_for_binding_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its kept senders follow a coach's channel change (a new token, switched off) at once."""

    async def build(settings: Settings) -> Any:
        return FakeParts()

    monkeypatch.setattr(jobs._Parts, "build", build)
    before = listeners()
    jobs.start_resident(Settings(redis_url="redis://127.0.0.1:6379/13"))
    try:
        assert jobs.deliver([1]) == {"deliver": 1}
        deadline = time.monotonic() + 10
        while listeners() == before:
            assert time.monotonic() < deadline, "the worker never subscribed"
            time.sleep(0.02)
        assert listeners() == before + 1
    finally:
        jobs.stop_resident()
    assert listeners() == before
