"""`coachbot telegram poll --creator SLUG`: Telegram without a public URL, for development."""

from __future__ import annotations

import click

from config.cli.base import AppContext, fail, pass_app


@click.group("telegram")
def telegram_group() -> None:
    """Telegram tools."""


@telegram_group.command("poll")
@click.option("--creator", "slug", required=True, help="Slug of the creator.")
@click.option(
    "--binding", "binding_id", type=int, help="Which Telegram channel (default: the first)."
)
@pass_app
def poll_command(app: AppContext, slug: str, binding_id: int | None) -> None:
    """Fetch updates with getUpdates instead of a webhook (deletes the webhook; run
    `coachbot channel add telegram` again to set it back). Ctrl-C stops."""
    settings = app.start()
    import asyncio
    import contextlib

    from bots.http import ReplyDelivery
    from bots.telegram.client import make_bot
    from bots.telegram.inbound import TelegramInbound
    from bots.telegram.poll import poll
    from config.background import BackgroundTasks
    from config.wiring import build_database, build_engine, build_senders, secret_box
    from engine.channel_bindings import list_bindings
    from engine.creators import CreatorError, get_creator
    from engine.types import Channel

    async def run() -> None:
        db = build_database(settings)
        engine = build_engine(settings, db)
        senders = build_senders(settings, db)
        tasks = BackgroundTasks()
        try:
            async with db.sessions() as session:
                try:
                    creator = await get_creator(session, slug)
                except CreatorError as exc:
                    raise fail(str(exc)) from None
            bindings = [
                b
                for b in await list_bindings(db, secret_box(settings), creator.id)
                if b.channel is Channel.TELEGRAM
                and b.enabled
                and (binding_id is None or b.id == binding_id)
            ]
            if not bindings:
                raise fail(f"{slug} has no Telegram channel; `coachbot channel add telegram`")
            binding = bindings[0]
            client = make_bot(binding.secrets["token"], settings.telegram_api_url)
            inbound = TelegramInbound(engine, ReplyDelivery(engine, senders), tasks)
            click.echo(f"Polling {binding.name} for {slug}. Ctrl-C stops.")
            try:
                await poll(client.bot, binding, inbound, asyncio.Event())
            finally:
                await tasks.drain(settings.shutdown_timeout)
                await client.close()
        finally:
            await senders.close()
            await db.dispose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
