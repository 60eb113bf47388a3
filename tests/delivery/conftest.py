from __future__ import annotations

from collections.abc import Sequence

import pytest

from engine.bindings import create_binding
from engine.clock import ManualClock
from engine.db import Database
from engine.jobs import JobName
from engine.models import ChannelBinding, Creator
from engine.pipeline import Engine
from engine.ratelimit import LocalRateLimiter
from engine.runtime import Runtime
from engine.types import Channel
from tests.delivery.fakes import FakeSender, FakeSenders


class RecordingQueue:
    """A job queue that records what it is given and runs it when asked (deterministic)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[JobName, list[int]]] = []
        self.runtime: Runtime | None = None

    async def enqueue(self, job: JobName, ids: Sequence[int]) -> None:
        self.jobs.append((job, list(ids)))

    async def run_all(self) -> None:
        assert self.runtime is not None
        while self.jobs:
            job, ids = self.jobs.pop(0)
            await self.runtime.run(job, ids)


@pytest.fixture
async def telegram(db: Database, creator: Creator, clock: ManualClock) -> ChannelBinding:
    async with db.transaction() as session:
        fresh = await session.get(Creator, creator.id)
        assert fresh is not None
        return await create_binding(session, fresh, Channel.TELEGRAM, name="bot", now=clock.now())


@pytest.fixture
async def whatsapp(db: Database, creator: Creator, clock: ManualClock) -> ChannelBinding:
    async with db.transaction() as session:
        fresh = await session.get(Creator, creator.id)
        assert fresh is not None
        return await create_binding(
            session, fresh, Channel.WHATSAPP, name="wa", now=clock.now(),
            config={"templates": {"default": "HXdefault"}},
        )  # fmt: skip


@pytest.fixture
def sender() -> FakeSender:
    return FakeSender()


@pytest.fixture
def queue(
    engine: Engine, telegram: ChannelBinding, whatsapp: ChannelBinding, sender: FakeSender
) -> RecordingQueue:
    queue = RecordingQueue()
    senders = FakeSenders({telegram.id: sender, whatsapp.id: sender})
    queue.runtime = Runtime(engine, senders, LocalRateLimiter(), queue=queue, rate_scale=1000)
    return queue
