"""`coachbot demo`: a ready-to-talk-to demo creator, so a fresh install does something at once."""

from __future__ import annotations

import secrets

import click

from config.cli.base import AppContext, pass_app

DEMO_SLUG = "demo"
DEMO = {
    "name": "Maya Brooks",
    "email": "demo@coachbot.invalid",
    "bot_name": "Coach Maya",
    "timezone": "Europe/London",
    "persona": (
        "Warm, direct and practical. Maya is a running and wellbeing coach who helps busy people "
        "build small habits that stick: sleep, movement, and eating well. She keeps answers "
        "short, asks one question at a time and celebrates progress."
    ),
    "greeting": (
        "Hi{first_name_sp}! I'm **Coach Maya**, your running and wellbeing assistant. "
        "I'm here to help you build small habits that stick. Type /help to see what I can do."
    ),
}


@click.command("demo")
@pass_app
def demo(app: AppContext) -> None:
    """Create (or refresh) the demo creator "demo" with a coaching persona."""
    app.start(quiet=True)

    async def work(db):  # type: ignore[no-untyped-def]
        from sqlalchemy import select

        from engine.clock import SystemClock
        from engine.creators import create_creator
        from engine.models import Creator

        now = SystemClock().now()
        async with db.transaction() as session:
            creator = await session.scalar(select(Creator).where(Creator.slug == DEMO_SLUG))
            if creator is not None:
                for key in ("name", "bot_name", "persona", "greeting", "timezone"):
                    setattr(creator, key, DEMO[key])
                return None
            password = secrets.token_urlsafe(12)
            await create_creator(session, slug=DEMO_SLUG, password=password, now=now, **DEMO)
            return password

    password = app.run_with_db(work)
    documents, chunks = app.run_with_db(load_sample_knowledge(app))
    program, version = app.run_with_db(publish_sample_program)
    app.run_with_db(add_demo_widget(app))
    if password is None:
        click.echo("demo creator 'demo' already exists; its persona is refreshed.")
    else:
        click.echo(f"created demo creator 'demo' ({DEMO['bot_name']}).")
        click.echo(f"  hub login (when the hub lands): {DEMO['email']} / {password}")
    click.echo(f"  knowledge base: {documents} sample documents, {chunks} passages")
    click.echo(f"  program: {program} (version {version}); nobody is enrolled")
    demo_page = app.settings.public_url.rstrip("/") + "/widget/demo"
    click.echo(f"  web widget: {demo_page} (once `coachbot serve` runs)")
    click.echo("Try it:  coachbot chat --creator demo     (then /programs, /join, /skipwait)")
    click.echo(f"    or:  coachbot serve, then open {demo_page}")


def add_demo_widget(app: AppContext):  # type: ignore[no-untyped-def]
    """The demo coach's web widget, allowed on this deployment's own origin (/widget/demo)."""

    async def work(db):  # type: ignore[no-untyped-def]
        from config.cli.web import ensure_demo_widget
        from engine.creators import get_creator

        async with db.sessions() as session:
            creator = await get_creator(session, DEMO_SLUG)
        return await ensure_demo_widget(app.settings, db, creator)

    return work


DEMO_PROGRAM = "sleep-reset.yaml"


async def publish_sample_program(db):  # type: ignore[no-untyped-def]
    """Publish the 7-day sleep reset for the demo coach (unchanged on a second run)."""
    from importlib import resources

    from engine.clock import SystemClock
    from engine.creators import get_creator
    from programs.store import publish

    source = (resources.files("programs") / "examples" / DEMO_PROGRAM).read_text("utf-8")
    async with db.transaction() as session:
        creator = await get_creator(session, DEMO_SLUG)
        result = await publish(session, creator.id, source, SystemClock().now())
        return result.program.slug, result.version.version


def load_sample_knowledge(app: AppContext):  # type: ignore[no-untyped-def]
    """Index the sample coaching texts (sleep, running, habits, nutrition) for the demo coach;
    re-running finds them unchanged."""

    async def work(db):  # type: ignore[no-untyped-def]
        from importlib import resources

        from config.wiring import build_knowledge
        from engine.creators import get_creator

        async with db.sessions() as session:
            creator_id = (await get_creator(session, DEMO_SLUG)).id
        knowledge = build_knowledge(app.settings, db)
        try:
            samples = resources.files("knowledge") / "samples"
            results = [
                await knowledge.ingest(creator_id, item.name, item.read_bytes())
                for item in sorted(samples.iterdir(), key=lambda i: i.name)
                if item.name.endswith(".md")
            ]
        finally:
            knowledge.close()
        return len(results), sum(r.chunks for r in results)

    return work
