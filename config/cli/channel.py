"""`coachbot channel list|add|remove|test --creator SLUG`: a creator's Telegram bots and WhatsApp
senders. Secrets are stored sealed (see engine.secrets) and shown masked."""

from __future__ import annotations

import secrets as token_source
from typing import TYPE_CHECKING

import click

from config.cli.base import AppContext, fail, pass_app
from config.cli.web import add_web

if TYPE_CHECKING:
    from engine.db import Database
    from engine.models import Creator

CREATOR = click.option("--creator", "slug", required=True, help="Slug of the creator.")


@click.group("channel")
def channel_group() -> None:
    """Connect a creator's Telegram bots, WhatsApp (Twilio) senders and web widgets."""


async def _creator(db: Database, slug: str) -> Creator:
    from engine.creators import CreatorError, get_creator

    async with db.sessions() as session:
        try:
            return await get_creator(session, slug)
        except CreatorError as exc:
            raise fail(str(exc)) from None


@channel_group.command("list")
@CREATOR
@pass_app
def list_(app: AppContext, slug: str) -> None:
    """The creator's channels, their webhook URLs and masked secrets."""
    settings = app.start(quiet=True)
    from config.wiring import secret_box
    from engine.channel_bindings import list_bindings
    from engine.secrets import mask

    async def work(db: Database) -> None:
        creator = await _creator(db, slug)
        rows = await list_bindings(db, secret_box(settings), creator.id)
        if not rows:
            click.echo("No channels yet: see `coachbot channel add --help`.")
        for b in rows:
            state = "on" if b.enabled else "removed"
            shown = ", ".join(f"{k}={mask(v)}" for k, v in sorted(b.secrets.items()))
            if b.secrets_unreadable:
                shown = "(unreadable with this secret key: add the channel again)"
            click.echo(
                f"{b.id}\t{b.channel.value}\t{state}\t{b.name}\t{_hook(settings.public_url, b)}"
            )
            if shown:
                click.echo(f"\tsecrets: {shown}")

    app.run_with_db(work)


def _hook(public_url: str, binding: object) -> str:
    from bots.telegram.webhook import webhook_path as telegram_path
    from bots.whatsapp.webhook import webhook_path as twilio_path
    from engine.types import Channel

    channel, key = getattr(binding, "channel"), getattr(binding, "public_key")  # noqa: B009
    if channel is Channel.TELEGRAM:
        return public_url.rstrip("/") + telegram_path(key)
    if channel is Channel.WHATSAPP:
        return public_url.rstrip("/") + twilio_path(key)
    if channel is Channel.WEB:
        from bots.web.demo import snippet

        return snippet(public_url, key)
    return "-"


@channel_group.group("add")
def add_group() -> None:
    """Connect a channel."""


add_group.add_command(add_web)


@add_group.command("telegram")
@CREATOR
@click.option("--token", required=True, help="The bot token from @BotFather.")
@pass_app
def add_telegram(app: AppContext, slug: str, token: str) -> None:
    """Check the token (getMe), store it sealed and set the bot's webhook to this deployment."""
    settings = app.start(quiet=True)
    from telegram.error import TelegramError

    from bots.telegram.client import make_bot
    from bots.telegram.poll import ALLOWED_UPDATES
    from bots.telegram.webhook import WEBHOOK_SECRET, webhook_path
    from config.wiring import secret_box
    from engine.channel_bindings import add_binding, find_reusable, update_binding
    from engine.clock import SystemClock
    from engine.types import Channel

    async def work(db: Database) -> None:
        creator = await _creator(db, slug)
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
                binding = await update_binding(
                    db, box, found.id, config=config, secrets=sealed, enabled=True
                )
            url = settings.public_url.rstrip("/") + webhook_path(binding.public_key)
            await client.bot.set_webhook(
                url, secret_token=sealed[WEBHOOK_SECRET], allowed_updates=ALLOWED_UPDATES
            )
        except TelegramError as exc:
            raise fail(f"Telegram said: {exc.message}") from None
        finally:
            await client.close()
        click.echo(f"Connected @{me.username} as channel {binding.id}; webhook: {url}")

    app.run_with_db(work)


