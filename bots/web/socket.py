"""`GET /widget/ws/{public_key}`: the widget's WebSocket.

The handshake is refused (403, before any upgrade) unless `Origin` is one of the widget's allowed
origins. The first frame must be `hello` with the visitor token (never in the URL); a missing or
bad token closes the socket with 4401, and widget.js then asks for a new visitor. Then the
socket joins the process's hub and gets `ready`: the visitor id, the unread count and the latest
history. A frame the server cannot use gets an error frame, never a dropped connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSMsgType, web

from bots.http import Spawner
from bots.web import frames
from bots.web.hub import Connection
from bots.web.service import WidgetService
from bots.web.tokens import Visitor
from bots.web.turns import RateLimited
from bots.web.widgets import Widget
from engine.pipeline import UnknownBindingError

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0
HEARTBEAT = 30.0
BAD_TOKEN = 4401
GONE = 4404
TOO_SLOW = 4429


class WidgetSocket:
    def __init__(self, service: WidgetService, spawner: Spawner) -> None:
        self.service = service
        self.spawner = spawner

    async def handle(self, request: web.Request) -> web.StreamResponse:
        widget = await self.service.widget(request.match_info["public_key"])
        if widget is None:
            return web.json_response({"error": "unknown_widget"}, status=404)
        if not widget.allows(request.headers.get("Origin")):
            log.warning(
                "widget socket from a foreign origin", extra={"binding_id": widget.binding_id}
            )
            return web.json_response({"error": "origin_not_allowed"}, status=403)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=frames.MAX_FRAME_BYTES)
        await ws.prepare(request)
        self.service.sockets.add(ws)
        try:
            hello = await self._hello(ws)
            visitor = self.service.visitor(widget, hello.token) if hello else None
            if hello is None or visitor is None:
                await ws.send_json(
                    {"type": "error", "code": "bad_token", "message": "unknown visitor"}
                )
                await ws.close(code=BAD_TOKEN, message=b"bad token")
                return ws
            await self._serve(ws, widget, visitor, hello.locale)
        finally:
            self.service.sockets.discard(ws)
        return ws

    async def _hello(self, ws: web.WebSocketResponse) -> frames.Hello | None:
        try:
            message = await ws.receive(timeout=HELLO_TIMEOUT)
        except TimeoutError:
            return None
        if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return None
        try:
            frame = frames.parse_frame(message.data)
        except frames.FrameError:
            return None
        return frame if isinstance(frame, frames.Hello) else None

    async def _serve(
        self, ws: web.WebSocketResponse, widget: Widget, visitor: Visitor, locale: str | None
    ) -> None:
        hub, binding_id = self.service.hub, widget.binding_id

        def overflow() -> None:
            self.spawner.spawn(_close(ws, TOO_SLOW), name="web-socket-overflow")

        connection = Connection(on_overflow=overflow)
        hub.add(binding_id, visitor.id, connection)  # first, so nothing sent meanwhile is missed
        writer = asyncio.get_running_loop().create_task(_pump(ws, connection))
        try:
            inbox = await self.service.inbox(widget, visitor)
            connection.push(
                {
                    "type": "ready",
                    "visitor": visitor.id,
                    "unread": inbox.unread,
                    "messages": inbox.messages,
                    "more": inbox.more,
                }
            )
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    await self._frame(widget, visitor, locale, message.data, connection)
                except UnknownBindingError:  # the widget was removed meanwhile
                    await ws.close(code=GONE, message=b"widget removed")
                except Exception:
                    log.exception("widget frame failed", extra={"binding_id": binding_id})
                    connection.push(
                        {"type": "error", "code": "server_error", "message": "please try again"}
                    )
        finally:
            hub.remove(binding_id, visitor.id, connection)
            connection.end()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _frame(
        self,
        widget: Widget,
        visitor: Visitor,
        locale: str | None,
        raw: str | bytes,
        connection: Connection,
    ) -> None:
        try:
            frame = frames.parse_frame(raw)
        except frames.FrameError as exc:
            connection.push(exc.frame())
            return
        if isinstance(frame, frames.Ping):
            connection.push({"type": "pong"})
        elif isinstance(frame, frames.Read):
            await self.service.read(widget, visitor, frame.up_to)
        elif isinstance(frame, frames.Send):
            try:
                receipt_id = await self.service.take(widget, visitor, frame, locale)
            except RateLimited as exc:
                connection.push(_rate_limited(exc, frame.client_id))
                return
            status = "duplicate" if receipt_id is None else "ok"
            connection.push({"type": "ack", "id": frame.client_id, "status": status})
            if receipt_id is not None:
                turn = self.service.turns.run(
                    receipt_id, widget.binding_id, visitor.id, frame.client_id
                )
                self.spawner.spawn(_quiet(turn), name=f"web-turn-{receipt_id}")


def _rate_limited(exc: RateLimited, client_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "code": "rate_limited",
        "id": client_id,
        "message": str(exc),
        "retry_after": round(exc.retry_after, 1),
    }


async def _quiet(turn: Any) -> None:
    await turn  # the reply frames went to the visitor's sockets; the list is for HTTP callers


async def _pump(ws: web.WebSocketResponse, connection: Connection) -> None:
    while (frame := await connection.queue.get()) is not None:
        if ws.closed:
            return
        try:
            await ws.send_json(frame)
        except (ConnectionError, RuntimeError):  # closed under us: the history has it all
            return


async def _close(ws: web.WebSocketResponse, code: int) -> None:
    await ws.close(code=code, message=b"too slow")
