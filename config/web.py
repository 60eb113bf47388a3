"""The aiohttp application `coachbot serve` runs: operational endpoints now; channel webhooks, the
widget and the creator hub mount their routes here as they land.

- /healthz: the process is alive (no dependencies checked).
- /readyz: ready for traffic: the database answers, Redis too when configured; 503 otherwise and
  while shutting down, so a load balancer drains this process first.
- /metrics: Prometheus text format.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import select

from config.channel_routes import mount_channels
from config.hub import mount_hub
from config.loop_lag import loop_lag
from config.settings import Settings
from engine.db import Database
from engine.models import Creator
from engine.pipeline import Engine

log = logging.getLogger("coachbot.http")

READY_CHECK_TIMEOUT = 3.0


class RedisLike(Protocol):
    def ping(self) -> Any: ...  # redis-py returns an awaitable from a plain def
    async def aclose(self) -> None: ...


SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
ENGINE = web.AppKey("engine", Engine)
REDIS: web.AppKey[RedisLike | None] = web.AppKey("redis")
STOPPING = web.AppKey("stopping", asyncio.Event)

HTTP_REQUESTS = Counter(
    "coachbot_http_requests_total", "HTTP requests by route and status.", ["route", "status"]
)
HTTP_SECONDS = Histogram("coachbot_http_request_seconds", "HTTP request latency.", ["route"])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def _route_name(request: web.Request) -> str:
    # The route template, not the raw path, keeps metric labels bounded.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        HTTP_REQUESTS.labels(route=route, status=str(status)).inc()
        HTTP_SECONDS.labels(route=route).observe(elapsed)
        log.log(
            logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={"status": status, "duration_ms": round(elapsed * 1000, 1)},
        )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, str] = {}
    if app[STOPPING].is_set():
        checks["process"] = "shutting down"
    try:
        await asyncio.wait_for(app[DATABASE].ping(), READY_CHECK_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    redis = app[REDIS]
    if redis is not None:
        try:
            await asyncio.wait_for(redis.ping(), READY_CHECK_TIMEOUT)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for k, v in checks.items() if k != "process") and "process" not in checks
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def index(request: web.Request) -> web.Response:
    """A plain status page, so that opening the server in a browser shows something useful."""
    async with request.app[DATABASE].sessions() as session:
        creators = (await session.scalars(select(Creator).order_by(Creator.slug))).all()
    rows = (
        "".join(
            f"<li><b>{html.escape(c.bot_name)}</b> — {html.escape(c.name)} "
            f"(<code>{html.escape(c.slug)}</code>)</li>"
            for c in creators
        )
        or "<li>No creators yet: run <code>coachbot demo</code>.</li>"
    )
    page = (
        "<!doctype html><meta charset=utf-8><title>coachbot</title>"
        "<body style='font-family:system-ui;max-width:40rem;margin:3rem auto'>"
        "<h1>coachbot is running</h1><h2>Creators</h2><ul>" + rows + "</ul>"
        "<p><a href=/hub/>Open the creator hub</a>: sign up or sign in to manage your bot.</p>"
        "<p>Talk to a bot from a terminal: <code>coachbot chat --creator SLUG</code></p>"
        "<p><a href=/healthz>/healthz</a> · <a href=/readyz>/readyz</a> · "
        "<a href=/metrics>/metrics</a></p></body>"
    )
    return web.Response(text=page, content_type="text/html")


async def hear_binding_changes(redis_url: str, _app: web.Application) -> AsyncIterator[None]:
    """Scaled mode: a channel another process switched off, re-keyed or turned back on is
    looked up again by this one's webhooks and engine at once."""
    from engine.binding_changes import listen

    listener = listen(redis_url)
    listener.start()
    yield
    await listener.close()


def create_app(
    settings: Settings, db: Database, engine: Engine, redis: RedisLike | None = None
) -> web.Application:
    app = web.Application(middlewares=[observe], client_max_size=1024**2)
    app[SETTINGS] = settings
    app[DATABASE] = db
    app[ENGINE] = engine
    app[REDIS] = redis
    app[STOPPING] = asyncio.Event()
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    mount_channels(app, settings, db, engine)
    mount_hub(app, settings, db, engine)
    app.cleanup_ctx.append(loop_lag)
    if settings.redis_url:
        app.cleanup_ctx.append(partial(hear_binding_changes, settings.redis_url))

    async def on_shutdown(app: web.Application) -> None:
        app[STOPPING].set()
        log.info("shutting down: finishing requests in flight")

    async def on_cleanup(app: web.Application) -> None:
        redis = app[REDIS]
        if redis is not None:
            await redis.aclose()
        await app[DATABASE].dispose()

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
