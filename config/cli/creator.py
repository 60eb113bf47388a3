"""`coachbot creator …`: coaches' workspaces."""

from __future__ import annotations

import sys

import click

from config.cli.base import AppContext, fail, pass_app


@click.group("creator")
def creator_group() -> None:
    """Create and list creators (coaches)."""


@creator_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The coach's name, shown to coachees.")
@click.option("--email", required=True, help="Login email for the creator hub.")
@click.option("--bot-name", help="The bot's name (default: \"<name>'s coach bot\").")
@click.option("--timezone", default="UTC", show_default=True, help="Default IANA timezone.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@pass_app
def create(
    app: AppContext,
    slug: str,
    name: str,
    email: str,
    bot_name: str | None,
    timezone: str,
    password_stdin: bool,
) -> None:
    """Create the creator SLUG (lowercase letters, digits, hyphens). Asks for a password."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    app.start(quiet=True)

    async def work(db):  # type: ignore[no-untyped-def]
        from engine.clock import SystemClock
        from engine.creators import CreatorError, create_creator

        try:
            async with db.transaction() as session:
                creator = await create_creator(
                    session,
                    slug=slug,
                    name=name,
                    email=email,
                    password=password,
                    bot_name=bot_name,
                    timezone=timezone,
                    now=SystemClock().now(),
                )
                return creator.slug, creator.bot_name
        except CreatorError as exc:
            raise fail(str(exc)) from None

    created_slug, created_bot = app.run_with_db(work)
    click.echo(f"created creator {created_slug} (bot: {created_bot})")


@creator_group.command("list")
@pass_app
def list_(app: AppContext) -> None:
    """List creators."""
    app.start(quiet=True)

    async def work(db):  # type: ignore[no-untyped-def]
        from engine.creators import list_creators

        async with db.sessions() as session:
            return [(c.slug, c.name, c.email, c.bot_name) for c in await list_creators(session)]

    rows = app.run_with_db(work)
    if not rows:
        click.echo("no creators yet: `coachbot demo` makes one, `coachbot creator create` too")
        return
    headers = ("SLUG", "NAME", "EMAIL", "BOT")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(4)]
    for row in [headers, *rows]:
        click.echo("  ".join(f"{v:<{w}}" for v, w in zip(row, widths, strict=True)).rstrip())
