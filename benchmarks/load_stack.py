"""The load run's stack: the processes of scaled mode on this machine (PostgreSQL database
given, a Redis and a Chroma server of its own, serves, workers, a scheduler), the seeded
creator, program and bindings, and what is measured of the machine itself (the raw aiohttp
baseline, CPU and memory per process)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
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


@dataclass(frozen=True)
class Raw:
    rate: float  # requests/s
    server_ms: float  # CPU ms per request of the hello-world process
    client_ms: float  # CPU ms per request of this process (the same client as the turns')
    machine_ms: float  # CPU ms per request of the whole machine (both sides and the kernel)


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process (user + system, and its reaped children's), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine, from /proc/stat: every process, including
    those that start and exit between two readings (PostgreSQL's backends of connections
    opened on a pool's overflow), and the kernel's work for them (loopback networking). Time
    stolen by the hypervisor is not ours and is left out."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


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

            cpu = (proc_cpu(server.pid), proc_cpu(os.getpid()), machine_cpu())
            started = time.perf_counter()
            await asyncio.gather(*(run() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            server_cpu = proc_cpu(server.pid) - cpu[0]
            client_cpu = proc_cpu(os.getpid()) - cpu[1]
            machine = machine_cpu() - cpu[2]
            n = max(count, 1)
            return Raw(
                count / elapsed, server_cpu * 1000 / n, client_cpu * 1000 / n, machine * 1000 / n
            )
    finally:
        server.terminate()
        server.wait(10)


def late_loops(logs: Path) -> dict[str, list[tuple[int, int]]]:
    """Per serve, the `event loop ran late` warnings in its log: (lag ms, loop thread CPU ms)."""
    found: dict[str, list[tuple[int, int]]] = {}
    for log in sorted(logs.glob("serve*.log")):
        found[log.stem] = []
        for line in log.read_text(errors="replace").splitlines():
            if "event loop ran late" not in line:
                continue
            try:
                record = json.loads(line)
                found[log.stem].append((int(record["lag_ms"]), int(record["loop_cpu_ms"])))
            except (ValueError, KeyError, TypeError):
                found[log.stem].append((-1, -1))  # not JSON: counted, not measured
    return found


def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        text = subprocess.run(
            ["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
        out[name] = round(int(text.stdout.strip() or 0) / 1024, 1)
    return out


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
        if self.args.pool_size is not None:
            env["COACHBOT_DB_POOL_SIZE"] = str(self.args.pool_size)
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
