"""The widget's routes on the web app:

    GET  /widget.js                              the client (static, gzipped, cached briefly)
    GET  /widget/demo                            a sample host page with the demo widget
    GET  /widget/ws/{public_key}                 the WebSocket
    POST /widget/api/{public_key}/{action}       config, history, send, read, identify
    OPTIONS  (same)                              CORS preflight

The service behind them is built on the first request that needs it (reading the secret key off
the event loop), like the webhook adapters, so an app without widgets starts as fast as before.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Callable
from importlib import resources

from aiohttp import web

from bots.http import Spawner
from bots.web.api import WidgetApi
from bots.web.demo import demo_page, demo_widget
from bots.web.service import WidgetService
from bots.web.socket import WidgetSocket

SCRIPT_MAX_AGE = 300  # seconds: a new widget.js reaches embedders within minutes


def load_script() -> bytes:
    return (resources.files("bots.web") / "static" / "widget.js").read_bytes()


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an `Accept-Encoding` header allows gzip (`gzip`, `x-gzip` or `*`, not at q=0)."""
    allowed: dict[str, bool] = {}
    for item in accept_encoding.lower().split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            allowed[coding] = float(q) > 0
        except ValueError:
            allowed[coding] = False
    if "gzip" in allowed or "x-gzip" in allowed:
        return allowed.get("gzip", False) or allowed.get("x-gzip", False)
    return allowed.get("*", False)


class WidgetRoutes:
    def __init__(self, build: Callable[[], WidgetService], spawner: Spawner) -> None:
        self._build = build
        self.spawner = spawner
        self._service: WidgetService | None = None
        self._api: WidgetApi | None = None
        self._socket: WidgetSocket | None = None
        self._lock = asyncio.Lock()
        self._script = load_script()
        # Browsers get it gzipped (the size the README states), compressed once, here.
        self._gzipped = gzip.compress(self._script, compresslevel=9, mtime=0)
        digest = hashlib.sha256(self._script).hexdigest()[:16]
        self._etag, self._gzip_etag = f'"{digest}"', f'"{digest}-gz"'

    async def service(self) -> WidgetService:
        async with self._lock:
            if self._service is None:
                service = await asyncio.to_thread(self._build)
                if service.bridge is not None:
                    service.bridge.start()
                self._api = WidgetApi(service)
                self._socket = WidgetSocket(service, self.spawner)
                self._service = service
            return self._service

    async def script(self, request: web.Request) -> web.StreamResponse:
        zipped = accepts_gzip(request.headers.get("Accept-Encoding", ""))
        etag = self._gzip_etag if zipped else self._etag
        headers = {
            "Cache-Control": f"public, max-age={SCRIPT_MAX_AGE}",
            "ETag": etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        known = request.headers.get("If-None-Match", "")
        if etag in (tag.strip().removeprefix("W/") for tag in known.split(",")):
            return web.Response(status=304, headers=headers)
        if zipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(
            body=self._gzipped if zipped else self._script,
            content_type="text/javascript",
            charset="utf-8",
            headers=headers,
        )

    async def api(self, request: web.Request) -> web.StreamResponse:
        await self.service()
        assert self._api is not None
        return await self._api.handle(request)

    async def preflight(self, request: web.Request) -> web.StreamResponse:
        await self.service()
        assert self._api is not None
        return await self._api.preflight(request)

    async def socket(self, request: web.Request) -> web.StreamResponse:
        await self.service()
        assert self._socket is not None
        return await self._socket.handle(request)

    async def demo(self, request: web.Request) -> web.StreamResponse:
        service = await self.service()
        found = await demo_widget(service.db)
        key, origins = found if found is not None else (None, [])
        scheme = request.headers.get("X-Forwarded-Proto", request.scheme)  # behind a TLS proxy
        page = demo_page(key, f"{scheme}://{request.host}", origins)
        return web.Response(text=page, content_type="text/html")

    async def close_sockets(self) -> None:
        if self._service is not None:
            await self._service.close_sockets()

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()


WIDGET = web.AppKey("widget", WidgetRoutes)


def mount_widget(app: web.Application, routes: WidgetRoutes) -> None:
    app[WIDGET] = routes
    app.router.add_get("/widget.js", routes.script)
    app.router.add_get("/widget/demo", routes.demo)
    app.router.add_get("/widget/ws/{public_key}", routes.socket)
    app.router.add_post("/widget/api/{public_key}/{action}", routes.api)
    app.router.add_route("OPTIONS", "/widget/api/{public_key}/{action}", routes.preflight)
