"""`coachbot config show`: the effective settings, secrets masked."""

from __future__ import annotations

import click

from config.cli.base import AppContext, pass_app


@click.group("config")
def config_group() -> None:
    """Inspect settings."""


@config_group.command("show")
@click.option("--help-text/--no-help-text", default=False, help="Also print each setting's help.")
@pass_app
def show(app: AppContext, help_text: bool) -> None:
    """Print every setting's effective value (secrets masked) and where unknown COACHBOT_*
    variables were found."""
    from config.settings import describe, unknown_env_vars

    rows = describe(app.settings)
    width = max(len(name) for name, _, _ in rows)
    for name, value, help_ in rows:
        click.echo(f"{name:<{width}}  {value}")
        if help_text:
            click.echo(click.wrap_text(help_, initial_indent="    ", subsequent_indent="    "))
    if app.config_file:
        click.echo(f"\n(config file: {app.config_file})")
    for unknown in unknown_env_vars():
        click.echo(f"warning: {unknown} is set but is not a coachbot setting", err=True)
