"""Fault run of scaled-mode delivery: real PostgreSQL, a Redis of the test's own, RQ workers and
two schedulers as processes, and a fake Telegram Bot API that rate-limits, times out and reports
blocked users. Workers are killed with SIGKILL mid-batch and Redis is restarted while nudges go
out; afterwards the database must account for every nudge."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.channel_bindings import add_binding
from engine.creators import create_creator
from engine.db import Database
from engine.models import ChannelIdentity, Contact, Outbox
from engine.outbox import enqueue
from engine.secrets import SecretBox
from engine.types import Channel, OutboundMessage
from tests import dbs
from tests.fakes.telegram import Failure, FakeTelegram

pytestmark = pytest.mark.slow

SECRET_KEY = "fault-run-secret-key-0123456789abcdef"
TOKEN = "123:TEST"
CONTACTS = 300
KILLS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnRedis:
    """A redis-server of this test only, so restarting it disturbs nothing else."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


class ThreadedTelegram:
    """The fake Bot API on its own event loop in a thread: worker processes reach it while the
    test blocks on waiting."""

    def __init__(self, decide: Any) -> None:
        self.fake = FakeTelegram(tokens={TOKEN: "coach_bot"}, decide=decide)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedTelegram:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def zone_at(local_hours: range) -> str:
    """An IANA zone whose local hour right now is in `local_hours`."""
    now = datetime.now(UTC)
    for offset in range(-11, 15):
        for zone in (f"Etc/GMT{'+' if offset <= 0 else '-'}{abs(offset)}",):
            if now.astimezone(ZoneInfo(zone)).hour in local_hours:
                return zone
    raise AssertionError("no zone found")


class Cast:
    """Who is who in the run, by chat id."""

    def __init__(self) -> None:
        self.opted_out = {i for i in range(1, CONTACTS + 1) if i % 13 == 0}
        self.quiet = {i for i in range(1, CONTACTS + 1) if i % 17 == 0} - self.opted_out
        self.blocked = (
            {i for i in range(1, CONTACTS + 1) if i % 23 == 0} - self.opted_out - self.quiet
        )
        self.rate_limited = {i for i in range(1, CONTACTS + 1) if i % 7 == 0}
        self.slow = {i for i in range(1, CONTACTS + 1) if i % 11 == 0}
        self._seen: Counter[int] = Counter()
        self._lock = threading.Lock()
        self.delivered: list[tuple[int, str]] = []  # what the provider accepted (chat, text)

    def decide(self, method: str, params: dict[str, Any]) -> Failure | None:
        if method != "sendMessage":
            return None
        chat = int(params["chat_id"])
        with self._lock:
            self._seen[chat] += 1
            first = self._seen[chat] == 1
        if chat in self.blocked:
            return Failure(403, "Forbidden: bot was blocked by the user")
        if first and chat in self.rate_limited:
            return Failure(429, "Too Many Requests: retry after 1", retry_after=1)
        with self._lock:  # from here on the message is delivered (even if the client gave up)
            self.delivered.append((chat, str(params.get("text", ""))))
        if first and chat in self.slow:
            return Failure(0, "", delay=2.5)  # the client gives up after 1 s: ambiguous
        return None


async def prepare(url: str, cast: Cast) -> None:
    db = Database(url)
    try:
        now = datetime.now(UTC)
        async with db.transaction() as session:
            creator = await create_creator(
                session, slug="coach", name="Coach", email="c@example.com", password=None, now=now
            )
            creator.daily_proactive_cap = 10
        binding = await add_binding(
            db,
            SecretBox(SECRET_KEY),
            creator,
            Channel.TELEGRAM,
            name="@coach_bot",
            now=now,
            config={"bot_id": 123, "username": "coach_bot"},
            secrets={"token": TOKEN, "webhook_secret": "s3cret"},
        )
        # Creator quiet hours are 21:00-08:00: some contacts live where it is night now.
        quiet_zone, awake_zone = zone_at(range(5)), zone_at(range(11, 17))
        async with db.transaction() as session:
            for i in range(1, CONTACTS + 1):
                contact = Contact(
                    creator_id=creator.id,
                    first_name=f"P{i}",
                    created_at=now,
                    timezone=quiet_zone if i in cast.quiet else awake_zone,
                    opted_out_at=now if i in cast.opted_out else None,
                )
                session.add(contact)
                await session.flush()
                session.add(
                    ChannelIdentity(
                        contact_id=contact.id,
                        binding_id=binding.id,
                        channel="telegram",
                        external_user_id=str(i),
                        created_at=now,
                        last_inbound_at=now - timedelta(hours=1),
                    )
                )
                await session.flush()
                await enqueue(
                    session,
                    key=f"fault:{i}",
                    kind="nudge",
                    contact=contact,
                    now=now,
                    messages=[OutboundMessage(f"Nudge {i}a"), OutboundMessage(f"Nudge {i}b")],
                )
    finally:
        await db.dispose()


async def outbox_rows(url: str) -> list[tuple[Outbox, str]]:
    db = Database(url)
    try:
        async with db.sessions() as session:
            rows = await session.execute(
                select(Outbox, ChannelIdentity.external_user_id).join(
                    ChannelIdentity, ChannelIdentity.contact_id == Outbox.contact_id
                )
            )
            return [(row, chat) for row, chat in rows]
    finally:
        await db.dispose()


