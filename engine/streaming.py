"""Streaming a language model's answer token by token to a channel that can show it (the web
widget), without the pipeline knowing about channels.

The channel sets a sink for the duration of a turn (`stream_to`); the answerer calls `invoke`
instead of the chain's `ainvoke`. Without a sink nothing changes. A context variable carries the
sink, so it reaches the answerer through the pipeline (and `asyncio.wait_for`, which copies the
context) without any parameter being threaded through.

What is streamed is a draft: the final reply (citations checked, or the grounded fallback after
a timeout, or the decline) is the message that is stored and sent, and replaces the draft. The
decline marker is never streamed: text is held back while it could still be that marker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

Sink = Callable[[str], Awaitable[None]]

_SINK: ContextVar[Sink | None] = ContextVar("coachbot_token_sink", default=None)


@contextmanager
def stream_to(sink: Sink) -> Iterator[None]:
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


async def invoke(chain: Any, inputs: Any, *, hold: str = "") -> str:
    """Run a LangChain runnable that yields text: streamed to the turn's sink if there is one.
    While the answer so far is a prefix of `hold` (the decline marker), nothing is sent."""
    sink = _SINK.get()
    if sink is None:
        return str(await chain.ainvoke(inputs))
    parts: list[str] = []
    held = True
    async for chunk in chain.astream(inputs):
        text = str(chunk)
        parts.append(text)
        if held:
            so_far = "".join(parts).lstrip()
            if so_far and hold.startswith(so_far):
                continue
            held, text = False, "".join(parts)
        if text:
            await sink(text)
    return "".join(parts)
