"""End-to-end load on scaled mode: simulated coachees talk to the bot over Telegram and WhatsApp
webhooks (correctly signed) and the web widget's WebSocket, spread round-robin over several
`coachbot serve` processes as a load balancer would, with workers, a scheduler, a fresh
PostgreSQL database, and a Redis and a Chroma server of its own. The fake providers live in this
process, so a turn's latency runs from the webhook (or the widget's `send` frame) sent to the
last reply received by the provider (or the last reply frame received by the visitor).

    python benchmarks/load_run.py [--serves 2] [--workers 2] [--coachees 90] \\
        [--questioners 30] [--seconds 30] [--timeout 900] [--pool-size N]

Two scenarios, one after the other:

- **program steps**: coachees joined to a daily check-in answer it (a number); each turn is one
  inbound message and two replies (the acknowledgement and the next question);
- **knowledge questions in grounded mode** (no language model): other coachees ask free
  questions from `benchmarks/corpus/questions.jsonl`, answered from the corpus's 46 documents,
  ingested first with `coachbot kb ingest` into the Chroma server (`COACHBOT_CHROMA_URL`), as in
  scaled mode; each turn is one message and one reply.

For each: turns/s at full load (closed loop: every coachee answers as soon as its replies are
in), then p50/p95/p99 latency at half that rate (open loop). In the same run: the raw aiohttp
hello-world rate of this machine with the same client (before and after the scenarios), the
memory of every process (after the knowledge scenario: the serves hold the embedding model),
and the load average. Everything listens on 127.0.0.1; every phase is bounded in time, every
population in count, and the whole run by --timeout. The summary block at the end is meant to
be pasted into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_fakes import Providers, Replies  # noqa: E402
from benchmarks.load_stack import (  # noqa: E402
    CORPUS,
    KINDS,
    MAX_COACHEES,
    Keys,
    Raw,
    Stack,
    free_port,
    late_loops,
    loopback,
    raw_baseline,
    rss_mb,
    seed,
)
from benchmarks.load_traffic import (  # noqa: E402
    ERRORS,
    Coachee,
    Meter,
    Phase,
    Traffic,
    closed_loop,
    gather_limited,
    open_loop,
)


def questions() -> list[str]:
    lines = (CORPUS / "questions.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


async def run(args: argparse.Namespace, url: str) -> None:
    providers = Providers()
    provider_url = loopback(await providers.start(free_port()))
    stack = Stack(args, url)
    try:
        await stack.start_stores(provider_url)
        keys = await seed(url)
        ingest_seconds = await stack.ingest()
        await stack.start_app()
        print(f"serves {stack.serves}; logs and data in {stack.logs}", flush=True)
        pids = {name: p.pid for name, p in stack.processes.items()}
        print(f"pids: {pids}", flush=True)
        await measure(args, stack, providers, keys, ingest_seconds)
    finally:
        stack.stop()
        await providers.stop()


async def measure(
    args: argparse.Namespace,
    stack: Stack,
    providers: Providers,
    keys: Keys,
    ingest_seconds: float,
) -> None:
    traffic = Traffic(providers, stack.serves, keys)
    concurrency = min(args.coachees, 64)
    raw_before = await raw_baseline(5.0, concurrency)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        traffic.session = session
        coachees = [Coachee(i, KINDS[i % 3]) for i in range(args.coachees)]
        base = args.coachees + 1000
        askers = [Coachee(base + i, KINDS[i % 3]) for i in range(args.questioners)]
        visitors = [c for c in coachees + askers if c.kind == "web"]
        await gather_limited([partial(traffic.connect, c) for c in visitors], 50)
        await gather_limited([partial(traffic.say, c, "/join daily", 1) for c in coachees], 50)

        def answer(_: Coachee) -> str:
            return str(random.randint(1, 10))

        procs = stack.processes
        meter = Meter(
            {
                "serve": [p.pid for n, p in procs.items() if n.startswith("serve")],
                "worker": [p.pid for n, p in procs.items() if n.startswith("worker")],
                "scheduler": [procs["scheduler"].pid],
                "redis": [procs["redis"].pid],
                "chroma": [procs["chroma"].pid],
                "generator": [os.getpid()],  # the client, the fake providers, the widget sockets
            },
            stack.url,
        )
        # Unmeasured: every process's first sends import their client libraries.
        await closed_loop(traffic, coachees, answer, 2, Phase("warm-up", min(5.0, args.seconds)))
        print("program steps: closed loop", flush=True)
        program = await closed_loop(
            traffic, coachees, answer, 2, Phase("program", args.seconds, meter=meter)
        )
        program_half = await open_loop(
            traffic, coachees, answer, 2,
            Phase("program half", args.seconds, rate=program.per_second / 2, meter=meter),
        )  # fmt: skip
        print(f"program steps: {program.per_second:.0f}/s", flush=True)
        memory_before = rss_mb({name: p.pid for name, p in stack.processes.items()})

        asked = questions()
        random.shuffle(asked)
        pool = itertools.cycle(asked)

        def question(_: Coachee) -> str:
            return next(pool)

        # The first question on each serve loads the embedding model (and exports it once to
        # ONNX into the shared data dir): one at a time, unmeasured, with a long timeout.
        for asker in askers[: 2 * args.serves * 3]:
            await traffic.say(asker, question(asker), 1, wait=300)
        await closed_loop(traffic, askers, question, 1, Phase("warm-up", min(5.0, args.seconds)))
        print("knowledge questions: closed loop", flush=True)
        knowledge = await closed_loop(
            traffic, askers, question, 1, Phase("knowledge", args.seconds, meter=meter)
        )
        knowledge_half = await open_loop(
            traffic, askers, question, 1,
            Phase("knowledge half", args.seconds, rate=knowledge.per_second / 2, meter=meter),
        )  # fmt: skip
        memory = rss_mb({name: p.pid for name, p in stack.processes.items()})
        for coachee in coachees + askers:
            if coachee.socket is not None:
                await coachee.socket.close()
            if coachee.reader is not None:
                await coachee.reader
    raw_after = await raw_baseline(5.0, concurrency)
    summary(
        args,
        raw=(raw_before, raw_after),
        phases=(program, program_half, knowledge, knowledge_half),
        memory=(memory_before, memory),
        replies=(providers, traffic.widget),
        ingest_seconds=ingest_seconds,
        late=late_loops(stack.logs),
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def summary(
    args: argparse.Namespace,
    *,
    raw: tuple[Raw, Raw],
    phases: tuple[Phase, Phase, Phase, Phase],
    memory: tuple[dict[str, float], dict[str, float]],
    replies: tuple[Replies, Replies],
    ingest_seconds: float,
    late: dict[str, list[tuple[int, int]]],
) -> None:
    program, program_half, knowledge, knowledge_half = phases
    raw_rate = (raw[0].rate + raw[1].rate) / 2
    raw_cpu = (raw[0].server_ms + raw[1].server_ms + raw[0].client_ms + raw[1].client_ms) / 2
    raw_machine = (raw[0].machine_ms + raw[1].machine_ms) / 2
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"python benchmarks/load_run.py --serves {args.serves} --workers {args.workers} "
        f"--coachees {args.coachees} --questioners {args.questioners} --seconds {args.seconds:g}"
        + (f" --pool-size {args.pool_size}" if args.pool_size is not None else ""),
        f"date {now}; {os.cpu_count()} vCPU ({cpu_model()}); Python {platform.python_version()}",
        f"processes: {args.serves} serve, {args.workers} worker, 1 scheduler, Redis, Chroma "
        "server, PostgreSQL, the fake providers and this client, all on this machine",
        f"raw aiohttp hello-world (1 process, same client, {min(args.coachees, 64)} concurrent): "
        f"{raw[0].rate:,.0f} req/s before, {raw[1].rate:,.0f} after, mean {raw_rate:,.0f}; "
        f"CPU per request {raw[0].server_ms:.2f} + {raw[0].client_ms:.2f} ms (server + client) "
        f"before, {raw[1].server_ms:.2f} + {raw[1].client_ms:.2f} after; whole machine "
        f"{raw[0].machine_ms:.2f} before, {raw[1].machine_ms:.2f} after",
        "",
        f"program-step turns ({args.coachees} coachees: webhooks Telegram + WhatsApp, widget "
        "WebSocket, one third each; 1 inbound, 2 replies per turn)",
        f"  full load (closed loop, {program.seconds:.0f} s): {program.per_second:,.1f} turns/s "
        f"= 1/{raw_rate / max(program.per_second, 1e-9):.0f} of raw "
        f"(telegram {program.kind_rate('telegram'):.1f}, whatsapp "
        f"{program.kind_rate('whatsapp'):.1f}, web {program.kind_rate('web'):.1f}); "
        f"median {program.percentiles()[0]:.0f} ms; errors {program.errors}; load average "
        f"{program.load[0]:.1f} → {program.load[1]:.1f}",
        program.cpu_line(raw_cpu, raw_machine),
        half_line(program_half),
        *kind_lines(program_half),
        "",
        f"knowledge questions in grounded mode ({args.questioners} coachees, same channel mix; "
        f"46 documents ingested in {ingest_seconds:.0f} s into the Chroma server)",
        f"  full load (closed loop, {knowledge.seconds:.0f} s): {knowledge.per_second:,.1f} "
        f"turns/s = 1/{raw_rate / max(knowledge.per_second, 1e-9):.0f} of raw; "
        f"median {knowledge.percentiles()[0]:.0f} ms; errors {knowledge.errors}; "
        f"load average {knowledge.load[0]:.1f} → {knowledge.load[1]:.1f}",
        knowledge.cpu_line(raw_cpu, raw_machine),
        half_line(knowledge_half),
        *kind_lines(knowledge_half),
        "",
        "memory (RSS MB) after the program phase: "
        + ", ".join(f"{name} {mb:,.0f}" for name, mb in memory[0].items()),
        "  after the knowledge phase (serves hold the embedding model): "
        + ", ".join(f"{name} {mb:,.0f}" for name, mb in memory[1].items()),
        f"replies: {replies[0].total} at the fake providers, {replies[1].total} widget frames; "
        f"unexpected extra replies {replies[0].extra + replies[1].extra}",
        "event loop late by 250 ms or more (whole run, warm-up included): "
        + "; ".join(f"{name} {late_line(events)}" for name, events in late.items()),
    ]
    if ERRORS:
        lines.append("errors: " + "; ".join(f"{n}× {e}" for e, n in ERRORS.items()))
    print("\n".join(["", "```", *lines, "```"]), flush=True)


def late_line(events: list[tuple[int, int]]) -> str:
    if not events:
        return "never"
    worst = max(events)
    return f"{len(events)}× (worst {worst[0]} ms, its loop thread's CPU {worst[1]} ms)"


def half_line(phase: Phase) -> str:
    p50, p95, p99 = phase.percentiles()
    return (
        f"  half load (open loop, {phase.rate:,.1f}/s offered, {phase.per_second:,.1f}/s done, "
        f"{phase.turns} turns): p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms; "
        f"errors {phase.errors}; load average {phase.load[0]:.1f} → {phase.load[1]:.1f}"
    )


def kind_lines(phase: Phase) -> list[str]:
    out = []
    for kind in KINDS:
        p50, p95, p99 = phase.percentiles(kind)
        out.append(f"    {kind:<9} p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serves", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--coachees", type=int, default=90, help="in the program scenario")
    parser.add_argument("--questioners", type=int, default=30, help="asking knowledge questions")
    parser.add_argument("--seconds", type=float, default=30.0, help="per measured phase")
    parser.add_argument("--timeout", type=float, default=900.0, help="for the whole run")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="COACHBOT_DB_POOL_SIZE of every coachbot process (default: the setting's default)",
    )
    args = parser.parse_args()
    if not 0 < args.coachees + args.questioners <= MAX_COACHEES:
        parser.error(f"at most {MAX_COACHEES} coachees in all")
    if args.questioners < 6 * args.serves:
        parser.error("--questioners must be at least 6 per serve (the warm-up uses them)")
    if not 0 < args.seconds <= 300:
        parser.error("--seconds must be within (0, 300]")
    from alembic import command

    from config.wiring import alembic_config
    from tests import dbs

    admin = os.environ.get("COACHBOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    loopback(admin.replace("postgresql://", "http://", 1))
    url = dbs.create_pg_database(admin, prefix="coachbot_load")
    try:
        command.upgrade(alembic_config(url), "head")
        asyncio.run(asyncio.wait_for(run(args, url), args.timeout))
    finally:
        dbs.drop_pg_database(admin, url)


if __name__ == "__main__":
    main()
