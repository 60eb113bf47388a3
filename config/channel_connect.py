"""Connecting a creator's channels: what `coachbot channel add|remove` and the creator hub both
do, written once. Telegram: check the token with getMe, store it sealed, set the webhook with a
fresh secret. Twilio WhatsApp: store the sender and its auth token sealed (the coach sets the two
webhook URLs in Twilio). Adding the same bot or sender again reuses its binding, so contacts and
history carry on. The web widget's settings come from `bots.web.widgets`.
"""

from __future__ import annotations

import secrets as token_source
from collections.abc import Mapping
from typing import Any

from config.settings import Settings
from creator_hub.services import ChannelError
from engine.binding_changes import announce
from engine.channel_bindings import (
    BindingInfo,
    add_binding,
    find_reusable,
    list_bindings,
    load_binding,
    remove_binding,
    update_binding,
)
from engine.clock import SystemClock
from engine.db import Database
from engine.models import Creator
from engine.types import Channel


class ConnectError(ChannelError):
    """The provider refused, or the input is unusable; the message is for the coach."""


async def connect_telegram(
    settings: Settings, db: Database, creator: Creator, token: str
) -> BindingInfo:
    from telegram.error import TelegramError

    from bots.telegram.client import make_bot
    from bots.telegram.poll import ALLOWED_UPDATES
    from bots.telegram.webhook import WEBHOOK_SECRET, webhook_path
    from config.wiring import secret_box

    token = token.strip()
    if not token or len(token) > 200 or any(c.isspace() for c in token):
        raise ConnectError("paste the bot token @BotFather gave you (like 123456:ABC-DEF…)")
    client = make_bot(token, settings.telegram_api_url, timeout=settings.provider_timeout)
    try:
        me = await client.bot.get_me()
        box = secret_box(settings)
        sealed = {"token": token, WEBHOOK_SECRET: token_source.token_urlsafe(32)}
        config = {"bot_id": me.id, "username": me.username}
        found = await find_reusable(db, box, creator.id, Channel.TELEGRAM, {"bot_id": me.id})
        if found is None:
            binding = await add_binding(
                db,
                box,
                creator,
                Channel.TELEGRAM,
                name=f"@{me.username}",
                now=SystemClock().now(),
                config=config,
                secrets=sealed,
            )
        else:
            config = {**found.config, **config}
            binding = await update_binding(
                db, box, found.id, config=config, secrets=sealed, enabled=True
            )
        url = settings.public_url.rstrip("/") + webhook_path(binding.public_key)
        await client.bot.set_webhook(
            url, secret_token=sealed[WEBHOOK_SECRET], allowed_updates=ALLOWED_UPDATES
        )
    except TelegramError as exc:
        raise ConnectError(f"Telegram said: {exc.message}") from None
    finally:
        await client.close()
    await announce(settings.redis_url)  # a reused binding has new secrets
    return binding


async def connect_whatsapp(
    settings: Settings,
    db: Database,
    creator: Creator,
    *,
    account_sid: str,
    auth_token: str,
    sender: str,
    messaging_service: str | None,
) -> BindingInfo:
    from config.wiring import secret_box

    account_sid, sender = account_sid.strip(), sender.strip()
    if not sender.startswith("whatsapp:+"):
        sender = "whatsapp:" + sender if sender.startswith("+") else sender
    if not sender.startswith("whatsapp:+") or not sender[10:].isdigit():
        raise ConnectError("the sender must look like whatsapp:+14155238886")
    if not account_sid.startswith("AC") or not auth_token.strip():
        raise ConnectError("enter the Account SID (AC…) and the Auth Token from Twilio's console")
    box = secret_box(settings)
    config: dict[str, Any] = {
        "account_sid": account_sid,
        "from": sender,
        "messaging_service_sid": (messaging_service or "").strip() or None,
    }
    found = await find_reusable(
        db, box, creator.id, Channel.WHATSAPP, {"account_sid": account_sid, "from": sender}
    )
    sealed = {"auth_token": auth_token.strip()}
    if found is None:
        return await add_binding(
            db,
            box,
            creator,
            Channel.WHATSAPP,
            name=f"WhatsApp {sender[9:]}",
            now=SystemClock().now(),
            config=config,
            secrets=sealed,
        )
    config = {**found.config, **config}  # keeps the template mapping
    binding = await update_binding(db, box, found.id, config=config, secrets=sealed, enabled=True)
    await announce(settings.redis_url)
    return binding


