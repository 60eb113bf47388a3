"""End-to-end load on scaled mode: simulated coachees talk to the bot over Telegram and WhatsApp
webhooks (correctly signed) and the web widget's WebSocket, spread round-robin over several
`coachbot serve` processes as a load balancer would, with workers, a scheduler, a fresh
PostgreSQL database, and a Redis and a Chroma server of its own. The fake providers live in this
process, so a turn's latency runs from the webhook (or the widget's `send` frame) sent to the
last reply received by the provider (or the last reply frame received by the visitor).

    python benchmarks/load_run.py [--serves 2] [--workers 2] [--coachees 90] \\
        [--questioners 30] [--seconds 30] [--timeout 900]

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
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_fakes import Providers, Replies  # noqa: E402

SECRET = "load-secret-key-0123456789abcdefghijklmn"  # noqa: S105 (a throwaway key)
TG_TOKEN, TG_WEBHOOK = "123:LOAD", "load-webhook-secret"
TW_SID, TW_TOKEN, TW_FROM = "AC" + "0" * 32, "load-auth-token", "whatsapp:+15550000000"
PUBLIC_URL = "http://coachbot.test"  # what Twilio would call; signatures are made against it
ORIGIN = "https://load.example"  # the site the widget is embedded in
CORPUS = ROOT / "benchmarks" / "corpus"
KINDS = ("telegram", "whatsapp", "web")
MAX_COACHEES = 5000
MAX_TURNS_PER_PHASE = 200_000
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


def loopback(url: str) -> str:
    """The load generator talks to 127.0.0.1 only."""
    if urlsplit(url).hostname != "127.0.0.1":
        raise SystemExit(f"refusing a non-loopback address: {url}")
    return url


async def wait_http(url: str, seconds: float = 60) -> None:
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@dataclass(frozen=True)
class Keys:
    telegram: str
    whatsapp: str
    web: str


async def seed(url: str) -> Keys:
    """The creator, a Telegram, a WhatsApp and a web widget binding, and the program."""
    from sqlalchemy import update

    from bots.web.widgets import WIDGET_SECRET, widget_config
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
        # What `coachbot channel add web --creator load --origin ORIGIN` does.
        web = await add_binding(
            db,
            box,
            creator,
            Channel.WEB,
            name=f"Web widget ({ORIGIN})",
            now=now,
            config=widget_config(origins=[ORIGIN]),
            secrets={WIDGET_SECRET: "load-widget-secret"},
        )
        return Keys(telegram.public_key, whatsapp.public_key, web.public_key)
    finally:
        await db.dispose()


@dataclass
class Coachee:
    index: int
    kind: str  # telegram | whatsapp | web
    socket: aiohttp.ClientWebSocketResponse | None = None
    reader: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        if self.kind == "telegram":
            return str(100_000 + self.index)
        if self.kind == "whatsapp":
            return f"whatsapp:+1555{self.index:07d}"
        return f"v:load{self.index:07d}"


@dataclass
class Sample:
    kind: str
    seconds: float


@dataclass
class Phase:
    """One measured phase: its latencies per channel, errors, and the load average."""

    name: str
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    overrun: int = 0  # closed loop: turns finished after the deadline (their CPU is counted)
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end
    rate: float = 0.0  # the offered rate, for an open loop
    meter: Meter | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group

    async def begin(self) -> None:
        self.load = (os.getloadavg()[0], 0.0)
        if self.meter is not None:
            self._cpu = await self.meter.snapshot()

    async def end(self) -> None:
        self.load = (self.load[0], os.getloadavg()[0])
        if self.meter is not None:
            self.cpu = self.meter.delta(self._cpu, await self.meter.snapshot())

    def cpu_line(self, raw_ms: float) -> str:
        """CPU milliseconds per turn, per process group, and the total's ratio to a raw
        hello-world request's (server + client)."""
        if not self.cpu or not self.turns:
            return ""
        turns = self.turns + self.overrun
        cpu = {name: seconds for name, seconds in self.cpu.items() if name != "transactions"}
        parts = [f"{name} {seconds * 1000 / turns:.1f}" for name, seconds in cpu.items()]
        total = sum(cpu.values()) * 1000 / turns
        transactions = self.cpu.get("transactions", 0.0) / turns
        return (
            f"    CPU ms per turn: {', '.join(parts)}; total {total:.1f} "
            f"= {total / raw_ms:.0f}× a raw request's; "
            f"PostgreSQL transactions per turn {transactions:.1f}"
        )

    @property
    def turns(self) -> int:
        return len(self.samples)

    @property
    def per_second(self) -> float:
        return self.turns / self.seconds

    def kind_rate(self, kind: str) -> float:
        return sum(1 for s in self.samples if s.kind == kind) / self.seconds

    def percentiles(self, kind: str | None = None) -> tuple[float, float, float]:
        values = [s.seconds for s in self.samples if kind is None or s.kind == kind]
        if not values:
            return (float("nan"),) * 3
        return percentile(values, 50), percentile(values, 95), percentile(values, 99)


