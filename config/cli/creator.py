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


@creator_group.command("set")
@click.argument("slug")
@click.option("--name", help="The coach's name.")
@click.option("--bot-name", help="The bot's name.")
@click.option("--timezone", help="Default IANA timezone of the creator's coachees.")
@click.option("--greeting", help="The /start greeting ({first_name}, {bot_name}, {coach_name}).")
@click.option("--crisis-message", help="Sent when a coachee states they may harm themselves.")
@click.option("--helpline", help="The helpline text sent with the crisis message.")
@click.option(
    "--quiet-hours",
    metavar="HH:MM-HH:MM|off",
    help="Local hours without proactive messages, e.g. 21:00-08:00, or off.",
)
@click.option(
    "--daily-cap", type=click.IntRange(0, 100), help="Proactive messages per contact per day."
)
@click.option(
    "--inactivity-days",
    type=click.IntRange(0, 365),
    help="Nudge contacts silent this many days (0: off).",
)
@click.option("--inactivity-message", help="The nudge ({first_name}, {bot_name}, {coach_name}).")
@click.option(
    "--streak-reminder-at",
    metavar="HH:MM|off",
    help="Local time to remind a streak that is about to break, or off.",
)
@click.option(
    "--opt-out-words",
    metavar="WORDS",
    help='Your own opt-out words, comma-separated, on top of STOP etc. (e.g. "pause coaching, '
    'unsubscribe me"); "" clears them.',
)
@click.option(
    "--opt-in-words",
    metavar="WORDS",
    help='Your own opt-in words, comma-separated, on top of START etc.; "" clears them.',
)
@pass_app
def set_(app: AppContext, /, slug: str, **changes: str | int | None) -> None:
    """Change a creator's persona and delivery policies."""
    updates: dict[str, str | int | None] = {k: v for k, v in changes.items() if v is not None}
    if not updates:
        raise fail("nothing to change: give at least one option (see --help)")
    quiet = updates.pop("quiet_hours", None)
    if quiet is not None:
        updates.update(_quiet_hours(str(quiet)))
    if "daily_cap" in updates:
        updates["daily_proactive_cap"] = updates.pop("daily_cap")
    if updates.get("inactivity_days") == 0:
        updates["inactivity_days"] = None
    if "streak_reminder_at" in updates:
        updates["streak_reminder_at"] = _local_time_or_off(str(updates["streak_reminder_at"]))
    app.start(quiet=True)

    async def work(db):  # type: ignore[no-untyped-def]
        from engine.creator_settings import check_program_keywords, keyword_lists
        from engine.creators import CreatorError, get_creator, validate_timezone

        async with db.transaction() as session:
            try:
                creator = await get_creator(session, slug)
                if "timezone" in updates:
                    validate_timezone(str(updates["timezone"]))
                words: dict[str, object] = {}
                if "opt_out_words" in updates or "opt_in_words" in updates:
                    # Each list is checked against the other, given or as stored.
                    outs, ins = keyword_lists(
                        str(updates.get("opt_out_words", ",".join(creator.opt_out_words))),
                        str(updates.get("opt_in_words", ",".join(creator.opt_in_words))),
                    )
                    lists = {"opt_out_words": outs, "opt_in_words": ins}
                    await check_program_keywords(session, creator.id, lists)
                    words = dict(lists)
            except CreatorError as exc:
                raise fail(str(exc)) from None
            for key, value in {**updates, **words}.items():
                setattr(creator, key, value)

    app.run_with_db(work)
    click.echo(f"updated {slug}: {', '.join(sorted(updates))}")


def _local_time_or_off(value: str) -> str | None:
    from datetime import time

    if value.strip().lower() == "off":
        return None
    try:
        return time.fromisoformat(value.strip()).strftime("%H:%M")
    except ValueError:
        raise fail(f"{value!r}: use HH:MM (e.g. 20:00) or off") from None


def _quiet_hours(value: str) -> dict[str, str]:
    from datetime import time

    if value.strip().lower() == "off":
        return {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"}
    start, sep, end = value.partition("-")
    try:
        parsed = [time.fromisoformat(part.strip()) for part in (start, end)] if sep else []
    except ValueError:
        parsed = []
    if len(parsed) != 2:
        raise fail(f"--quiet-hours {value!r}: use HH:MM-HH:MM (e.g. 21:00-08:00) or off")
    return {
        "quiet_hours_start": parsed[0].strftime("%H:%M"),
        "quiet_hours_end": parsed[1].strftime("%H:%M"),
    }
