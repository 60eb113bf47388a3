"""Channel tests: the real web app with the real adapters and clients, against fake Telegram
and Twilio servers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from config.channel_routes import BACKGROUND
from config.settings import Settings
from config.web import create_app
from engine.channel_bindings import BindingInfo, add_binding
from engine.clock import ManualClock
from engine.commands import Command
from engine.db import Database
from engine.models import Creator
from engine.pipeline import Engine
from engine.routing import Turn
from engine.secrets import SecretBox
from engine.types import Channel, Reply
from tests.fakes import FakeTelegram, FakeTwilio

AppClient: TypeAlias = TestClient[web.Request, web.Application]

SECRET_KEY = "channel-tests-secret-key"
PUBLIC_URL = "https://coach.example.com"
TG_TOKEN = "123:TEST"
TG_SECRET = "tg-webhook-secret_1"
TW_SID = "AC" + "0" * 32
TW_TOKEN = "authtoken-1"
TW_FROM = "whatsapp:+14155238886"

LONG_TEXT = "\n\n".join(
    f"Paragraph {n}: " + " ".join(f"**Step {n}.{k}** keeps _going_ & <on>." for k in range(12))
    for n in range(30)
)


async def long_reply(turn: Turn, _args: str) -> Reply:
    return Reply.text(LONG_TEXT)


EXTRA_COMMANDS: Sequence[Command] = (Command("long", "a very long answer", long_reply),)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SECRET_KEY)


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def settings(tmp_path: Path, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key=SECRET_KEY,
        public_url=PUBLIC_URL,
        telegram_api_url=fake_telegram.url,
        twilio_api_url=fake_twilio.url,
        provider_timeout=2.0,
    )


@pytest.fixture
def channel_engine(db: Database, clock: ManualClock) -> Engine:
    return Engine(db, clock=clock, commands=EXTRA_COMMANDS)


@pytest.fixture
async def client(
    settings: Settings, db: Database, channel_engine: Engine
) -> AsyncIterator[AppClient]:
    app = create_app(settings, db, channel_engine)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def settle(client: AppClient) -> None:
    """Wait for the background turns the webhooks started."""
    await client.app[BACKGROUND].join()


@pytest.fixture
async def tg_binding(
    db: Database, box: SecretBox, creator: Creator, clock: ManualClock
) -> BindingInfo:
    return await add_binding(
        db,
        box,
        creator,
        Channel.TELEGRAM,
        name="@coach_bot",
        now=clock.now(),
        config={"bot_id": 123, "username": "coach_bot"},
        secrets={"token": TG_TOKEN, "webhook_secret": TG_SECRET},
    )


@pytest.fixture
async def wa_binding(
    db: Database, box: SecretBox, creator: Creator, clock: ManualClock
) -> BindingInfo:
    return await add_binding(
        db,
        box,
        creator,
        Channel.WHATSAPP,
        name="WhatsApp +14155238886",
        now=clock.now(),
        config={"account_sid": TW_SID, "from": TW_FROM},
        secrets={"auth_token": TW_TOKEN},
    )


def tg_text_update(update_id: int, text: str, chat_id: int = 4242, **extra: Any) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id + 10,
            "date": 1767603600,
            "chat": {"id": chat_id, "type": "private", "first_name": "Sam"},
            "from": {
                "id": chat_id,
                "is_bot": False,
                "first_name": "Sam",
                "last_name": "Lee",
                "language_code": "en",
            },
            "text": text,
            **extra,
        },
    }
