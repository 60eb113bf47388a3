"""`coachbot serve`: the web process (webhooks, widget, hub; now the operational endpoints)."""

from __future__ import annotations

import click

from config.cli.base import AppContext, pass_app


@click.command("serve")
@click.option("--host", help="Interface to listen on (default: COACHBOT_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default: COACHBOT_PORT, 8080).")
@pass_app
def serve(app: AppContext, host: str | None, port: int | None) -> None:
    """Run the web server until interrupted (SIGINT/SIGTERM stop it gracefully)."""
    app.overrides.update(host=host, port=port)
    settings = app.start()
    import logging

    from aiohttp import web

    from config.settings import mask_url
    from config.web import create_app
    from config.wiring import build_database, build_engine

    async def make_app() -> web.Application:
        redis = None
        if settings.redis_url:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        db = build_database(settings)
        engine = build_engine(settings, db)
        app = create_app(settings, db, engine, redis)
        if redis is None:  # embedded mode: this process is also the scheduler and the worker
            from config.runtime import build_embedded_background

            background = build_embedded_background(settings, engine)

            async def start_background(_app: web.Application) -> None:
                await background.start()

            async def stop_background(_app: web.Application) -> None:
                await background.close(settings.shutdown_timeout)

            app.on_startup.append(start_background)
            app.on_shutdown.append(stop_background)
        return app

    mode = "scaled" if settings.redis_url else "embedded"
    logging.getLogger("coachbot").info(
        "starting coachbot serve",
        extra={
            "url": f"http://{settings.host}:{settings.port}",
            "mode": mode,
            "database": mask_url(settings.effective_database_url),
        },
    )
    web.run_app(
        make_app(),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.shutdown_timeout,
        access_log=None,
        print=lambda _msg: click.echo(
            f"coachbot serving on http://{settings.host}:{settings.port} ({mode} mode). "
            "Ctrl-C stops it."
        ),
    )
