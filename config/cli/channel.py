"""`coachbot channel list|add|remove|test --creator SLUG`: a creator's Telegram bots and WhatsApp
senders. Secrets are stored sealed (see engine.secrets) and shown masked."""

from __future__ import annotations

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
    from config.channel_connect import ConnectError, connect_telegram, webhook_urls

    async def work(db: Database) -> None:
        creator = await _creator(db, slug)
        try:
            binding = await connect_telegram(settings, db, creator, token)
        except ConnectError as exc:
            raise fail(str(exc)) from None
        url = webhook_urls(settings, binding)[0][1]
        click.echo(f"Connected {binding.name} as channel {binding.id}; webhook: {url}")

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
    from config.channel_connect import ConnectError, connect_whatsapp, webhook_urls

    if not sender.startswith("whatsapp:+"):
        raise fail("--from must look like whatsapp:+14155238886")

    async def work(db: Database) -> None:
        creator = await _creator(db, slug)
        try:
            binding = await connect_whatsapp(
                settings,
                db,
                creator,
                account_sid=account_sid,
                auth_token=auth_token,
                sender=sender,
                messaging_service=messaging_service,
            )
        except ConnectError as exc:
            raise fail(str(exc)) from None
        (_, incoming), (_, status) = webhook_urls(settings, binding)
        click.echo(f"Connected {sender} as channel {binding.id}. In Twilio, set:")
        click.echo(f"  incoming messages (POST): {incoming}")
        click.echo(f"  status callback   (POST): {status}")

    app.run_with_db(work)


@channel_group.command("remove")
@CREATOR
@click.argument("binding_id", type=int)
@pass_app
def remove(app: AppContext, slug: str, binding_id: int) -> None:
    """Switch a channel off (its Telegram webhook is deleted; history and contacts stay)."""
    settings = app.start(quiet=True)
    from config.channel_connect import remove_channel
    from config.wiring import secret_box
    from engine.channel_bindings import load_binding

    async def work(db: Database) -> None:
        creator = await _creator(db, slug)
        binding = await load_binding(db, secret_box(settings), binding_id)
        if binding is None or binding.creator_id != creator.id:
            raise fail(f"{slug} has no channel {binding_id}")
        warning = await remove_channel(settings, db, binding)
        if warning:
            click.echo(f"warning: {warning}", err=True)
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