@add_group.command("whatsapp")
@CREATOR
@click.option("--account-sid", required=True, help="Twilio Account SID (AC…).")
@click.option("--auth-token", required=True, help="Twilio Auth Token.")
@click.option("--from", "sender", required=True, help="Sender, e.g. whatsapp:+14155238886.")
@click.option("--messaging-service", help="Messaging Service SID (MG…), if you send through one.")
@pass_app
def add_whatsapp(
    app: AppContext,
    slug: str,
    account_sid: str,
    auth_token: str,
    sender: str,
    messaging_service: str | None,
) -> None:
    """Store a Twilio WhatsApp sender (sealed) and print the webhook URLs to set in Twilio."""
    settings = app.start(quiet=True)
    from bots.whatsapp.webhook import status_path, webhook_path
    from config.wiring import secret_box
    from engine.channel_bindings import add_binding, find_reusable, update_binding
    from engine.clock import SystemClock
    from engine.types import Channel

    if not sender.startswith("whatsapp:+"):
        raise fail("--from must look like whatsapp:+14155238886")

    async def work(db: Database) -> None:
        creator = await _creator(db, slug)
        box = secret_box(settings)
        config = {
            "account_sid": account_sid,
            "from": sender,
            "messaging_service_sid": messaging_service,
        }
        match = {"account_sid": account_sid, "from": sender}
        found = await find_reusable(db, box, creator.id, Channel.WHATSAPP, match)
        sealed = {"auth_token": auth_token}
        if found is None:
            binding = await add_binding(
                db,
                box,
                creator,
                Channel.WHATSAPP,
                name=f"WhatsApp {sender[9:]}",
                now=SystemClock().now(),
                config=config,
                secrets=sealed,
            )
        else:
            binding = await update_binding(
                db, box, found.id, config=config, secrets=sealed, enabled=True
            )
        base = settings.public_url.rstrip("/")
        click.echo(f"Connected {sender} as channel {binding.id}. In Twilio, set:")
        click.echo(f"  incoming messages (POST): {base}{webhook_path(binding.public_key)}")
        click.echo(f"  status callback   (POST): {base}{status_path(binding.public_key)}")

    app.run_with_db(work)


@channel_group.command("remove")
@CREATOR
@click.argument("binding_id", type=int)
@pass_app
def remove(app: AppContext, slug: str, binding_id: int) -> None:
    """Switch a channel off (its Telegram webhook is deleted; history and contacts stay)."""
    settings = app.start(quiet=True)
    from bots.telegram.client import make_bot
    from config.wiring import secret_box
    from engine.channel_bindings import load_binding, remove_binding
    from engine.types import Channel

    async def work(db: Database) -> None:
        creator = await _creator(db, slug)
        binding = await load_binding(db, secret_box(settings), binding_id)
        if binding is None or binding.creator_id != creator.id:
            raise fail(f"{slug} has no channel {binding_id}")
        if binding.channel is Channel.TELEGRAM and binding.secrets.get("token"):
            client = make_bot(binding.secrets["token"], settings.telegram_api_url)
            try:
                await client.bot.delete_webhook()
            except Exception as exc:  # removing must work even if Telegram is unreachable
                click.echo(f"warning: deleteWebhook failed ({type(exc).__name__})", err=True)
            finally:
                await client.close()
        await remove_binding(db, binding_id)
        click.echo(f"Removed channel {binding_id} ({binding.name}).")

    app.run_with_db(work)


@channel_group.command("test")
@CREATOR
@click.argument("binding_id", type=int)
@click.option("--to", "to", required=True, help="Telegram chat id, or whatsapp:+… number.")
@click.option("--text", default="Hello from coachbot! This is a test message.", show_default=True)
@pass_app
def test(app: AppContext, slug: str, binding_id: int, to: str, text: str) -> None:
    """Send a message through the channel's sender."""
    settings = app.start(quiet=True)
    from config.wiring import build_senders, secret_box
    from engine.channel_bindings import load_binding
    from engine.delivery import DeliveryError, Recipient
    from engine.types import OutboundMessage

    async def work(db: Database) -> None:
        creator = await _creator(db, slug)
        binding = await load_binding(db, secret_box(settings), binding_id)
        if binding is None or binding.creator_id != creator.id:
            raise fail(f"{slug} has no channel {binding_id}")
        senders = build_senders(settings, db)
        try:
            sender = await senders.for_binding(binding_id)
            result = await sender.send(
                Recipient(binding_id, binding.channel, to), OutboundMessage(text)
            )
        except DeliveryError as exc:
            raise fail(f"not sent ({type(exc).__name__}): {exc}") from None
        finally:
            await senders.close()
        click.echo(f"Sent: {', '.join(result.provider_message_ids)}")

    app.run_with_db(work)
