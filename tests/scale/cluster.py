"""A scaled-mode deployment on loopback, as the tests of this package run it: two `coachbot
serve` processes on their own ports, two RQ workers and two schedulers (`python -m config.cli
…`), a fresh PostgreSQL database, a Redis of the run's own (so it can be killed and restarted)
and a Chroma server. The fake Telegram and Twilio APIs run on their own event loop in a thread,
so the processes reach them whatever the test is doing, and they record what they accepted
with the id they answered (what the accounting maps back to rows)."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import update

from engine.channel_bindings import BindingInfo, add_binding
from engine.creators import create_creator
from engine.db import Database
from engine.models import Creator
from engine.secrets import SecretBox
from engine.types import Channel
from tests.delivery.test_faults import OwnRedis, Processes, free_port
from tests.fakes.telegram import Failure, FakeTelegram
from tests.fakes.twilio import FakeTwilio

SECRET_KEY = "scale-tests-secret-key-0123456789abcdef"
TG_TOKEN, TG_SECRET = "777:SCALE", "scale-webhook-secret"
TW_SID, TW_TOKEN, TW_FROM = "AC" + "5" * 32, "scale-auth-token", "whatsapp:+15550001111"
PUBLIC_URL = "http://coachbot.test"  # what Twilio calls; its signatures are made against it
ORIGIN = "https://coach.example.com"  # the site the widget is embedded on
WIDGET_SECRET_VALUE = "scale-widget-secret"

# Answer the check-in, get the thanks, and two seconds later the program comes back on its own
# (a wait the scheduler hands to a worker): the proactive path of every channel.
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
  - wait: 2s
  - message: "Check-in time again, {{ contact.first_name }}."
    next: mood
"""
QUESTION_TEXT = "How is your energy today"
WAKE_TEXT = "Check-in time again"


@dataclass
class RecordingTelegram(FakeTelegram):
    """The fake Bot API, recording every message it accepted with the id it answered."""

    accepted: list[tuple[str, str, str]] = field(default_factory=list)  # (chat, id, text)

    async def _m_sendMessage(self, token: str, params: dict[str, Any]) -> Any:
        result = await super()._m_sendMessage(token, params)
        self.accepted.append((str(params["chat_id"]), str(result["message_id"]), result["text"]))
        return result