class Meter:
    """CPU time (user + system, from /proc) of the run's processes, grouped, and of the
    PostgreSQL backends connected to the run's database."""

    def __init__(self, groups: dict[str, list[int]], database_url: str) -> None:
        self.groups = groups
        self.database_url = database_url

    async def snapshot(self) -> dict[str, dict[int, float]]:
        import asyncpg

        connection = await asyncpg.connect(self.database_url)
        try:
            rows = await connection.fetch(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            # Transactions of the run's database (this snapshot's own read-only one included).
            transactions = await connection.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                "WHERE datname = current_database()"
            )
        finally:
            await connection.close()
        groups = {**self.groups, "postgres": [int(r["pid"]) for r in rows]}
        cpu = {name: {pid: proc_cpu(pid) for pid in pids} for name, pids in groups.items()}
        cpu["transactions"] = {0: float(transactions)}
        return cpu

    @staticmethod
    def delta(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        return {
            name: sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items())
            for name, pids in after.items()
        }


class TurnError(Exception):
    pass


class Traffic:
    """Sends webhooks and widget frames for coachees and waits for their replies."""

    def __init__(self, providers: Providers, serves: list[str], keys: Keys) -> None:
        from twilio.request_validator import RequestValidator

        from bots.web.tokens import Visitor, VisitorTokens

        self.providers = providers
        self.widget = Replies()  # reply frames received by widget visitors
        self.serves = itertools.cycle(serves)
        self.socket_serves = itertools.cycle(serves)
        self.keys = keys
        self.validator = RequestValidator(TW_TOKEN)
        self.tokens = VisitorTokens(SECRET)
        self.visitor = Visitor
        self.ids = itertools.count(1)
        self.session: aiohttp.ClientSession | None = None

    async def connect(self, coachee: Coachee) -> None:
        """A widget visitor opens the socket (to the next serve, as a load balancer would),
        says hello with its token and waits for `ready`."""
        assert self.session is not None
        base = next(self.socket_serves).replace("http://", "ws://")
        token = self.tokens.issue(self.keys.web, self.visitor(coachee.address))
        ws = await self.session.ws_connect(
            f"{base}/widget/ws/{self.keys.web}", headers={"Origin": ORIGIN}, heartbeat=None
        )
        await ws.send_json({"type": "hello", "token": token, "locale": "en"})
        while True:
            frame = await asyncio.wait_for(ws.receive_json(), 30)
            if frame.get("type") == "ready":
                break
        coachee.socket = ws
        coachee.reader = asyncio.create_task(self._read(coachee, ws))

    async def _read(self, coachee: Coachee, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            kind = frame.get("type")
            if kind == "message" and frame["message"]["dir"] == "out":
                self.widget.arrived(coachee.address)
            elif kind == "error":
                self.widget.failed(coachee.address, f"{frame.get('code')}: {frame.get('message')}")
        self.widget.failed(coachee.address, "socket closed")

    async def say(self, coachee: Coachee, text: str, replies: int, wait: float = 30) -> float:
        """Send one message and wait for `replies` replies; the latency in seconds."""
        assert self.session is not None
        n = next(self.ids)
        if coachee.kind == "web":
            assert coachee.socket is not None
            waiter = self.widget.expect(coachee.address, replies)
            started = time.perf_counter()
            await coachee.socket.send_json({"type": "send", "id": f"load{n:010d}", "text": text})
        else:
            waiter = self.providers.expect(coachee.address, replies)
            started = time.perf_counter()
            await self._webhook(coachee, text, n)
        try:
            await asyncio.wait_for(waiter.done.wait(), wait)
        except TimeoutError:
            raise TurnError(f"{coachee.kind}: no reply within {wait:.0f} s") from None
        if waiter.error is not None:
            raise TurnError(f"{coachee.kind}: {waiter.error}")
        return time.perf_counter() - started

    async def _webhook(self, coachee: Coachee, text: str, n: int) -> None:
        assert self.session is not None
        base = next(self.serves)
        if coachee.kind == "telegram":
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
                f"{base}/webhooks/telegram/{self.keys.telegram}",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": TG_WEBHOOK},
            ) as response:
                if response.status != 200:
                    raise TurnError(f"telegram webhook: HTTP {response.status}")
        else:
            path = f"/webhooks/twilio/{self.keys.whatsapp}"
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
                if response.status != 200:
                    raise TurnError(f"twilio webhook: HTTP {response.status}")


