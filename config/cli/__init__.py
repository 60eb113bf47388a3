"""`coachbot`: the command line. Only click and the stdlib are imported here so that `--help` is
instant; each command imports what it needs when it runs."""

from __future__ import annotations

import click

from config.cli.ask import ask
from config.cli.background import scheduler, worker
from config.cli.base import AppContext
from config.cli.channel import channel_group
from config.cli.chat import chat
from config.cli.config_cmd import config_group
from config.cli.creator import creator_group
from config.cli.db import db_group
from config.cli.demo import demo
from config.cli.kb import kb_group
from config.cli.program import enroll, program_group
from config.cli.serve import serve
from config.cli.telegram import telegram_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="COACHBOT_CONFIG",
    help="TOML file with settings (keys are setting names, e.g. database_url). "
    "COACHBOT_* environment variables override it.",
)
@click.version_option(package_name="coachbot")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """coachbot: coaching bots on WhatsApp, Telegram and the web, grounded in the coach's own
    material, running multi-day programs for each coachee in their own timezone.

    Start with `coachbot demo`, then `coachbot chat --creator demo` or `coachbot serve`.
    """
    ctx.obj = AppContext(config_file=config_file)


main.add_command(ask)
main.add_command(channel_group)
main.add_command(chat)
main.add_command(config_group)
main.add_command(creator_group)
main.add_command(db_group)
main.add_command(demo)
main.add_command(kb_group)
main.add_command(enroll)
main.add_command(program_group)
main.add_command(scheduler)
main.add_command(serve)
main.add_command(telegram_group)
main.add_command(worker)
