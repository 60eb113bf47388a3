"""How far a program-step turn is from its floor: the same Telegram webhooks (closed loop, the
load run's coachees in its daily check-in) against, in turn, `coachbot serve` and
`floor_server.py` (the same SQL statements and replies with no framework, see its docstring),
each as one process per core on the same PostgreSQL database, and a raw aiohttp hello-world
driven by the same client. Rounds alternate the two servers, so both see the same hour of
this machine. Prints, per run and as medians, turns/s and the whole machine's CPU per turn,
each against the raw request.

    python benchmarks/turn_floor.py [--coachees 60] [--seconds 15] [--rounds 2] [--serves 2]

What it answers: how much of a turn's cost is the work itself (a webhook in, eight
statements, two replies out) and how much is ours, and so how close to the raw hello-world
rate any implementation of this turn could come on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from statistics import median

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_fakes import Providers  # noqa: E402
from benchmarks.load_stack import (  # noqa: E402
    TG_TOKEN,
    TG_WEBHOOK,
    Raw,
    Stack,
    free_port,
    loopback,
    raw_baseline,
    seed,
    wait_http,
)
from benchmarks.load_traffic import (  # noqa: E402
    ERRORS,
    Coachee,
    Meter,
    Phase,
    Traffic,
    closed_loop,
    gather_limited,
)


@dataclass(frozen=True)
class Run:
    server: str  # coachbot | floor
    turns_per_second: float
    machine_ms: float  # whole machine's CPU per turn
    server_ms: float  # the server processes' CPU per turn
    postgres_ms: float
    raw: Raw
    errors: int
    rows: str = ""  # rows written per turn, to show both servers did the same work


TABLES = ("messages", "checkins", "program_step_log", "inbound_receipts")


async def row_counts(url: str) -> list[int]:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        return [await connection.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES]
    finally:
        await connection.close()


def start_servers(stack: Stack, kind: str, count: int, binding_id: int) -> list[str]:
    urls = []
    for i in range(count):
        port = free_port()
        urls.append(loopback(f"http://127.0.0.1:{port}"))
        if kind == "coachbot":
            command = [sys.executable, "-m", "config.cli", "serve", "--host", "127.0.0.1",
                       "--port", str(port)]  # fmt: skip
        else:
            command = [
                sys.executable, str(ROOT / "benchmarks" / "floor_server.py"),
                "--port", str(port), "--database-url", stack.url.replace("+asyncpg", ""),
                "--provider-url", stack.env["COACHBOT_TELEGRAM_API_URL"],
                "--binding-id", str(binding_id), "--token", TG_TOKEN,
                "--webhook-secret", TG_WEBHOOK,
            ]  # fmt: skip
        stack.spawn(f"{kind}{i}", command, env=stack.env)
    return urls


def stop_servers(stack: Stack, kind: str) -> None:
    for name in [n for n in stack.processes if n.startswith(kind)]:
        process = stack.processes.pop(name)
        process.terminate()
        process.wait(20)


def answer(_: Coachee) -> str:
    return str(random.randint(1, 10))


async def measure(
    args: argparse.Namespace, stack: Stack, traffic: Traffic, kind: str, binding_id: int
) -> Run:
    """One closed loop of the coachees against `kind`'s servers, started for it. `traffic` is
    shared by every run: its message ids go on counting, so no run's webhook is taken for a
    redelivery of an earlier one's."""
    urls = start_servers(stack, kind, args.serves, binding_id)
    for url in urls:
        await wait_http(f"{url}/healthz")
    raw = await raw_baseline(5.0, min(args.coachees, 64))
    traffic.serves = itertools.cycle(urls)
    coachees = [Coachee(i, "telegram") for i in range(args.coachees)]
    pids = [p.pid for n, p in stack.processes.items() if n.startswith(kind)]
    await closed_loop(traffic, coachees, answer, 2, Phase("warm-up", 3.0))
    meter = Meter({"server": pids, "generator": [os.getpid()]}, stack.url)
    before = await row_counts(stack.url)
    phase = await closed_loop(traffic, coachees, answer, 2, Phase(kind, args.seconds, meter=meter))
    written = [b - a for a, b in zip(before, await row_counts(stack.url), strict=True)]
    stop_servers(stack, kind)
    turns = phase.turns + phase.overrun
    per_turn = {name: seconds * 1000 / max(turns, 1) for name, seconds in phase.cpu.items()}
    if not phase.turns:
        raise SystemExit(f"{kind}: no turn completed; errors: {ERRORS}; logs in {stack.logs}")
    run = Run(
        kind, phase.per_second, per_turn["machine"], per_turn["server"], per_turn["postgres"],
        raw, phase.errors, " / ".join(f"{n / turns:.2f}" for n in written),
    )  # fmt: skip
    print(row(len(RUNS) + 1, run), flush=True)
    RUNS.append(run)
    return run


