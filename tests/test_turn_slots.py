"""A process runs a bounded number of turns at once: the others wait for a slot with their
inbound already claimed, and claiming new inbound messages goes on meanwhile (on PostgreSQL,
where a waiting turn holds no lock; SQLite's one writer serializes everything anyway)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, text

from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelBinding
from engine.pipeline import Engine
from engine.routing import Turn
from engine.types import Channel, InboundMessage, Reply

# PostgreSQL only: what these tests hold apart is its row locks and connection pool.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


class Gate:
    """A route that holds every turn saying "wait" until it is opened."""

    name = "gate"

    def __init__(self) -> None:
        self.entered = 0
        self.arrived = asyncio.Event()
        self.opened = asyncio.Event()

    def check(self, turn: Turn) -> bool:
        return turn.text == "wait"

    async def handle(self, turn: Turn) -> Reply:
        self.entered += 1
        self.arrived.set()
        await self.opened.wait()
        return Reply.text(f"done for {turn.inbound.external_user_id}")


def inbound(binding: ChannelBinding, user: str, message: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel=Channel.TERMINAL,
        binding_id=binding.id,
        external_user_id=user,
        external_message_id=message,
        text=text,
        sender_name=user.title(),
    )


@pytest.fixture
async def small_db(database_url: str) -> AsyncIterator[Database]:
    """COACHBOT_DB_POOL_SIZE=3: one turn at a time, two connections beside it."""
    database = Database(database_url, pool_size=3)
    yield database
    await database.dispose()


@pytest.mark.parametrize("limit", ["given", "from-the-pool"])
async def test_turns_past_the_limit_wait_and_claims_go_on(
    db: Database, small_db: Database, clock: ManualClock, binding: ChannelBinding, limit: str
) -> None:
    gate = Gate()
    if limit == "given":
        engine = Engine(db, clock=clock, routes=[gate], turn_concurrency=1)
    else:
        engine = Engine(small_db, clock=clock, routes=[gate])
    first = await engine.claim(inbound(binding, "ann", "m1", "wait"))
    second = await engine.claim(inbound(binding, "bob", "m2", "wait"))
    assert first is not None
    assert second is not None
    turns = [
        asyncio.create_task(engine.process(first)),
        asyncio.create_task(engine.process(second)),
    ]
    await asyncio.wait_for(gate.arrived.wait(), 10)
    await asyncio.sleep(0.3)  # time enough for the second turn to reach the gate, were it let
    assert gate.entered == 1, "the second turn ran beside the first"

    third = await asyncio.wait_for(engine.claim(inbound(binding, "cy", "m3", "hi")), 5)
    assert third is not None  # a webhook's claim does not wait for the turns

    gate.opened.set()
    replies = await asyncio.wait_for(asyncio.gather(*turns), 10)
    assert [r.messages[0].text for r in replies] == ["done for ann", "done for bob"]
    assert gate.entered == 2


async def test_connections_opened_at_a_peak_stay_open(small_db: Database) -> None:
    """A peak past the pool size opens connections up to twice the setting, and the next peak
    reuses them: opening a PostgreSQL connection costs far more than a turn's statements."""
    opened: list[int] = []
    event.listen(small_db.engine.sync_engine, "connect", lambda *_: opened.append(1))
    most = 2 * small_db.pool_size

    async def peak() -> None:
        holding = 0
        all_held = asyncio.Event()
        release = asyncio.Event()

        async def hold() -> None:
            nonlocal holding
            async with small_db.statement() as conn:
                await conn.execute(text("SELECT 1"))
                holding += 1
                if holding == most:
                    all_held.set()
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(most + 1)]
        await asyncio.wait_for(all_held.wait(), 10)
        await asyncio.sleep(0.2)  # the one past the most would have its connection by now
        assert holding == most, "a process opened more connections than twice its pool size"
        release.set()
        await asyncio.wait_for(asyncio.gather(*holders), 10)

    await peak()
    assert len(opened) == most
    await peak()
    assert len(opened) == most, "the second peak opened connections again"
