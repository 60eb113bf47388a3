"""A fake Ollama server on loopback speaking its wire format: POST /api/chat answered with
streaming NDJSON (one message chunk per line, then a final `done` line), as the real server does.
It records each request body, and can be told to stall to test timeouts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeOllama:
    reply: str = "Aim for seven to nine hours [1]."
    delay: float = 0.0  # seconds to stall before answering
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        model = body.get("model", "")
        words = self.reply.split(" ")
        for i, word in enumerate(words):
            piece = word if i == len(words) - 1 else word + " "
            line = {
                "model": model,
                "created_at": "2026-11-23T12:00:00.000000Z",
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            await response.write(json.dumps(line).encode() + b"\n")
        final = {
            "model": model,
            "created_at": "2026-11-23T12:00:00.100000Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 100_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": 200,
            "prompt_eval_duration": 50_000_000,
            "eval_count": len(words),
            "eval_duration": 40_000_000,
        }
        await response.write(json.dumps(final).encode() + b"\n")
        await response.write_eof()
        return response


@asynccontextmanager
async def fake_ollama(**options: Any) -> AsyncIterator[FakeOllama]:
    server = FakeOllama(**options)
    app = web.Application()
    app.router.add_post("/api/chat", server.chat)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
