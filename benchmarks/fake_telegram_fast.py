"""A minimal, fast fake of the Telegram Bot API for throughput benchmarks: answers getMe and
sendMessage like Telegram and counts sends. Run as its own process:

    python benchmarks/fake_telegram_fast.py PORT
"""

from __future__ import annotations

import itertools
import sys
import time

from aiohttp import web

_ids = itertools.count(1)
SENT = {"count": 0}


async def handle(request: web.Request) -> web.Response:
    method = request.match_info["method"]
    if method == "getMe":
        result: object = {"id": 123, "is_bot": True, "first_name": "bench", "username": "bench_bot"}
    elif method == "sendMessage":
        data = (
            await request.post()
            if request.content_type != "application/json"
            else await request.json()
        )
        SENT["count"] += 1
        result = {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": {"id": int(data["chat_id"]), "type": "private"},
            "text": data.get("text", ""),
        }
    else:
        result = True
    return web.json_response({"ok": True, "result": result})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(SENT)


def main() -> None:
    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_route("*", "/bot{token}/{method}", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