RUNS: list[Run] = []
HEADER = (
    "| run | server | turns/s | ÷ raw rate | whole machine ms per turn | ÷ raw request |"
    " server ms | postgres ms | raw req/s | errors | rows per turn: " + " / ".join(TABLES) + " |"
    "\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def row(n: int | str, run: Run) -> str:
    return (
        f"| {n} | {run.server} | {run.turns_per_second:.1f} |"
        f" 1/{run.raw.rate / run.turns_per_second:.0f} | {run.machine_ms:.2f} |"
        f" {run.machine_ms / run.raw.machine_ms:.0f}× | {run.server_ms:.2f} |"
        f" {run.postgres_ms:.2f} | {run.raw.rate:,.0f} | {run.errors} | {run.rows} |"
    )


def medians(kind: str) -> Run:
    runs = [r for r in RUNS if r.server == kind]
    raw = Raw(
        median([r.raw.rate for r in runs]), median([r.raw.server_ms for r in runs]),
        median([r.raw.client_ms for r in runs]), median([r.raw.machine_ms for r in runs]),
    )  # fmt: skip
    return Run(
        kind, median([r.turns_per_second for r in runs]), median([r.machine_ms for r in runs]),
        median([r.server_ms for r in runs]), median([r.postgres_ms for r in runs]), raw,
        sum(r.errors for r in runs),
    )  # fmt: skip


async def run(args: argparse.Namespace, url: str) -> None:
    from sqlalchemy import select

    from engine.db import Database
    from engine.models import ChannelBinding

    providers = Providers()
    provider_url = loopback(await providers.start(free_port()))
    stack = Stack(args, url)
    try:
        await stack.start_stores(provider_url)
        keys = await seed(url)
        db = Database(url)
        async with db.sessions() as session:
            binding_id = await session.scalar(
                select(ChannelBinding.id).where(ChannelBinding.public_key == keys.telegram)
            )
        await db.dispose()
        assert binding_id is not None
        # Coachees join through coachbot, so both servers find them enrolled.
        urls = start_servers(stack, "coachbot", args.serves, binding_id)
        for server in urls:
            await wait_http(f"{server}/healthz")
        traffic = Traffic(providers, urls, keys)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            traffic.session = session
            coachees = [Coachee(i, "telegram") for i in range(args.coachees)]
            await gather_limited([partial(traffic.say, c, "/join daily", 1) for c in coachees], 20)
            stop_servers(stack, "coachbot")
            print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs", flush=True)
            print(HEADER, flush=True)
            for _ in range(args.rounds):
                for kind in args.servers:
                    await measure(args, stack, traffic, kind, binding_id)
        for kind in args.servers:
            print(row("median", medians(kind)))
        if len(args.servers) == 2:
            coachbot, floor = medians("coachbot"), medians("floor")
            print(
                f"coachbot's turn costs {coachbot.machine_ms / floor.machine_ms:.1f}× its floor's"
                f" whole-machine CPU; the floor runs at 1/"
                f"{floor.raw.rate / floor.turns_per_second:.0f} of the raw rate"
                f" ({floor.machine_ms / floor.raw.machine_ms:.0f}× a raw request's CPU)"
            )
        if ERRORS:
            print("errors: " + "; ".join(f"{n}× {e}" for e, n in ERRORS.items()))
    finally:
        stack.stop()
        await providers.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--coachees", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serves", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=None)
    parser.add_argument(
        "--servers",
        type=lambda text: text.split(","),
        default=["coachbot", "floor"],
        help="which servers to run, in each round's order: coachbot, floor or both (the default)",
    )
    args = parser.parse_args()
    if not 1 <= args.coachees <= 2000 or not 1 <= args.seconds <= 120:
        raise SystemExit("--coachees must be 1–2000 and --seconds 1–120")
    if not args.servers or set(args.servers) - {"coachbot", "floor"}:
        raise SystemExit("--servers takes coachbot, floor or coachbot,floor")
    from alembic import command

    from config.wiring import alembic_config
    from tests import dbs

    admin = os.environ.get("COACHBOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = dbs.create_pg_database(admin, prefix="coachbot_floor")
    try:
        command.upgrade(alembic_config(url), "head")
        asyncio.run(asyncio.wait_for(run(args, url), 1800))
    finally:
        dbs.drop_pg_database(admin, url)


if __name__ == "__main__":
    main()