Line = Callable[[Coachee], str]


async def closed_loop(
    traffic: Traffic, coachees: list[Coachee], line: Line, replies: int, phase: Phase
) -> Phase:
    """Every coachee answers as soon as the previous turn's replies have arrived."""
    await phase.begin()
    deadline = time.perf_counter() + phase.seconds

    async def run(coachee: Coachee) -> None:
        while time.perf_counter() < deadline and phase.turns < MAX_TURNS_PER_PHASE:
            try:
                latency = await traffic.say(coachee, line(coachee), replies)
            except (TurnError, aiohttp.ClientError) as exc:
                phase.errors += 1
                note_error(exc)
                await asyncio.sleep(1)
                continue
            if time.perf_counter() <= deadline:
                phase.samples.append(Sample(coachee.kind, latency))
            else:
                phase.overrun += 1

    started = time.perf_counter()
    await asyncio.gather(*(run(c) for c in coachees))
    phase.seconds = min(phase.seconds, time.perf_counter() - started)
    await phase.end()
    return phase


async def open_loop(
    traffic: Traffic, coachees: list[Coachee], line: Line, replies: int, phase: Phase
) -> Phase:
    """Turns started at a fixed rate (each by an idle coachee): latency under a steady load."""
    idle = asyncio.Queue[Coachee]()
    for coachee in coachees:
        idle.put_nowait(coachee)
    tasks: set[asyncio.Task[None]] = set()
    await phase.begin()

    async def turn(coachee: Coachee) -> None:
        try:
            latency = await traffic.say(coachee, line(coachee), replies)
            phase.samples.append(Sample(coachee.kind, latency))
        except (TurnError, aiohttp.ClientError) as exc:
            phase.errors += 1
            note_error(exc)
        idle.put_nowait(coachee)

    started = time.perf_counter()
    for k in range(MAX_TURNS_PER_PHASE):
        at = started + k / phase.rate
        if at - started > phase.seconds:
            break
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        task = asyncio.create_task(turn(await idle.get()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    await phase.end()
    return phase


ERRORS: dict[str, int] = {}


def note_error(exc: BaseException) -> None:
    key = str(exc)[:120] or type(exc).__name__
    ERRORS[key] = ERRORS.get(key, 0) + 1


@dataclass(frozen=True)
class Raw:
    rate: float  # requests/s
    server_ms: float  # CPU ms per request of the hello-world process
    client_ms: float  # CPU ms per request of this process (the same client as the turns')


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process (user + system, and its reaped children's), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


async def raw_baseline(seconds: float, concurrency: int) -> Raw:
    """Requests/s of an aiohttp hello-world (its own process) driven by the same client, and
    the CPU each request cost on both sides."""
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

            cpu = (proc_cpu(server.pid), proc_cpu(os.getpid()))
            started = time.perf_counter()
            await asyncio.gather(*(run() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            server_cpu = proc_cpu(server.pid) - cpu[0]
            client_cpu = proc_cpu(os.getpid()) - cpu[1]
            n = max(count, 1)
            return Raw(count / elapsed, server_cpu * 1000 / n, client_cpu * 1000 / n)
    finally:
        server.terminate()
        server.wait(10)


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


def questions() -> list[str]:
    lines = (CORPUS / "questions.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


class Stack:
    """The processes of scaled mode, on loopback ports, with their logs in one directory."""

    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.args = args
        self.url = url
        self.logs = Path(tempfile.mkdtemp(prefix="coachbot-load-"))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.serves: list[str] = []
        self.env: dict[str, str] = {}

    def spawn(self, name: str, command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(self.logs / f"{name}.log").open("wb"),
            **kwargs,
        )
        self.processes[name] = process
        return process

    async def start_stores(self, provider_url: str) -> None:
        redis_port, chroma_port = free_port(), free_port()
        self.spawn(
            "redis",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
             "--appendonly", "no"],
        )  # fmt: skip
        chroma = Path(sys.executable).parent / "chroma"
        self.spawn(
            "chroma",
            [str(chroma), "run", "--path", str(self.logs / "chroma"), "--host", "127.0.0.1",
             "--port", str(chroma_port)],
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )  # fmt: skip
        chroma_url = f"http://127.0.0.1:{chroma_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOT_")}
        env.update(
            COACHBOT_DATABASE_URL=self.url,
            COACHBOT_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            COACHBOT_CHROMA_URL=chroma_url,
            COACHBOT_SECRET_KEY=SECRET,
            COACHBOT_PUBLIC_URL=PUBLIC_URL,
            COACHBOT_TELEGRAM_API_URL=provider_url,
            COACHBOT_TWILIO_API_URL=provider_url,
            COACHBOT_AUTO_MIGRATE="false",
            COACHBOT_LOG_LEVEL="WARNING",
            COACHBOT_DATA_DIR=str(self.logs / "data"),
            COACHBOT_SEND_RATE_SCALE="1000",
            COACHBOT_WIDGET_RATE_PER_MINUTE="1000000",
            COACHBOT_WIDGET_RATE_BURST="100000",
            ANONYMIZED_TELEMETRY="False",
        )
        self.env = env
        await wait_http(f"{chroma_url}/api/v2/heartbeat", 90)

    async def ingest(self) -> float:
        """The corpus into the creator's knowledge base, through the CLI (into the Chroma
        server). Returns the seconds it took."""
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "config.cli", "kb", "ingest", "--creator", "load",
            str(CORPUS / "docs"),
            cwd=ROOT, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 600)
        if process.returncode != 0:
            raise RuntimeError(f"kb ingest failed:\n{out.decode()}\n{err.decode()[-3000:]}")
        return time.perf_counter() - started

    async def start_app(self) -> None:
        for i in range(self.args.serves):
            port = free_port()
            self.serves.append(loopback(f"http://127.0.0.1:{port}"))
            self.spawn(
                f"serve{i}",
                [sys.executable, "-m", "config.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(port)],
                env=self.env,
            )  # fmt: skip
        for i in range(self.args.workers):
            self.spawn(f"worker{i}", [sys.executable, "-m", "config.cli", "worker"], env=self.env)
        self.spawn("scheduler", [sys.executable, "-m", "config.cli", "scheduler"], env=self.env)
        for serve in self.serves:
            await wait_http(f"{serve}/healthz")

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


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
) -> None:
    program, program_half, knowledge, knowledge_half = phases
    raw_rate = (raw[0].rate + raw[1].rate) / 2
    raw_cpu = (raw[0].server_ms + raw[1].server_ms + raw[0].client_ms + raw[1].client_ms) / 2
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"python benchmarks/load_run.py --serves {args.serves} --workers {args.workers} "
        f"--coachees {args.coachees} --questioners {args.questioners} --seconds {args.seconds:g}",
        f"date {now}; {os.cpu_count()} vCPU ({cpu_model()}); Python {platform.python_version()}",
        f"processes: {args.serves} serve, {args.workers} worker, 1 scheduler, Redis, Chroma "
        "server, PostgreSQL, the fake providers and this client, all on this machine",
        f"raw aiohttp hello-world (1 process, same client, {min(args.coachees, 64)} concurrent): "
        f"{raw[0].rate:,.0f} req/s before, {raw[1].rate:,.0f} after, mean {raw_rate:,.0f}; "
        f"CPU per request {raw[0].server_ms:.2f} + {raw[0].client_ms:.2f} ms (server + client) "
        f"before, {raw[1].server_ms:.2f} + {raw[1].client_ms:.2f} after",
        "",
        f"program-step turns ({args.coachees} coachees: webhooks Telegram + WhatsApp, widget "
        "WebSocket, one third each; 1 inbound, 2 replies per turn)",
        f"  full load (closed loop, {program.seconds:.0f} s): {program.per_second:,.1f} turns/s "
        f"= 1/{raw_rate / max(program.per_second, 1e-9):.0f} of raw "
        f"(telegram {program.kind_rate('telegram'):.1f}, whatsapp "
        f"{program.kind_rate('whatsapp'):.1f}, web {program.kind_rate('web'):.1f}); "
        f"median {program.percentiles()[0]:.0f} ms; errors {program.errors}; load average "
        f"{program.load[0]:.1f} → {program.load[1]:.1f}",
        program.cpu_line(raw_cpu),
        half_line(program_half),
        *kind_lines(program_half),
        "",
        f"knowledge questions in grounded mode ({args.questioners} coachees, same channel mix; "
        f"46 documents ingested in {ingest_seconds:.0f} s into the Chroma server)",
        f"  full load (closed loop, {knowledge.seconds:.0f} s): {knowledge.per_second:,.1f} "
        f"turns/s = 1/{raw_rate / max(knowledge.per_second, 1e-9):.0f} of raw; "
        f"median {knowledge.percentiles()[0]:.0f} ms; errors {knowledge.errors}; "
        f"load average {knowledge.load[0]:.1f} → {knowledge.load[1]:.1f}",
        knowledge.cpu_line(raw_cpu),
        half_line(knowledge_half),
        *kind_lines(knowledge_half),
        "",
        "memory (RSS MB) after the program phase: "
        + ", ".join(f"{name} {mb:,.0f}" for name, mb in memory[0].items()),
        "  after the knowledge phase (serves hold the embedding model): "
        + ", ".join(f"{name} {mb:,.0f}" for name, mb in memory[1].items()),
        f"replies: {replies[0].total} at the fake providers, {replies[1].total} widget frames; "
        f"unexpected extra replies {replies[0].extra + replies[1].extra}",
    ]
    if ERRORS:
        lines.append("errors: " + "; ".join(f"{n}× {e}" for e, n in ERRORS.items()))
    print("\n".join(["", "```", *lines, "```"]), flush=True)


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


async def gather_limited(calls: list[Callable[[], Awaitable[object]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


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
