"""The widget's HTTP routes, all `POST /widget/api/{public_key}/<action>` with a JSON body, called
cross-origin by widget.js (CORS, answered for allowed origins only):

    config    → {widget, token, visitor, unread}   the look, and a visitor token (a new one
                                                    without Authorization)
    history   {before?, limit?} → {messages, unread, more}
    send      {id, text | choice} → {status, messages}   the fallback when the socket is down:
                                                    waits for the turn, returns its replies
    read      {up_to} → {unread}
    identify  {id, name?, hash} → {token, visitor}   403 for a wrong hash

The visitor token travels in `Authorization: Bearer …`, never in the URL. Every call checks the
exact `Origin` first (403 `origin_not_allowed`): a browser always sends it on these requests,
which are POSTs. Errors are `{"error": code, "message": …}`: 401 bad_token, 404 unknown_widget,
413 too_long, 429 rate_limited (with retry_after), 400 for a malformed body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from bots.web import frames, identify
from bots.web.service import WidgetService
from bots.web.tokens import Visitor, new_visitor_id
from bots.web.turns import RateLimited
from bots.web.widgets import Widget
from engine.pipeline import UnknownBindingError

log = logging.getLogger(__name__)

PREFLIGHT_MAX_AGE = "600"
Action = Callable[[Widget, Visitor | None, Mapping[str, Any], str], Awaitable[web.Response]]


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def _cors(response: web.StreamResponse, origin: str) -> web.StreamResponse:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    return response


def bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class WidgetApi:
    def __init__(self, service: WidgetService) -> None:
        self.service = service
        self.actions: dict[str, tuple[Action, bool]] = {  # action → (handler, needs a visitor)
            "config": (self.config, False),
            "history": (self.history, True),
            "send": (self.send, True),
            "read": (self.read, True),
            "identify": (self.identify, False),
        }

    async def preflight(self, request: web.Request) -> web.StreamResponse:
        widget = await self.service.widget(request.match_info["public_key"])
        origin = request.headers.get("Origin")
        if widget is None or origin is None or not widget.allows(origin):
            return web.Response(status=403)
        response = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return _cors(response, origin)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        entry = self.actions.get(request.match_info["action"])
        widget = await self.service.widget(request.match_info["public_key"])
        if entry is None or widget is None:
            return _error(404, "unknown_widget", "no such widget")
        origin = request.headers.get("Origin")
        if origin is None or not widget.allows(origin):
            log.warning(
                "widget call from a foreign origin", extra={"binding_id": widget.binding_id}
            )
            return _error(403, "origin_not_allowed", "this site may not use this widget")
        action, needs_visitor = entry
        return _cors(await self._run(request, widget, origin, action, needs_visitor), origin)

    async def _run(
        self, request: web.Request, widget: Widget, origin: str, action: Action, needs: bool
    ) -> web.Response:
        body = await request.read()
        try:
            data = frames.decode(body or b"{}")
        except frames.FrameError as exc:
            return _error(413 if exc.code == "too_large" else 400, exc.code, str(exc))
        token = bearer(request)
        visitor = self.service.visitor(widget, token) if token is not None else None
        if (needs or token is not None) and visitor is None:
            return _error(401, "bad_token", "unknown visitor: start a new one")
        try:
            return await action(widget, visitor, data, origin)
        except frames.FrameError as exc:
            status = {"too_long": 413, "too_large": 413}.get(exc.code, 400)
            return _error(status, exc.code, str(exc))
        except RateLimited as exc:
            return _error(429, "rate_limited", str(exc), retry_after=round(exc.retry_after, 1))
        except UnknownBindingError:
            return _error(404, "unknown_widget", "no such widget")

    async def config(
        self, widget: Widget, visitor: Visitor | None, data: Mapping[str, Any], origin: str
    ) -> web.Response:
        if visitor is None:  # a new anonymous visitor: nothing is stored until they write
            visitor = Visitor(new_visitor_id())
            unread = 0
        else:
            unread = await self.service.unread(widget, visitor)
        return web.json_response(
            {
                "widget": widget.look(),
                "token": self.service.token(widget, visitor),
                "visitor": visitor.id,
                "unread": unread,
            }
        )

    async def history(
        self, widget: Widget, visitor: Visitor | None, data: Mapping[str, Any], origin: str
    ) -> web.Response:
        assert visitor is not None
        before, limit = data.get("before"), data.get("limit", 50)
        if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
            raise frames.FrameError("bad_frame", "before is a message id")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise frames.FrameError("bad_frame", "limit is a number")
        inbox = await self.service.inbox(widget, visitor, before=before, limit=limit)
        return web.json_response(
            {"messages": inbox.messages, "unread": inbox.unread, "more": inbox.more}
        )

    async def send(
        self, widget: Widget, visitor: Visitor | None, data: Mapping[str, Any], origin: str
    ) -> web.Response:
        assert visitor is not None
        send = frames.parse_send(data)
        locale = data.get("locale") if isinstance(data.get("locale"), str) else None
        receipt_id = await self.service.take(widget, visitor, send, locale)
        if receipt_id is None:
            return web.json_response({"status": "duplicate", "messages": []})
        shown = await self.service.turns.run(
            receipt_id, widget.binding_id, visitor.id, send.client_id
        )
        return web.json_response({"status": "ok", "messages": shown})

    async def read(
        self, widget: Widget, visitor: Visitor | None, data: Mapping[str, Any], origin: str
    ) -> web.Response:
        assert visitor is not None
        await self.service.read(widget, visitor, frames.parse_read(data).up_to)
        unread = await self.service.unread(widget, visitor)
        return web.json_response({"unread": unread})

    async def identify(
        self, widget: Widget, visitor: Visitor | None, data: Mapping[str, Any], origin: str
    ) -> web.Response:
        user_id, given = data.get("id"), data.get("hash")
        if not identify.verify(widget, user_id, given):
            log.warning("widget identify refused", extra={"binding_id": widget.binding_id})
            return _error(403, "identify_rejected", "the hash does not match this user id")
        assert isinstance(user_id, str)
        current = visitor.id if visitor is not None else None
        name = identify.clean_name(data.get("name"))
        now = self.service.engine.clock.now()
        joined = await identify.join(self.service.db, widget, current, user_id, name, now)
        identified = Visitor(joined, widget.secret_id())
        return web.json_response(
            {"token": self.service.token(widget, identified), "visitor": identified.id}
        )
