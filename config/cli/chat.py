"""`coachbot chat`: talk to a creator's bot from the terminal, through the real pipeline."""

from __future__ import annotations

import asyncio
import sys

import click

from config.cli.base import AppContext, fail, pass_app


@click.command("chat")
@click.option("--creator", "slug", required=True, help="Slug of the creator whose bot to talk to.")
@click.option(
    "--as",
    "as_name",
    help="Who you are in this chat (default: your login name). Each name is its own coachee.",
)
@pass_app
def chat(app: AppContext, slug: str, as_name: str | None) -> None:
    """Chat with a creator's bot in the terminal. /quit (or Ctrl-D) leaves."""
    settings = app.start(log_file="chat.log")
    from bots.terminal import TerminalChannel, default_user, run_chat_loop
    from config.wiring import build_database, build_engine
    from engine.bindings import terminal_binding
    from engine.creators import CreatorError, get_creator

    user = as_name or default_user()
    with asyncio.Runner() as runner:
        db = build_database(settings)
        engine = build_engine(settings, db)

        async def prepare() -> tuple[int, str, str]:
            async with db.transaction() as session:
                creator = await get_creator(session, slug)
                binding = await terminal_binding(session, creator, engine.clock.now())
                return binding.id, creator.bot_name, creator.name

        try:
            binding_id, bot_name, coach = runner.run(prepare())
        except CreatorError as exc:
            runner.run(db.dispose())
            raise fail(str(exc)) from None
        channel = TerminalChannel(
            binding_id=binding_id,
            user_id=user,
            display_name=user,
            on_message=engine.handle,
            mark_sent=engine.mark_sent,
            fetch_proactive=engine.proactive_since,
            bot_name=bot_name,
            color=sys.stdout.isatty(),
        )
        click.echo(
            f"Chatting with {bot_name} ({coach}) as {user}. /help for commands, /quit to leave."
        )
        try:
            run_chat_loop(
                channel,
                runner=runner,
                history_file=settings.data_dir / "chat_history",
                out=sys.stdout,
            )
        finally:
            runner.run(db.dispose())