async def remove_channel(settings: Settings, db: Database, binding: BindingInfo) -> str | None:
    """Switch the channel off (Telegram: delete its webhook first). Returns a warning when the
    provider could not be told; removing works anyway."""
    from bots.telegram.client import make_bot

    warning = None
    if binding.channel is Channel.TELEGRAM and binding.secrets.get("token"):
        client = make_bot(binding.secrets["token"], settings.telegram_api_url)
        try:
            await client.bot.delete_webhook()
        except Exception as exc:  # removing must work even if Telegram is unreachable
            warning = f"deleteWebhook failed ({type(exc).__name__})"
        finally:
            await client.close()
    await remove_binding(db, binding.id)
    await announce(settings.redis_url)
    return warning


def webhook_urls(settings: Settings, binding: BindingInfo) -> list[tuple[str, str]]:
    from bots.telegram.webhook import webhook_path as telegram_path
    from bots.whatsapp.webhook import status_path
    from bots.whatsapp.webhook import webhook_path as twilio_path

    base = settings.public_url.rstrip("/")
    if binding.channel is Channel.TELEGRAM:
        return [("Webhook (set automatically)", base + telegram_path(binding.public_key))]
    if binding.channel is Channel.WHATSAPP:
        return [
            ("Incoming messages (POST)", base + twilio_path(binding.public_key)),
            ("Status callback (POST)", base + status_path(binding.public_key)),
        ]
    return []


class Connector:
    """The creator hub's `ChannelConnector`: the functions above, bound to this deployment."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db

    def _box(self) -> Any:
        from config.wiring import secret_box

        return secret_box(self.settings)

    async def bindings(self, creator_id: int) -> list[BindingInfo]:
        return await list_bindings(self.db, self._box(), creator_id)

    async def connect_telegram(self, creator: Creator, token: str) -> BindingInfo:
        return await connect_telegram(self.settings, self.db, creator, token)

    async def connect_whatsapp(
        self,
        creator: Creator,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        messaging_service: str | None,
    ) -> BindingInfo:
        return await connect_whatsapp(
            self.settings,
            self.db,
            creator,
            account_sid=account_sid,
            auth_token=auth_token,
            sender=sender,
            messaging_service=messaging_service,
        )

    async def set_config(self, binding_id: int, config: Mapping[str, Any]) -> BindingInfo:
        binding = await update_binding(self.db, self._box(), binding_id, config=config)
        await announce(self.settings.redis_url)
        return binding

    async def remove(self, binding: BindingInfo) -> None:
        await remove_channel(self.settings, self.db, binding)

    def webhook_urls(self, binding: BindingInfo) -> list[tuple[str, str]]:
        return webhook_urls(self.settings, binding)

    def widget_config(self, **fields: Any) -> dict[str, Any]:
        from bots.web.widgets import WidgetSettingsError, widget_config

        try:
            return widget_config(**fields)
        except WidgetSettingsError as exc:
            raise ConnectError(str(exc)) from None

    async def add_widget(
        self, creator: Creator, config: Mapping[str, Any]
    ) -> tuple[BindingInfo, str]:
        from config.cli.web import add_widget

        binding_id, _key, secret = await add_widget(self.settings, self.db, creator, dict(config))
        info = await load_binding(self.db, self._box(), binding_id)
        assert info is not None
        return info, secret

    def widget_snippet(self, public_key: str) -> str:
        from bots.web.demo import snippet

        return snippet(self.settings.public_url, public_key)
