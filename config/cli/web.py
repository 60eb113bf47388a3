"""`coachbot channel add web`: a web widget for a creator, and the copy-paste snippet; and the
demo creator's widget that `coachbot demo` sets up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from config.cli.base import AppContext, fail, pass_app

if TYPE_CHECKING:
    from config.settings import Settings
    from engine.db import Database
    from engine.models import Creator


@click.command("web")
@click.option("--creator", "slug", required=True, help="Slug of the creator.")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    help="A site allowed to embed the widget, e.g. https://example.com (repeat for more; exact "
    "match, no wildcards).",
)
@click.option("--name", help="Name in the widget's header (default: the creator's bot name).")
@click.option("--avatar", help="URL of the avatar image (default: the name's initial).")
@click.option("--color", help="Accent colour, e.g. #2563eb.")
@click.option("--greeting", help="First message shown (default: the creator's greeting).")
@click.option(
    "--position", type=click.Choice(["right", "left"]), default="right", show_default=True
)
@pass_app
def add_web(app: AppContext, /, slug: str, origins: tuple[str, ...], **look: Any) -> None:
    """Add a web widget and print the snippet to paste into the site's HTML."""
    settings = app.start(quiet=True)
    from bots.web.widgets import WidgetSettingsError, widget_config

    try:
        config = widget_config(origins=origins, **look)
    except WidgetSettingsError as exc:
        raise fail(str(exc)) from None

    async def work(db: Database) -> tuple[int, str, str]:
        from config.cli.channel import _creator

        creator = await _creator(db, slug)
        return await add_widget(settings, db, creator, config)

    binding_id, key, secret = app.run_with_db(work)
    echo_snippet(settings, binding_id, key, secret, config["origins"])


async def add_widget(
    settings: Settings, db: Database, creator: Creator, config: dict[str, Any]
) -> tuple[int, str, str]:
    from bots.web.widgets import WIDGET_SECRET, new_widget_secret
    from config.wiring import secret_box
    from engine.channel_bindings import add_binding
    from engine.clock import SystemClock
    from engine.types import Channel

    secret = new_widget_secret()
    binding = await add_binding(
        db,
        secret_box(settings),
        creator,
        Channel.WEB,
        name=f"Web widget ({', '.join(config['origins'])})"[:200],
        now=SystemClock().now(),
        config=config,
        secrets={WIDGET_SECRET: secret},
    )
    return binding.id, binding.public_key, secret


def echo_snippet(
    settings: Settings, binding_id: int, key: str, secret: str, origins: list[str]
) -> None:
    from bots.web.demo import identify_snippet, snippet

    click.echo(f"Added web widget {binding_id} for {', '.join(origins)}.")
    click.echo("Paste this into your site's HTML, before </body>:\n")
    click.echo("  " + snippet(settings.public_url, key) + "\n")
    click.echo("To sign your users in (same coachee on every device and channel), compute on")
    click.echo("your server hash = hex(HMAC-SHA256(widget secret, user id)) and call:\n")
    click.echo("  " + identify_snippet() + "\n")
    click.echo(f"Widget secret (keep it on your server; shown once): {secret}")


def demo_origins(public_url: str) -> list[str]:
    """The public URL's origin and, for a loopback URL, its other spelling (localhost or
    127.0.0.1), so the demo page works whichever a newcomer types."""
    from bots.web.widgets import normalize_origin

    origin = normalize_origin(public_url)
    parts = urlsplit(origin)
    swap = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(parts.hostname or "")
    if swap is None:
        return [origin]
    return sorted({origin, origin.replace(f"//{parts.hostname}", f"//{swap}", 1)})


async def ensure_demo_widget(settings: Settings, db: Database, creator: Creator) -> str:
    """The demo creator's widget for this deployment's own origin (its allowed origins follow
    COACHBOT_PUBLIC_URL on every run); returns its public key."""
    from bots.web.widgets import WIDGET_SECRET, new_widget_secret, widget_config
    from config.wiring import secret_box
    from engine.binding_changes import announce
    from engine.channel_bindings import list_bindings, update_binding
    from engine.types import Channel

    box = secret_box(settings)
    config = widget_config(origins=demo_origins(settings.public_url), color="#0f766e")
    config["demo"] = True  # the one `coachbot demo` manages; widgets added by hand stay as they are
    for binding in await list_bindings(db, box, creator.id):
        if binding.channel is Channel.WEB and binding.config.get("demo"):
            secret = binding.secrets.get(WIDGET_SECRET) or new_widget_secret()
            await update_binding(
                db, box, binding.id, config=config, secrets={WIDGET_SECRET: secret}, enabled=True
            )
            await announce(settings.redis_url)
            return binding.public_key
    return (await add_widget(settings, db, creator, config))[1]
