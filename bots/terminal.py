"""The terminal channel behind `coachbot chat`: a person types lines, the real engine answers.

Like every adapter it only translates: a line becomes an InboundMessage, a Reply becomes printed
text. Choices are shown as a numbered list; typing the number (or the label) picks the choice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from engine.markup import to_ansi, to_plain
from engine.types import Channel, Choice, InboundMessage, OutboundMessage, Reply

OnMessage = Callable[[InboundMessage], Awaitable[Reply]]
MarkSent = Callable[[int, str | None], Awaitable[None]]
# (binding id, user id, after message id) → proactive messages to show: the terminal has no push,
# so what the scheduler delivered while the person was away is shown when they come back.
FetchProactive = Callable[[int, str, int | None], Awaitable[list[OutboundMessage]]]

QUIT_COMMANDS = frozenset({"/quit", "/exit"})


class TerminalChannel:
    def __init__(
        self,
        *,
        binding_id: int,
        user_id: str,
        display_name: str | None,
        on_message: OnMessage,
        mark_sent: MarkSent,
        bot_name: str,
        fetch_proactive: FetchProactive | None = None,
        color: bool = False,
    ) -> None:
        self.binding_id = binding_id
        self.user_id = user_id
        self.display_name = display_name
        self.on_message = on_message
        self.mark_sent = mark_sent
        self.bot_name = bot_name
        self.fetch_proactive = fetch_proactive
        self.last_proactive: int | None = None
        self.color = color
        self.session = uuid.uuid4().hex[:12]  # message ids must be unique across chat sessions
        self.counter = itertools.count(1)
        self.offered: tuple[Choice, ...] = ()

    def to_inbound(self, line: str) -> InboundMessage:
        text = line.strip()
        choice = self._picked_choice(text)
        return InboundMessage(
            channel=Channel.TERMINAL,
            binding_id=self.binding_id,
            external_user_id=self.user_id,
            external_message_id=f"{self.session}-{next(self.counter)}",
            text=choice.label if choice else text,
            choice_payload=choice.payload if choice else None,
            sender_name=self.display_name,
            raw={"line": line},
        )

    def _picked_choice(self, text: str) -> Choice | None:
        if not self.offered:
            return None
        if text.isdigit() and 1 <= int(text) <= len(self.offered):
            return self.offered[int(text) - 1]
        for choice in self.offered:
            if choice.label.casefold() == text.casefold():
                return choice
        return None

    def render(self, reply: Reply) -> str:
        blocks = []
        for message in reply.messages:
            body = to_ansi(message.text) if self.color else to_plain(message.text)
            lines = [f"{self.bot_name}: {body}"] if body else []
            for media in message.media:
                lines.append(f"  [{media.kind}] {media.url}")
            for number, choice in enumerate(message.choices, 1):
                lines.append(f"  {number}) {choice.label}")
            blocks.append("\n".join(lines))
        return "\n".join(b for b in blocks if b)

    async def arrived(self) -> str:
        """Proactive messages delivered since the person last looked (empty if none)."""
        if self.fetch_proactive is None:
            return ""
        messages = await self.fetch_proactive(self.binding_id, self.user_id, self.last_proactive)
        if not messages:
            return ""
        self.last_proactive = messages[-1].message_id
        self.offered = messages[-1].choices or self.offered
        return self.render(Reply(messages=tuple(messages)))

    async def exchange(self, line: str) -> str:
        """Send one line through the engine; return what the person sees."""
        reply = await self.on_message(self.to_inbound(line))
        offered: tuple[Choice, ...] = ()
        for message in reply.messages:
            offered = message.choices or offered
            if message.message_id is not None:
                await self.mark_sent(message.message_id, None)
        self.offered = offered
        return self.render(reply)


def run_chat_loop(
    channel: TerminalChannel,
    *,
    runner: asyncio.Runner,
    history_file: Path | None,
    out: TextIO,
    prompt: str = "you> ",
) -> None:
    """Read lines until /quit or end of input. input() stays on the main thread (readline and
    Ctrl-C behave); each turn runs on the caller's event loop."""
    readline = _setup_readline(history_file)
    # Piped input (scripts, tests): no prompt to wait on, but echo each line so the output reads
    # as a transcript.
    interactive = sys.stdin.isatty()
    first = True
    try:
        while True:
            news = runner.run(channel.arrived())
            if news:
                out.write(("While you were away:\n" if first else "") + news + "\n")
                out.flush()
            first = False
            try:
                line = input(prompt if interactive else "")
            except (EOFError, KeyboardInterrupt):
                if interactive:
                    out.write("\n")
                break
            if not interactive:
                out.write(f"{prompt}{line}\n")
            if line.strip().lower() in QUIT_COMMANDS:
                break
            if not line.strip():
                continue
            shown = runner.run(channel.exchange(line))
            if shown:
                out.write(shown + "\n")
                out.flush()
    finally:
        if readline is not None and history_file is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(str(history_file))


def _setup_readline(history_file: Path | None):  # type: ignore[no-untyped-def]
    try:
        import readline
    except ImportError:  # not on every platform; chat works without history then
        return None
    if history_file is not None and history_file.exists():
        with contextlib.suppress(OSError):
            readline.read_history_file(str(history_file))
    readline.set_history_length(1000)
    return readline


def default_user() -> str:
    for var in ("USER", "LOGNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    return "you"