class Processes:
    """Workers and schedulers, restarted when they exit (as systemd would)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.starts = Counter[str]()

    def start(self, name: str, *args: str) -> None:
        self.starts[name] += 1
        with (self.log_dir / f"{name}-{self.starts[name]}.log").open("wb") as log:
            self.running[name] = subprocess.Popen(  # the child keeps its own copy of the file
                [sys.executable, "-m", "config.cli", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (the RQ work horse): a crashed machine."""
        process = self.running[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def supervise(self, commands: dict[str, tuple[str, ...]]) -> None:
        for name, args in commands.items():
            if name not in self.running or self.running[name].poll() is not None:
                self.start(name, *args)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.kill(name)


@pytest.fixture
def run_url(pg_database: str) -> str:
    asyncio.run(dbs.truncate_all(pg_database))
    return pg_database


def test_kill_workers_and_restart_redis_while_nudges_go_out(run_url: str, tmp_path: Path) -> None:
    cast = Cast()
    asyncio.run(prepare(run_url, cast))
    redis = OwnRedis()
    redis.start()
    commands: dict[str, tuple[str, ...]] = {
        "worker-a": ("worker",),
        "worker-b": ("worker",),
        "scheduler-a": ("scheduler",),
        "scheduler-b": ("scheduler",),  # two schedulers: claims are atomic
    }
    with ThreadedTelegram(cast.decide) as telegram:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOT_")}
        env.update(
            COACHBOT_DATABASE_URL=run_url,
            COACHBOT_REDIS_URL=redis.url,
            COACHBOT_TELEGRAM_API_URL=telegram.fake.url,
            COACHBOT_SECRET_KEY=SECRET_KEY,
            COACHBOT_PROVIDER_TIMEOUT="1",
            COACHBOT_SCHEDULER_INTERVAL="0.2",
            COACHBOT_REAP_AFTER="4",
            COACHBOT_JOB_BATCH_SIZE="20",
            COACHBOT_SEND_RATE_SCALE="100",
            COACHBOT_AMBIGUOUS_RETRY_AFTER="2",
            COACHBOT_AUTO_MIGRATE="false",
            COACHBOT_LOG_FORMAT="json",
            COACHBOT_DATA_DIR=str(tmp_path),
        )
        processes = Processes(env, tmp_path)
        try:
            deadline = time.monotonic() + 150
            kills, redis_restarted, next_kill = 0, False, time.monotonic() + 2
            while time.monotonic() < deadline:
                processes.supervise(commands)
                if kills < KILLS and time.monotonic() >= next_kill:
                    processes.kill("worker-a" if kills % 2 == 0 else "worker-b")
                    kills += 1
                    next_kill = time.monotonic() + 1.5
                if kills == 3 and not redis_restarted:
                    redis.kill()  # everything queued in Redis is lost
                    redis.start()
                    redis_restarted = True
                rows = asyncio.run(outbox_rows(run_url))
                unfinished = [
                    r
                    for r, chat in rows
                    if r.state not in ("sent", "failed", "skipped") and int(chat) not in cast.quiet
                ]
                if kills == KILLS and not unfinished:
                    break
                time.sleep(0.5)
        finally:
            processes.stop_all()
            redis.kill()
        calls = list(telegram.fake.calls_of("sendMessage"))
    logs = "\n".join(p.read_text()[-2000:] for p in sorted(tmp_path.glob("*.log")))
    assert kills == KILLS
    assert redis_restarted
    rows = asyncio.run(outbox_rows(run_url))
    assert len(rows) == 2 * CONTACTS

    by_state = Counter((r.state, r.reason) for r, _ in rows)
    lost = [
        (r.id, r.state, r.reason)
        for r, chat in rows
        if r.state not in ("sent", "failed", "skipped") and int(chat) not in cast.quiet
    ]
    assert lost == [], f"{by_state}\n{logs}"
    assert all(r.reason for r, _ in rows if r.state in ("failed", "skipped"))

    sent_to = Counter(int(c.params["chat_id"]) for c in calls)
    assert not set(sent_to) & cast.opted_out, "a nudge went out after STOP"
    assert not set(sent_to) & cast.quiet, "a nudge went out in quiet hours"
    for row, chat in rows:
        who = int(chat)
        if who in cast.opted_out:
            assert (row.state, row.reason) == ("skipped", "opted_out")
        elif who in cast.quiet:
            assert (row.state, row.reason) == ("pending", "quiet_hours")
        elif who in cast.blocked:
            assert row.state in ("failed", "skipped")
            assert row.reason in ("blocked", "no_reachable_channel")
        elif row.state != "sent":  # rate limits were all overcome; a send that was ambiguous
            # twice (a killed worker, then a timeout) fails rather than risk a third copy
            assert (row.state, row.reason, row.ambiguous) == (
                "failed",
                "ambiguous_timeout",
                True,
            ), (
                row.id,
                row.state,
                row.reason,
                row.last_error,
            )
    assert not [r for r, _ in rows if r.reason == "retries_exhausted"], "an unhandled 429"

    texts = Counter(cast.delivered)
    ambiguous = {(int(chat), row.message_id) for row, chat in rows if row.ambiguous}
    duplicated = {chat for (chat, _text), n in texts.items() if n > 1 and chat not in cast.blocked}
    assert {chat for chat, _ in ambiguous} >= duplicated, "a duplicate with no ambiguous record"
    print(
        f"\nfault run: {dict(by_state)}; duplicates {len(duplicated)}, ambiguous {len(ambiguous)}"
    )
