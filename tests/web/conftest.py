"""Widget tests: the real web app (routes, WebSocket, pipeline) on loopback, talked to as widget.js
does, with the Origin header a browser would send."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bots.web.widgets import WIDGET_SECRET, widget_config
from config.channel_routes import BACKGROUND
from config.settings import Settings
from config.web import create_app
from engine.channel_bindings import BindingInfo, add_binding
from engine.clock import ManualClock
from engine.commands import Command
from engine.db import Database
from engine.models import Creator, InboundReceipt, Message
from engine.pipeline import Engine
from engine.routing import Turn
from engine.secrets import SecretBox
from engine.types import Channel, Choice, Reply

AppClient: TypeAlias = TestClient[web.Request, web.Application]

SECRET_KEY = "widget-tests-secret-key"
ORIGIN = "https://coach.example.com"
OTHER_ORIGIN = "https://evil.example.net"
WIDGET_SECRET_VALUE = "widget-secret-for-tests"


async def pick(turn: Turn, _args: str) -> Reply:
    return Reply.text(
        "Which **one**?",
        choices=(Choice("Morning run", "/echo morning"), Choice("Evening walk", "/echo evening")),
    )


async def echo_choice(turn: Turn, _args: str) -> Reply:
    return Reply.text(f"text={turn.text} choice={turn.inbound.choice_payload}")


EXTRA_COMMANDS: Sequence[Command] = (
    Command("pick", "offer two choices", pick),
    Command("echo", "say what came in", echo_choice),
)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SECRET_KEY)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key=SECRET_KEY, public_url="https://bot.example.com")


@pytest.fixture
def web_engine(db: Database, clock: ManualClock) -> Engine:
    return Engine(db, clock=clock, commands=EXTRA_COMMANDS)


async def make_widget(
    db: Database, box: SecretBox, creator: Creator, clock: ManualClock, origin: str = ORIGIN
) -> BindingInfo:
    return await add_binding(
        db,
        box,
        creator,
        Channel.WEB,
        name="Web widget",
        now=clock.now(),
        config=widget_config(origins=[origin], color="#0f766e"),
        secrets={WIDGET_SECRET: WIDGET_SECRET_VALUE},
    )


@pytest.fixture
async def widget(db: Database, box: SecretBox, creator: Creator, clock: ManualClock) -> BindingInfo:
    return await make_widget(db, box, creator, clock)


@pytest.fixture
async def client(settings: Settings, db: Database, web_engine: Engine) -> AsyncIterator[AppClient]:
    app = create_app(settings, db, web_engine)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def settle(client: AppClient) -> None:
    await client.app[BACKGROUND].join()


async def api(
    client: AppClient,
    widget: BindingInfo,
    action: str,
    body: Any = None,
    *,
    token: str | None = None,
    origin: str | None = ORIGIN,
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if origin is not None:
        headers["Origin"] = origin
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, bytes | str) else json.dumps(body or {})
    response = await client.post(
        f"/widget/api/{widget.public_key}/{action}", data=raw, headers=headers
    )
    try:
        data = await response.json()
    except (aiohttp.ContentTypeError, ValueError):
        data = {}
    return response.status, data


async def new_token(client: AppClient, widget: BindingInfo) -> str:
    status, data = await api(client, widget, "config")
    assert status == 200, data
    token: str = data["token"]
    return token


@dataclass
class Socket:
    """A widget socket, as widget.js holds it: hello first, then frames both ways."""

    ws: aiohttp.ClientWebSocketResponse
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, frame: Any) -> None:
        await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def next(self, kind: str | None = None, wait: float = 10.0) -> dict[str, Any]:
        """The next frame (of `kind`, skipping others); `wait` bounds a hang, it is no assertion."""
        while True:
            message = await self.ws.receive(timeout=wait)
            assert message.type == aiohttp.WSMsgType.TEXT, message
            frame: dict[str, Any] = json.loads(message.data)
            self.seen.append(frame)
            if kind is None or frame["type"] == kind:
                return frame

    async def reply_to(self, client_id: str, text: str | None = None, **send: Any) -> list[Any]:
        """Send a message; the bot's messages of that turn (the turn ends with typing off), or
        the error frame."""
        frame: dict[str, Any] = {"type": "send", "id": client_id, **send}
        if text is not None:
            frame["text"] = text
        await self.send(frame)
        messages = []
        while True:
            got = await self.next()
            if got["type"] == "message" and got["message"]["dir"] == "out":
                messages.append(got["message"])
            elif got["type"] == "typing" and not got["on"]:
                return messages
            elif got["type"] == "error" or (got["type"] == "ack" and got["status"] == "duplicate"):
                return [got]


async def connect(
    client: AppClient, widget: BindingInfo, token: str | None, origin: str = ORIGIN
) -> tuple[Socket, dict[str, Any]]:
    """Open a socket and say hello; returns it with the `ready` frame."""
    ws = await client.ws_connect(f"/widget/ws/{widget.public_key}", headers={"Origin": origin})
    socket = Socket(ws)
    await socket.send({"type": "hello", "token": token})
    ready = await socket.next()
    return socket, ready


async def counts(db: Database) -> tuple[int, int, int]:
    """(receipts, inbound messages, outbound messages) stored."""
    async with db.sessions() as session:
        receipts = await session.scalar(select(func.count()).select_from(InboundReceipt))
        inbound = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
        outbound = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "out")
        )
    return receipts or 0, inbound or 0, outbound or 0
