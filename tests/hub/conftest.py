"""The hub on loopback: its aiohttp app (and the API) on the test database, a knowledge base with
a small bag-of-words embedder (fast, and similar texts do score as similar), a background-task
runner the tests can wait on, and helpers that sign up and carry the CSRF token like a browser."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from creator_hub.api import create_api
from creator_hub.app import create_hub
from creator_hub.services import ChannelError, HubServices
from engine.channel_bindings import (
    BindingInfo,
    add_binding,
    list_bindings,
    remove_binding,
    update_binding,
)
from engine.clock import ManualClock
from engine.db import Database
from engine.models import Creator
from engine.pipeline import Engine
from engine.secrets import SecretBox
from engine.types import Channel
from knowledge.service import KnowledgeService
from knowledge.store import VectorStore

AppClient: TypeAlias = TestClient[web.Request, web.Application]
PASSWORD = "correct horse battery"
SECRET = "hub-tests-secret"
DIM = 256


class WordEmbedder:
    """Hashed bag of words: cosine similarity follows shared words. No model download."""

    name = "test-words"

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * DIM
        for word in re.findall(r"[a-z]{3,}", text.lower()):
            vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0  # noqa: S324
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed(self, texts: Sequence[str]) -> Any:
        return np.array([self._vector(t) for t in texts], dtype=np.float32).reshape(-1, DIM)

    def embed_query(self, text: str) -> Any:
        return self.embed([text])[0]


class Tasks:
    """The hub's `spawn`, deferred: work runs when the test calls `join()`, so a test sees the
    state in between (a document queued, the list polling) deterministically."""

    def __init__(self) -> None:
        self.pending: list[Coroutine[Any, Any, None]] = []

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self.pending.append(coro)

    async def join(self) -> None:
        while self.pending:
            await self.pending.pop(0)


@dataclass
class FakeConnector:
    """The channel connector without providers: Telegram tokens starting 'bad' are refused."""

    db: Database
    box: SecretBox = field(default_factory=lambda: SecretBox(SECRET))

    async def bindings(self, creator_id: int) -> list[BindingInfo]:
        return await list_bindings(self.db, self.box, creator_id)

    async def connect_telegram(self, creator: Creator, token: str) -> BindingInfo:
        if token.startswith("bad"):
            raise ChannelError("Telegram said: Unauthorized")
        return await add_binding(
            self.db,
            self.box,
            creator,
            Channel.TELEGRAM,
            name="@test_bot",
            now=ManualClock().now(),
            config={"bot_id": 1, "username": "test_bot"},
            secrets={"token": token},
        )

    async def connect_whatsapp(
        self,
        creator: Creator,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        messaging_service: str | None,
    ) -> BindingInfo:
        if not sender.startswith("whatsapp:+"):
            raise ChannelError("the sender must look like whatsapp:+14155238886")
        return await add_binding(
            self.db,
            self.box,
            creator,
            Channel.WHATSAPP,
            name=f"WhatsApp {sender[9:]}",
            now=ManualClock().now(),
            config={"account_sid": account_sid, "from": sender},
            secrets={"auth_token": auth_token},
        )

    async def set_config(self, binding_id: int, config: Mapping[str, Any]) -> BindingInfo:
        return await update_binding(self.db, self.box, binding_id, config=config)

    async def remove(self, binding: BindingInfo) -> None:
        await remove_binding(self.db, binding.id)

    def webhook_urls(self, binding: BindingInfo) -> list[tuple[str, str]]:
        return [("Webhook", f"https://bot.example.com/webhooks/{binding.public_key}")]

    def widget_config(self, **fields: Any) -> dict[str, Any]:
        origins = [o for o in fields.get("origins", []) if o]
        if not origins or not all(o.startswith(("http://", "https://")) for o in origins):
            raise ChannelError(
                "a widget needs at least one allowed origin like https://example.com"
            )
        return {**fields, "origins": origins}

    async def add_widget(
        self, creator: Creator, config: Mapping[str, Any]
    ) -> tuple[BindingInfo, str]:
        info = await add_binding(
            self.db,
            self.box,
            creator,
            Channel.WEB,
            name="Web widget",
            now=ManualClock().now(),
            config=config,
            secrets={"widget_secret": "s3cret-widget"},
        )
        return info, "s3cret-widget"

    def widget_snippet(self, public_key: str) -> str:
        return f'<script src="https://bot.example.com/widget.js" data-widget="{public_key}" async></script>'


@dataclass
class Hub:
    services: HubServices
    tasks: Tasks
    knowledge: KnowledgeService
    app: web.Application
    hub_app: web.Application
    api_app: web.Application


@pytest.fixture
async def hub(db: Database, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Hub]:
    from engine.answering import KnowledgeAnswerer

    service = KnowledgeService(db, VectorStore.persistent(tmp_path / "chroma"), WordEmbedder())
    tasks = Tasks()

    async def knowledge() -> KnowledgeService:
        return service

    services = HubServices(
        db=db,
        clock=clock,
        public_url="http://hub.test",
        knowledge=knowledge,
        answerer=lambda s: KnowledgeAnswerer(s),
        channels=FakeConnector(db),
        spawn=tasks.spawn,
        engine=Engine(db, clock=clock, answerer=KnowledgeAnswerer(service)),
        max_upload_bytes=2_000_000,
    )
    app = web.Application()
    hub_app, api_app = create_hub(services), create_api(services)
    app.add_subapp("/hub", hub_app)
    app.add_subapp("/api/v1", api_app)
    yield Hub(services, tasks, service, app, hub_app, api_app)
    await tasks.join()
    service.close()


@dataclass
class Page:
    status: int
    headers: Any
    body_text: str

    def json(self) -> Any:
        import json

        return json.loads(self.body_text)


class Browser:
    """A test client that remembers the page's CSRF token, like a browser holding the form."""

    def __init__(self, client: AppClient) -> None:
        self.client = client
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> Page:
        response = await self.client.get(path, **kwargs)
        text = await response.text()
        found = re.search(r'data-csrf="([^"]+)"', text) or re.search(
            r'name="csrf" value="([^"]+)"', text
        )
        if found:
            self.csrf = found[1]
        return Page(response.status, response.headers, text)

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        csrf: str | None = None,
        **kwargs: Any,
    ) -> Page:
        form = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        response = await self.client.post(path, data=form, allow_redirects=False, **kwargs)
        return Page(response.status, response.headers, await response.text())

    async def follow(self, path: str, data: dict[str, str] | None = None) -> Page:
        """POST, then GET where it redirects (the page the browser would land on)."""
        response = await self.post(path, data)
        assert response.status in (302, 303), (response.status, response.body_text[:500])
        return await self.get(response.headers["Location"])


async def sign_up(
    hub: Hub, email: str, name: str = "Maya Brooks", workspace: str = "Coach Maya"
) -> Browser:
    client: AppClient = TestClient(TestServer(hub.app, host="127.0.0.1"))
    await client.start_server()
    browser = Browser(client)
    await browser.get("/hub/signup")
    response = await browser.post(
        "/hub/signup",
        {
            "name": name,
            "email": email,
            "password": PASSWORD,
            "workspace": workspace,
            "timezone": "Europe/Berlin",
        },
    )
    assert response.status == 303, response.body_text[:2000]
    await browser.get("/hub/")
    return browser


@pytest.fixture
async def maya(hub: Hub) -> AsyncIterator[Browser]:
    browser = await sign_up(hub, "maya@example.com")
    yield browser
    await browser.client.close()


async def creator_of(db: Database, email: str) -> Creator:
    from sqlalchemy import select

    async with db.sessions() as session:
        found = await session.scalar(select(Creator).where(Creator.email == email))
    assert found is not None
    return found
