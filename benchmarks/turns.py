"""Engine turns per second (claim → route → stored reply, a /help turn) against a raw baseline:
the same number of single-row INSERT-and-commit transactions through the same driver, in the
same process and run.

    python benchmarks/turns.py --url sqlite:///var/bench.db [--turns 500] [--concurrency 10]
    python benchmarks/turns.py --url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from sqlalchemy import text

from config.wiring import alembic_config
from engine.bindings import terminal_binding
from engine.clock import SystemClock
from engine.creators import create_creator
from engine.db import Database
from engine.pipeline import Engine
from engine.types import Channel, InboundMessage


async def run_concurrently(count: int, concurrency: int, work) -> float:  # type: ignore[no-untyped-def]
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await work(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def bench(url: str, turns: int, concurrency: int) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")
    db = Database(url)
    engine = Engine(db)
    async with db.transaction() as session:
        creator = await create_creator(
            session,
            slug=f"bench-{uuid.uuid4().hex[:6]}",
            name="Bench",
            email=f"{uuid.uuid4().hex[:8]}@bench.invalid",
            password=None,
            now=SystemClock().now(),
        )
        binding = await terminal_binding(session, creator, SystemClock().now())
        await session.execute(text("DROP TABLE IF EXISTS bench_raw"))
        await session.execute(text("CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, body TEXT)"))
    run = uuid.uuid4().hex[:8]

    async def raw(i: int) -> None:
        async with db.transaction() as session:
            await session.execute(
                text("INSERT INTO bench_raw (id, body) VALUES (:id, :body)"),
                {"id": i, "body": "/help"},
            )

    async def turn(i: int) -> None:
        await engine.handle(
            InboundMessage(
                channel=Channel.TERMINAL,
                binding_id=binding.id,
                external_user_id=f"user-{i % 50}",
                external_message_id=f"{run}-{i}",
                text="/help",
            )
        )

    raw_rate = await run_concurrently(turns, concurrency, raw)
    turn_rate = await run_concurrently(turns, concurrency, turn)
    async with db.transaction() as session:
        await session.execute(text("DROP TABLE bench_raw"))
    await db.dispose()
    print(f"{db.dialect}: raw insert+commit {raw_rate:8.0f}/s")
    print(f"{db.dialect}: engine turns      {turn_rate:8.0f}/s   ({turn_rate / raw_rate:.2f}x raw)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(bench(args.url, args.turns, args.concurrency))


if __name__ == "__main__":
    main()