class Providers:
    """Fake Telegram and Twilio APIs on an event loop of their own, in a thread."""

    def __init__(self, decide: Callable[[str, dict[str, Any]], Failure | None] | None = None):
        self.telegram = RecordingTelegram(tokens={TG_TOKEN: "scale_bot"}, decide=decide)
        self.twilio = FakeTwilio(accounts={TW_SID: TW_TOKEN})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        for fake in (self.telegram, self.twilio):
            asyncio.run_coroutine_threadsafe(fake.start(), self.loop).result(10)

    def stop(self) -> None:
        for fake in (self.telegram, self.twilio):
            asyncio.run_coroutine_threadsafe(fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def accepted(self) -> list[tuple[str, str, str]]:
        """Every message a provider accepted: (recipient, provider id, text)."""
        telegram = list(self.telegram.accepted)
        whatsapp = [(m.to, m.sid, m.body or "") for m in list(self.twilio.messages)]
        return telegram + whatsapp

    def texts(self, recipient: str) -> list[str]:
        return [text for to, _id, text in self.accepted() if to == recipient]


@dataclass
class World:
    """What is seeded: the creator and one binding per channel."""

    creator_id: int
    telegram: BindingInfo
    whatsapp: BindingInfo
    widget: BindingInfo


async def seed(url: str, slug: str = "scale") -> World:
    from bots.web.widgets import WIDGET_SECRET, widget_config
    from programs.store import publish

    db = Database(url)
    now = datetime.now(UTC)
    box = SecretBox(SECRET_KEY)
    try:
        async with db.transaction() as session:
            creator = await create_creator(
                session, slug=slug, name="Scale Coach", email=f"{slug}@x.io", password=None, now=now
            )
            await publish(session, creator.id, PROGRAM, now)
            await session.execute(  # no quiet hours, and room for every proactive message
                update(Creator)
                .where(Creator.id == creator.id)
                .values(
                    quiet_hours_start="00:00", quiet_hours_end="00:00", daily_proactive_cap=1000
                )
            )
        telegram = await add_binding(
            db,
            box,
            creator,
            Channel.TELEGRAM,
            name="@scale_bot",
            now=now,
            config={"bot_id": 777, "username": "scale_bot"},
            secrets={"token": TG_TOKEN, "webhook_secret": TG_SECRET},
        )
        whatsapp = await add_binding(
            db,
            box,
            creator,
            Channel.WHATSAPP,
            name="scale wa",
            now=now,
            config={"account_sid": TW_SID, "from": TW_FROM},
            secrets={"auth_token": TW_TOKEN},
        )
        widget = await add_binding(
            db,
            box,
            creator,
            Channel.WEB,
            name="Web widget",
            now=now,
            config=widget_config(origins=[ORIGIN]),
            secrets={WIDGET_SECRET: WIDGET_SECRET_VALUE},
        )
        return World(creator.id, telegram, whatsapp, widget)
    finally:
        await db.dispose()


class Cluster:
    """The processes of scaled mode around one database, one Redis and one Chroma server.
    Workers and schedulers are restarted when they exit (as systemd would); `serve` processes
    are not: a killed one is taken out of the load balancer."""

    BACKGROUND: dict[str, tuple[str, ...]] = {  # noqa: RUF012 (read only)
        "worker-1": ("worker",),
        "worker-2": ("worker",),
        "scheduler-1": ("scheduler",),
        "scheduler-2": ("scheduler",),  # two: claims are atomic
    }

    def __init__(
        self,
        database_url: str,
        redis: OwnRedis,
        chroma_url: str,
        providers: Providers,
        directory: Path,
        **settings: str,
    ) -> None:
        self.redis = redis
        self.directory = directory
        env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOT_")}
        env.update(
            COACHBOT_DATABASE_URL=database_url,
            COACHBOT_REDIS_URL=redis.url,
            COACHBOT_CHROMA_URL=chroma_url,
            COACHBOT_SECRET_KEY=SECRET_KEY,
            COACHBOT_PUBLIC_URL=PUBLIC_URL,
            COACHBOT_TELEGRAM_API_URL=providers.telegram.url,
            COACHBOT_TWILIO_API_URL=providers.twilio.url,
            COACHBOT_AUTO_MIGRATE="false",
            COACHBOT_DATA_DIR=str(directory / "data"),
            COACHBOT_LOG_FORMAT="json",
            COACHBOT_SCHEDULER_INTERVAL="0.2",
            COACHBOT_REAP_AFTER="5",
            COACHBOT_AMBIGUOUS_RETRY_AFTER="2",
            COACHBOT_PROVIDER_TIMEOUT="3",
            COACHBOT_JOB_BATCH_SIZE="20",
            COACHBOT_SEND_RATE_SCALE="100",
            COACHBOT_QUERY_EMBEDDING_BACKEND="torch",  # no ONNX export in every fresh data dir
            ANONYMIZED_TELEMETRY="False",
        )
        env.update(settings)
        self.processes = Processes(env, directory)
        self.serves: dict[str, str] = {}

    def start(self) -> None:
        for name in ("serve-1", "serve-2"):
            port = free_port()
            self.processes.start(name, "serve", "--port", str(port))
            self.serves[name] = f"http://127.0.0.1:{port}"
        self.supervise()

    def supervise(self) -> None:
        self.processes.supervise(self.BACKGROUND)

    def kill(self, name: str) -> None:
        self.processes.kill(name)
        self.serves.pop(name, None)

    def stop(self) -> None:
        self.processes.stop_all()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}"
            for p in sorted(self.directory.glob("*.log"))
        )

    async def ready(self, patience: float = 60) -> None:
        """Every serve answers /readyz (database and Redis reachable)."""
        deadline = time.monotonic() + patience
        async with aiohttp.ClientSession() as session:
            for base in self.serves.values():
                while True:
                    try:
                        async with session.get(f"{base}/readyz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{base} not ready\n{self.logs()}")
                    await asyncio.sleep(0.1)


