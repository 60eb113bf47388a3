"""The channel webhooks mounted on the web app, with the app's background tasks:

    POST /webhooks/telegram/{public_key}
    POST /webhooks/twilio/{public_key}
    POST /webhooks/twilio/{public_key}/status
    /widget.js, /widget/demo, /widget/ws/{public_key}, /widget/api/{public_key}/{action}
    (the web widget: see bots.web.routes)

The adapters are built on the first webhook request, not when the app is created, so that an
app without channels never touches the secret key (creating one in the data directory) and
starts as fast as before."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from config.background import BackgroundTasks
from config.settings import Settings
from engine.db import Database
from engine.pipeline import Engine

if TYPE_CHECKING:
    from bots.web.service import WidgetService

BACKGROUND = web.AppKey("background", BackgroundTasks)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Adapters:
    telegram: Handler
    twilio_inbound: Handler
    twilio_status: Handler
    close: Callable[[], Awaitable[None]]


class ChannelRoutes:
    def __init__(
        self, settings: Settings, db: Database, engine: Engine, background: BackgroundTasks
    ) -> None:
        self.settings = settings
        self.db = db
        self.engine = engine
        self.background = background
        self._adapters: _Adapters | None = None
        self._lock = asyncio.Lock()

    async def adapters(self) -> _Adapters:
        async with self._lock:
            if self._adapters is None:
                self._adapters = await asyncio.to_thread(self._build)
            return self._adapters

    def _build(self) -> _Adapters:
        from bots.http import ReplyDelivery
        from bots.telegram.inbound import TelegramInbound
        from bots.telegram.webhook import TelegramWebhook
        from bots.whatsapp.webhook import TwilioWebhook
        from config.wiring import build_senders, secret_box
        from engine.channel_bindings import WebhookBindings

        box = secret_box(self.settings)  # reads (or creates) the key file: off the event loop
        senders = build_senders(self.settings, self.db)
        delivery = ReplyDelivery(self.engine, senders)
        bindings = WebhookBindings(self.db, box)
        telegram = TelegramWebhook(
            TelegramInbound(self.engine, delivery, self.background), bindings
        )
        twilio = TwilioWebhook(delivery, self.background, bindings, self.settings.public_url)
        return _Adapters(telegram.handle, twilio.inbound, twilio.status, senders.close)

    async def telegram(self, request: web.Request) -> web.StreamResponse:
        return await (await self.adapters()).telegram(request)

    async def twilio_inbound(self, request: web.Request) -> web.StreamResponse:
        return await (await self.adapters()).twilio_inbound(request)

    async def twilio_status(self, request: web.Request) -> web.StreamResponse:
        return await (await self.adapters()).twilio_status(request)

    async def close(self) -> None:
        if self._adapters is not None:
            await self._adapters.close()


def _widget_service(
    settings: Settings, engine: Engine, background: BackgroundTasks
) -> WidgetService:
    from bots.web.service import WidgetOptions, build_service
    from bots.web.turns import Limits
    from config.wiring import secret_box, secret_key

    limits = Limits(settings.widget_rate_per_minute, settings.widget_rate_burst)
    options = WidgetOptions(secret_key(settings), settings.redis_url, limits)
    return build_service(engine, secret_box(settings), background, options)


def mount_channels(app: web.Application, settings: Settings, db: Database, engine: Engine) -> None:
    from bots.web.routes import WidgetRoutes, mount_widget

    background = BackgroundTasks()
    app[BACKGROUND] = background
    routes = ChannelRoutes(settings, db, engine, background)
    app.router.add_post("/webhooks/telegram/{public_key}", routes.telegram)
    app.router.add_post("/webhooks/twilio/{public_key}", routes.twilio_inbound)
    app.router.add_post("/webhooks/twilio/{public_key}/status", routes.twilio_status)
    widget = WidgetRoutes(lambda: _widget_service(settings, engine, background), background)
    mount_widget(app, widget)

    async def drain(app: web.Application) -> None:
        # Widget sockets close first (browsers reconnect elsewhere), then turns still running
        # finish (or are cancelled and left to the recovery sweep) before the database is
        # disposed in on_cleanup.
        await widget.close_sockets()
        await background.drain(settings.shutdown_timeout)
        await routes.close()
        await widget.close()

    app.on_shutdown.append(drain)
