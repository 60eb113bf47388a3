"""Where a program-step turn's time goes, in one process: the engine's part of what a webhook
does (claim, turn, mark the replies sent) for coachees in the load run's daily check-in, on a
fresh PostgreSQL database. Prints turns/s, SQL statements and transactions per turn, and CPU
per turn; `--profile FILE` writes a cProfile of the measured turns (read it with `python -m
pstats FILE`, or sort by cumulative time).

    python benchmarks/turn_profile.py [--coachees 50] [--turns 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import itertools
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from benchmarks.load_stack import seed  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.pipeline import Engine  # noqa: E402
from engine.types import Channel, InboundMessage  # noqa: E402


class Counter:
    def __init__(self) -> None:
        self.statements = 0
        self.commits = 0
        self.texts: collections.Counter[str] = collections.Counter()


async def bench(
    url: str,
    coachees: int,
    turns: int,
    concurrency: int,
    profile: str | None,
    show_statements: bool,
) -> None:
    await seed(url)
    db = Database(url)
    engine = Engine(db)
    count = Counter()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        count.statements += 1
        count.texts[" ".join(statement.split())[:110]] += 1

    def on_commit(*_: Any) -> None:
        count.commits += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", on_execute)
    event.listen(db.engine.sync_engine, "commit", on_commit)
    from sqlalchemy import select

    from engine.models import ChannelBinding

    async with db.sessions() as session:
        binding_id = await session.scalar(
            select(ChannelBinding.id).where(ChannelBinding.channel == "telegram")
        )
    assert binding_id is not None
    run = uuid.uuid4().hex[:8]
    numbers = itertools.count()

    async def say(user: int, text: str) -> None:
        reply = await engine.handle(
            InboundMessage(
                channel=Channel.TELEGRAM,
                binding_id=binding_id,
                external_user_id=str(1000 + user),
                external_message_id=f"{run}-{next(numbers)}",
                text=text,
                sender_name=f"Coachee {user}",
            )
        )
        await engine.mark_sent_many([(m.message_id, "p1") for m in reply.messages if m.message_id])

    for user in range(coachees):
        await say(user, "/join daily")

    async def loop(users: list[int], n: int) -> None:
        for i in range(n):
            await say(users[i % len(users)], str(random.randint(1, 10)))

    groups = [list(range(coachees))[k::concurrency] for k in range(concurrency)]
    per_group = turns // concurrency
    await asyncio.gather(*(loop(g, 20) for g in groups))  # warm-up: caches, compiled statements
    count.statements = count.commits = 0
    count.texts.clear()
    profiler = cProfile.Profile() if profile else None
    times, started = os.times(), time.perf_counter()
    if profiler:
        profiler.enable()
    await asyncio.gather(*(loop(g, per_group) for g in groups))
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    done = per_group * concurrency
    ended = os.times()
    elapsed = time.perf_counter() - started
    user_s, system_s = ended.user - times.user, ended.system - times.system
    print(f"{done} program-step turns, concurrency {concurrency}: {done / elapsed:.0f}/s")
    print(
        f"  CPU per turn (this process): {1000 * (user_s + system_s) / done:.2f} ms"
        f" (user {1000 * user_s / done:.2f}, system {1000 * system_s / done:.2f})"
    )
    print(f"  SQL statements per turn: {count.statements / done:.1f}")
    print(f"  commits per turn: {count.commits / done:.1f}")
    if show_statements:
        for text, n in count.texts.most_common():
            print(f"    {n / done:5.2f}  {text}")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--coachees", type=int, default=50)
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", help="write a cProfile of the measured turns here")
    parser.add_argument(
        "--statements", action="store_true", help="list the SQL statements run, per turn"
    )
    args = parser.parse_args()
    from alembic import command

    from config.wiring import alembic_config
    from tests import dbs

    admin = os.environ.get("COACHBOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = dbs.create_pg_database(admin, prefix="coachbot_turns")
    try:
        command.upgrade(alembic_config(url), "head")
        asyncio.run(
            bench(url, args.coachees, args.turns, args.concurrency, args.profile, args.statements)
        )
    finally:
        dbs.drop_pg_database(admin, url)


if __name__ == "__main__":
    main()