_MESSAGE_IDS = itertools.count(1)


class Webhooks:
    """Provider webhooks, correctly signed, as Telegram and Twilio send them, through a load
    balancer over the live `serve` processes: round robin, and a request that fails (the
    process died) is sent again to the next one, as Telegram and Twilio re-deliver."""

    def __init__(self, session: aiohttp.ClientSession, cluster: Cluster, world: World) -> None:
        from twilio.request_validator import RequestValidator

        self.session = session
        self.cluster = cluster
        self.world = world
        self.validator = RequestValidator(TW_TOKEN)
        self._turn = itertools.count()
        self.accepted: list[tuple[int, str]] = []  # (binding id, provider message id) answered 200
        self.retried = 0
        self.in_flight: Counter[str] = Counter()  # requests waiting for an answer, by serve
        self.after_accept: Callable[[str], None] | None = None  # called with the serve's name

    def next_id(self) -> int:
        return next(_MESSAGE_IDS)  # unique across instances: a reused id is a re-delivery

    def telegram_update(self, chat: int, text: str, n: int) -> dict[str, Any]:
        return {
            "update_id": n,
            "message": {
                "message_id": n,
                "date": int(time.time()),
                "text": text,
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": f"T{chat}"},
            },
        }

    async def telegram(self, chat: int, text: str, *, serve: str | None = None) -> None:
        n = self.next_id()
        body = self.telegram_update(chat, text, n)
        await self._post(
            f"/webhooks/telegram/{self.world.telegram.public_key}",
            {"json": body, "headers": {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}},
            (self.world.telegram.id, str(n)),
            serve,
        )

    async def whatsapp(self, number: str, text: str, *, serve: str | None = None) -> None:
        path, request, key = self._whatsapp_request(number, text)
        await self._post(path, request, key, serve)

    async def whatsapp_once(self, number: str, text: str, serve: str) -> int:
        """One webhook to one process, not sent again: the HTTP status it answered."""
        path, request, _key = self._whatsapp_request(number, text)
        async with self.session.post(self.cluster.serves[serve] + path, **request) as response:
            return response.status

    def _whatsapp_request(
        self, number: str, text: str
    ) -> tuple[str, dict[str, Any], tuple[int, str]]:
        n = self.next_id()
        path = f"/webhooks/twilio/{self.world.whatsapp.public_key}"
        sid = f"SM{n:032x}"
        form = {
            "MessageSid": sid,
            "AccountSid": TW_SID,
            "From": number,
            "To": TW_FROM,
            "Body": text,
            "NumMedia": "0",
            "ProfileName": f"W{number[-4:]}",
        }
        signature = self.validator.compute_signature(PUBLIC_URL + path, form)
        request = {"data": form, "headers": {"X-Twilio-Signature": signature}}
        return path, request, (self.world.whatsapp.id, sid)

    async def _post(
        self, path: str, request: dict[str, Any], key: tuple[int, str], serve: str | None
    ) -> None:
        last: object = None
        for attempt in range(4):
            names = sorted(self.cluster.serves)
            if not names:
                break
            if serve is not None and attempt == 0 and serve in self.cluster.serves:
                name = serve
            else:
                name = names[next(self._turn) % len(names)]
            base = self.cluster.serves.get(name)
            if base is None:
                continue
            self.in_flight[name] += 1
            try:
                async with self.session.post(base + path, **request) as response:
                    if response.status == 200:
                        self.accepted.append(key)
                        if self.after_accept is not None:
                            self.after_accept(name)
                        return
                    last = f"{response.status} {await response.text()}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = exc
            finally:
                self.in_flight[name] -= 1
            self.retried += 1
            await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError(f"webhook {key} never accepted: {last}")
