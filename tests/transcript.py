"""Conversations as transcripts (errbot's testbot, zulip's verify_dialog): send a line, expect
the reply.

    await chat.dialog('''
        > /help
        < Here's what I can do:...
        > STOP
        < Done. ...
    ''')

`>` lines are sent by the coachee; each following `<` line must match one reply message, in
order. `...` in an expected line matches any text (as doctest's ELLIPSIS); the comparison is on
the Markdown source with surrounding whitespace ignored.
"""

from __future__ import annotations

import itertools
import re
import textwrap

from engine.pipeline import Engine
from engine.types import Channel, InboundMessage, Reply

_ids = itertools.count(1)


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.strip().split("..."))
    return re.fullmatch(pattern, actual.strip(), flags=re.S) is not None


class Chat:
    """One coachee talking to the engine over one binding."""

    def __init__(
        self,
        engine: Engine,
        binding_id: int,
        user_id: str = "coachee-1",
        name: str | None = "Sam",
        channel: Channel = Channel.TERMINAL,
    ) -> None:
        self.engine = engine
        self.binding_id = binding_id
        self.user_id = user_id
        self.name = name
        self.channel = channel
        self.last: Reply | None = None

    def inbound(self, text: str | None, **fields: object) -> InboundMessage:
        return InboundMessage(
            channel=self.channel,
            binding_id=self.binding_id,
            external_user_id=self.user_id,
            external_message_id=str(fields.pop("external_message_id", f"m{next(_ids)}")),
            text=text,
            sender_name=self.name,
            received_at=self.engine.clock.now(),
            **fields,  # type: ignore[arg-type]
        )

    async def send(self, text: str | None, **fields: object) -> Reply:
        self.last = await self.engine.handle(self.inbound(text, **fields))
        if self.channel is not Channel.TERMINAL:  # as a webhook adapter does once it sent them
            sent = [(m.message_id, None) for m in self.last.messages if m.message_id]
            await self.engine.mark_sent_many(sent)
        return self.last

    async def say(self, text: str) -> list[str]:
        return (await self.send(text)).texts

    async def dialog(self, script: str) -> None:
        steps: list[tuple[str, list[str]]] = []
        for raw in textwrap.dedent(script).strip().splitlines():
            line = raw.rstrip()
            if not line.strip():
                continue
            marker, _, body = line.strip().partition(" ")
            if marker == ">":
                steps.append((body, []))
            elif marker == "<":
                if not steps:
                    raise ValueError("a transcript must start with a '>' line")
                steps[-1][1].append(body)
            else:
                raise ValueError(f"transcript lines start with '>' or '<': {line!r}")
        for said, expected in steps:
            got = await self.say(said)
            problem = f"after {said!r} expected {expected!r}, got {got!r}"
            assert len(got) == len(expected), problem
            for want, have in zip(expected, got, strict=True):
                assert matches(want, have), problem
