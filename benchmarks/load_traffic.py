"""The load run's simulated coachees: signed Telegram and Twilio webhooks and widget
WebSocket sessions, closed and open loops over them, and what a phase measures (latencies per
channel, errors, CPU per process group)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks.load_fakes import Providers, Replies
from benchmarks.load_stack import (
    MAX_TURNS_PER_PHASE,
    ORIGIN,
    PUBLIC_URL,
    SECRET,
    TG_WEBHOOK,
    TW_FROM,
    TW_SID,
    TW_TOKEN,
    Keys,
    machine_cpu,
    proc_cpu,
)


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

    def cpu_line(self, raw_ms: float, raw_machine_ms: float) -> str:
        """CPU milliseconds per turn, per process group and for the whole machine, each total
        against a raw hello-world request's (server + client; whole machine)."""
        if not self.cpu or not self.turns:
            return ""
        turns = self.turns + self.overrun
        cpu = {name: seconds for name, seconds in self.cpu.items() if name not in COUNTERS}
        parts = [f"{name} {seconds * 1000 / turns:.1f}" for name, seconds in cpu.items()]
        total = sum(cpu.values()) * 1000 / turns
        machine = self.cpu.get("machine", 0.0) * 1000 / turns
        transactions = self.cpu.get("transactions", 0.0) / turns
        connections = self.cpu.get("sessions", 0.0) * 100 / turns
        return (
            f"    CPU ms per turn: {', '.join(parts)}; total {total:.1f} "
            f"= {total / raw_ms:.0f}× a raw request's; whole machine {machine:.1f} "
            f"= {machine / raw_machine_ms:.0f}× a raw request's ({raw_machine_ms:.2f}); "
            f"PostgreSQL transactions per turn {transactions:.1f}, connections opened per 100 "
            f"turns {connections:.1f}"
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


# What a Meter reads besides the CPU of process groups.
COUNTERS = ("transactions", "sessions", "machine")


class Meter:
    """CPU time (user + system, from /proc) of the run's processes, grouped; of PostgreSQL (the
    backends connected to the run's database, and the postmaster with the backends it reaped,
    which a pool's overflow connections are); of the whole machine; and the database's
    transactions and connections opened."""

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
            # Transactions and connections of the run's database (this snapshot's own included).
            counts = await connection.fetchrow(
                "SELECT xact_commit + xact_rollback AS transactions, sessions "
                "FROM pg_stat_database WHERE datname = current_database()"
            )
            postmaster = parent_pid(await connection.fetchval("SELECT pg_backend_pid()"))
        finally:
            await connection.close()
        backends = [int(r["pid"]) for r in rows]
        groups = {**self.groups, "postgres": [*backends, postmaster]}
        cpu = {name: {pid: proc_cpu(pid) for pid in pids} for name, pids in groups.items()}
        cpu["transactions"] = {0: float(counts["transactions"])}
        cpu["sessions"] = {0: float(counts["sessions"])}
        cpu["machine"] = {0: machine_cpu()}
        return cpu

    @staticmethod
    def delta(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        return {
            name: sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items())
            for name, pids in after.items()
        }


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


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


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def gather_limited(calls: list[Callable[[], Awaitable[object]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(c) for c in calls))
