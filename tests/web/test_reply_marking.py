"""A widget turn's replies are recorded as sent in one transaction, before any is published."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest
from sqlalchemy import select

from engine.channel_bindings import BindingInfo
from engine.clock import ManualClock
from engine.commands import Command
from engine.db import Database
from engine.models import Message
from engine.pipeline import Engine
from engine.routing import Turn
from engine.types import Reply
from tests.web.conftest import EXTRA_COMMANDS, AppClient, connect, new_token


async def two(turn: Turn, _args: str) -> Reply:
    return Reply.text("Thanks! Noted.", "How is your energy today?")


@pytest.fixture
def web_engine(db: Database, clock: ManualClock) -> Engine:
    return Engine(db, clock=clock, commands=(*EXTRA_COMMANDS, Command("two", "two messages", two)))


async def test_a_replys_messages_are_marked_sent_in_one_transaction_before_they_are_shown(
    client: AppClient, widget: BindingInfo, db: Database, web_engine: Engine
) -> None:
    """Like a program step's acknowledgement and next question: one UPDATE transaction
    records both as sent (not one per message), before the first is published."""
    calls: list[list[tuple[int, str | None]]] = []
    shown_when_marked: list[int] = []
    socket, _ = await connect(client, widget, await new_token(client, widget))
    original = web_engine.mark_sent_many

    async def spy(sent: Sequence[tuple[int, str | None]], at: datetime | None = None) -> None:
        shown_when_marked.append(
            sum(1 for f in socket.seen if f["type"] == "message" and f["message"]["dir"] == "out")
        )
        calls.append(list(sent))
        await original(sent, at)

    web_engine.mark_sent_many = spy  # type: ignore[method-assign]
    first, second = await socket.reply_to("msg-00000001", "/two")
    assert (first["text"], second["text"]) == ("Thanks! Noted.", "How is your energy today?")
    assert calls == [[(first["id"], f"web:{first['id']}"), (second["id"], f"web:{second['id']}")]]
    assert shown_when_marked == [0]
    async with db.sessions() as session:
        rows = (await session.scalars(select(Message).where(Message.direction == "out"))).all()
    assert sorted((m.id, m.status, m.provider_message_id) for m in rows) == [
        (first["id"], "sent", f"web:{first['id']}"),
        (second["id"], "sent", f"web:{second['id']}"),
    ]
