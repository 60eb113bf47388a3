"""End-to-end load on scaled mode: simulated coachees in a program talk to the bot over
Telegram and WhatsApp webhooks (correctly signed), spread round-robin over several `coachbot
serve` processes as a load balancer would, with workers, a scheduler, PostgreSQL and a Redis of
its own. The fake providers live in this process, so a turn's latency runs from the webhook
sent to the last reply received by the provider.

    python benchmarks/load_run.py [--serves 2] [--workers 2] [--coachees 400] [--seconds 20]

It reports, in one run: program-step turns/s at full load (closed loop), p50/p95/p99 latency at
half that rate (open loop), the raw aiohttp hello-world rate of this machine with the same
client, and the memory of every process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_fakes import Providers  # noqa: E402

SECRET = "load-secret-key-0123456789abcdefghijklmn"  # noqa: S105 (a throwaway key)
TG_TOKEN, TG_WEBHOOK = "123:LOAD", "load-webhook-secret"
TW_SID, TW_TOKEN, TW_FROM = "AC" + "0" * 32, "load-auth-token", "whatsapp:+15550000000"
PUBLIC_URL = "http://coachbot.test"  # what Twilio would call; signatures are made against it
PROGRAM = """\
version: 1
slug: daily
title: Daily check-in
steps:
  - id: mood
    kind: checkin
    metric: mood
    text: "How is your energy today, {{ contact.first_name }}? 1-10"
  - message: "Thanks! Noted {{ answer }}. Small steps add up."
    next: mood
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_http(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def seed(url: str) -> tuple[str, str]:
    """The creator, a Telegram and a WhatsApp binding, and the program. Returns the bindings'
    public keys."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from engine.channel_bindings import add_binding
    from engine.creators import create_creator
    from engine.db import Database
    from engine.models import Creator
    from engine.secrets import SecretBox
    from engine.types import Channel
    from programs.store import publish

    db = Database(url)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as session:
            creator = await create_creator(
                session, slug="load", name="Load Coach", email="l@x.io", password=None, now=now
            )
            await publish(session, creator.id, PROGRAM, now)
            await session.execute(
                update(Creator).values(quiet_hours_start="00:00", quiet_hours_end="00:00")
            )
        box = SecretBox(SECRET)
        telegram = await add_binding(
            db,
            box,
            creator,
            Channel.TELEGRAM,
            name="@load_bot",
            now=now,
            config={"bot_id": 123, "username": "load_bot"},
            secrets={"token": TG_TOKEN, "webhook_secret": TG_WEBHOOK},
        )
        whatsapp = await add_binding(
            db,
            box,
            creator,
            Channel.WHATSAPP,
            name="load wa",
            now=now,
            config={"account_sid": TW_SID, "from": TW_FROM},
            secrets={"auth_token": TW_TOKEN},
        )
        return telegram.public_key, whatsapp.public_key
    finally:
        await db.dispose()


@dataclass
class Coachee:
    index: int
    telegram: bool

    @property
    def address(self) -> str:
        return str(100_000 + self.index) if self.telegram else f"whatsapp:+1555{self.index:07d}"


class Traffic:
    """Sends webhooks for coachees and waits for their replies at the fake providers."""

    def __init__(self, providers: Providers, serves: list[str], keys: tuple[str, str]) -> None:
        from twilio.request_validator import RequestValidator

        self.providers = providers
        self.serves = itertools.cycle(serves)
        self.tg_key, self.wa_key = keys
        self.validator = RequestValidator(TW_TOKEN)
        self.ids = itertools.count(1)
        self.session: aiohttp.ClientSession | None = None

    async def say(self, coachee: Coachee, text: str, replies: int) -> float:
        """Send one message and wait for `replies` replies; the latency in seconds."""
        assert self.session is not None
        waiter = self.providers.expect(coachee.address, replies)
        started = time.perf_counter()
        n = next(self.ids)
        base = next(self.serves)
        if coachee.telegram:
            update = {
                "update_id": n,
                "message": {
                    "message_id": n,
                    "date": int(time.time()),
                    "text": text,
                    "chat": {"id": int(coachee.address), "type": "private"},
                    "from": {
                        "id": int(coachee.address),
                        "is_bot": False,
                        "first_name": f"P{coachee.index}",
                    },
                },
            }
            async with self.session.post(
                f"{base}/webhooks/telegram/{self.tg_key}",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": TG_WEBHOOK},
            ) as response:
                assert response.status == 200, response.status
        else:
            path = f"/webhooks/twilio/{self.wa_key}"
            form = {
                "MessageSid": f"SM{n:032x}",
                "AccountSid": TW_SID,
                "From": coachee.address,
                "To": TW_FROM,
                "Body": text,
                "NumMedia": "0",
                "ProfileName": f"P{coachee.index}",
            }
            signature = self.validator.compute_signature(PUBLIC_URL + path, form)
            async with self.session.post(
                base + path, data=form, headers={"X-Twilio-Signature": signature}
            ) as response:
                assert response.status == 200, response.status
        await asyncio.wait_for(waiter.done.wait(), 60)
        return time.perf_counter() - started


async def closed_loop(traffic: Traffic, coachees: list[Coachee], seconds: float) -> list[float]:
    """Every coachee answers as soon as the previous turn's replies have arrived."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def run(coachee: Coachee) -> None:
        while time.perf_counter() < deadline:
            latencies.append(await traffic.say(coachee, str(random.randint(1, 10)), 2))

    await asyncio.gather(*(run(c) for c in coachees))
    return latencies


async def open_loop(
    traffic: Traffic, coachees: list[Coachee], rate: float, seconds: float
) -> list[float]:
    """Turns started at a fixed rate (each by an idle coachee): latency under a steady load."""
    idle = asyncio.Queue[Coachee]()
    for coachee in coachees:
        idle.put_nowait(coachee)
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def turn(coachee: Coachee) -> None:
        latencies.append(await traffic.say(coachee, str(random.randint(1, 10)), 2))
        idle.put_nowait(coachee)

    started = time.perf_counter()
    for k in itertools.count():
        at = started + k / rate
        if at - started > seconds:
            break
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        task = asyncio.create_task(turn(await idle.get()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return latencies


async def raw_baseline(seconds: float, concurrency: int) -> float:
    """Requests/s of an aiohttp hello-world (its own process) driven by the same client."""
    port = free_port()
    code = (
        "from aiohttp import web\n"
        "async def ok(request): return web.Response(text='ok')\n"
        "app = web.Application(); app.router.add_post('/', ok)\n"
        f"web.run_app(app, host='127.0.0.1', port={port}, access_log=None, print=None)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", code])  # noqa: ASYNC220
    try:
        await wait_http(f"http://127.0.0.1:{port}/x")
        count = 0
        deadline = time.perf_counter() + seconds
        async with aiohttp.ClientSession() as session:

            async def run() -> None:
                nonlocal count
                while time.perf_counter() < deadline:
                    async with session.post(f"http://127.0.0.1:{port}/", data=b"{}") as response:
                        await response.read()
                    count += 1

            started = time.perf_counter()
            await asyncio.gather(*(run() for _ in range(concurrency)))
            return count / (time.perf_counter() - started)
    finally:
        server.terminate()


def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        text = subprocess.run(
            ["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
        out[name] = round(int(text.stdout.strip() or 0) / 1024, 1)
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def run(args: argparse.Namespace, url: str) -> None:
    redis_port, provider_port = free_port(), free_port()
    redis = subprocess.Popen(  # noqa: ASYNC220 (start-up of the harness, not the hot path)
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(redis_port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    providers = Providers()
    provider_url = await providers.start(provider_port)
    keys = await seed(url)
    log_dir = Path(tempfile.mkdtemp(prefix="coachbot-load-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOT_")}
    env.update(
        COACHBOT_DATABASE_URL=url,
        COACHBOT_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        COACHBOT_SECRET_KEY=SECRET,
        COACHBOT_PUBLIC_URL=PUBLIC_URL,
        COACHBOT_TELEGRAM_API_URL=provider_url,
        COACHBOT_TWILIO_API_URL=provider_url,
        COACHBOT_AUTO_MIGRATE="false",
        COACHBOT_LOG_LEVEL="WARNING",
        COACHBOT_DATA_DIR=str(log_dir),
        COACHBOT_SEND_RATE_SCALE="1000",
    )
    processes: dict[str, subprocess.Popen[bytes]] = {}
    serves = []
    for i in range(args.serves):
        port = free_port()
        serves.append(f"http://127.0.0.1:{port}")
        processes[f"serve{i}"] = subprocess.Popen(  # noqa: ASYNC220 (start-up of the harness, not the hot path)
            [sys.executable, "-m", "config.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(log_dir / f"serve{i}.log").open("wb"),
        )
    for i in range(args.workers):
        processes[f"worker{i}"] = subprocess.Popen(  # noqa: ASYNC220 (start-up of the harness, not the hot path)
            [sys.executable, "-m", "config.cli", "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(log_dir / f"worker{i}.log").open("wb"),
        )
    processes["scheduler"] = subprocess.Popen(  # noqa: ASYNC220 (start-up of the harness, not the hot path)
        [sys.executable, "-m", "config.cli", "scheduler"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(log_dir / "scheduler.log").open("wb"),
    )
    try:
        for serve in serves:
            await wait_http(f"{serve}/healthz")
        traffic = Traffic(providers, serves, keys)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            traffic.session = session
            coachees = [Coachee(i, telegram=i % 2 == 0) for i in range(args.coachees)]
            await gather_limited(
                [lambda c=c: traffic.say(c, "/join daily", 1) for c in coachees], 50
            )
            full = await closed_loop(traffic, coachees, args.seconds)
            max_rate = len(full) / args.seconds
            half = await open_loop(traffic, coachees, max_rate / 2, args.seconds)
        raw = await raw_baseline(5.0, min(args.coachees, 64))
        memory = rss_mb({name: p.pid for name, p in processes.items()})
        print(
            f"program-step turns at full load: {max_rate:,.0f}/s "
            f"({len(full)} turns, {args.coachees} coachees, {args.serves} serve, "
            f"{args.workers} workers); median {statistics.median(full) * 1000:.0f} ms"
        )
        print(
            f"at half load ({max_rate / 2:,.0f}/s): p50 {percentile(half, 50):.0f} ms, "
            f"p95 {percentile(half, 95):.0f} ms, p99 {percentile(half, 99):.0f} ms"
        )
        print(
            f"raw aiohttp hello-world (1 process, same client): {raw:,.0f} req/s; "
            f"turns = 1/{raw / max_rate:.1f} of it"
        )
        print(f"memory (RSS MB): {memory}")
        print(f"replies recorded by the fake providers: {providers.total}")
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        await providers.stop()
        redis.terminate()
        print(f"logs: {log_dir}")


async def gather_limited(calls: list[Callable[[], Awaitable[object]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serves", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--coachees", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20.0)
    from alembic import command

    from config.wiring import alembic_config
    from tests import dbs

    admin = os.environ.get("COACHBOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = dbs.create_pg_database(admin, prefix="coachbot_load")
    try:
        command.upgrade(alembic_config(url), "head")
        asyncio.run(run(parser.parse_args(), url))
    finally:
        dbs.drop_pg_database(admin, url)


if __name__ == "__main__":
    main()
