"""Fake Telegram and Twilio APIs for the load generator, inside its own process: every reply
the bots send is recorded and wakes the simulated coachee waiting for it, so latency is measured
end to end (webhook sent → reply received by the provider). Widget visitors use the same
`Replies` bookkeeping for the reply frames their WebSocket receives."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Waiter:
    expected: int
    received: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None


class Replies:
    """Replies per recipient, waking the simulated coachee waiting for them. Replies beyond what
    the waiter expected (a message split in parts, a late nudge) are counted as `extra`."""

    def __init__(self) -> None:
        self.waiters: dict[str, Waiter] = {}
        self.total = 0
        self.extra = 0

    def expect(self, recipient: str, replies: int) -> Waiter:
        waiter = Waiter(replies)
        self.waiters[recipient] = waiter
        return waiter

    def arrived(self, recipient: str) -> None:
        self.total += 1
        waiter = self.waiters.get(recipient)
        if waiter is None or waiter.received >= waiter.expected:
            self.extra += 1
            return
        waiter.received += 1
        if waiter.received >= waiter.expected:
            waiter.done.set()

    def failed(self, recipient: str, error: str) -> None:
        waiter = self.waiters.get(recipient)
        if waiter is not None and not waiter.done.is_set():
            waiter.error = error
            waiter.done.set()


class Providers(Replies):
    """One aiohttp app answering the Bot API (/bot<token>/<method>) and Twilio's Messages.json,
    keyed by recipient: a Telegram chat id or a WhatsApp number."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.app = web.Application()
        self.app.router.add_route("*", "/bot{token}/{method}", self._telegram)
        self.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio)
        self._runner: web.AppRunner | None = None

    async def start(self, port: int) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _telegram(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method != "sendMessage":
            result: object = True
            if method == "getMe":
                result = {"id": 1, "is_bot": True, "first_name": "load", "username": "load_bot"}
            return web.json_response({"ok": True, "result": result})
        data = await request.post()
        chat = str(data["chat_id"])
        self.arrived(chat)
        return web.json_response(
            {
                "ok": True,
                "result": {
                    "message_id": next(self._ids),
                    "date": int(time.time()),
                    "chat": {"id": int(chat), "type": "private"},
                    "text": str(data.get("text", "")),
                },
            }
        )

    async def _twilio(self, request: web.Request) -> web.Response:
        form = await request.post()
        to = str(form["To"])
        self.arrived(to)
        sid = request.match_info["sid"]
        message_sid = f"SM{next(self._ids):032x}"
        return web.json_response(
            {
                "sid": message_sid,
                "account_sid": sid,
                "to": to,
                "from": str(form.get("From", "")),
                "body": str(form.get("Body", "")),
                "status": "queued",
                "num_media": "0",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "date_created": None,
                "date_sent": None,
                "date_updated": None,
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
            },
            status=201,
        )
