"""What a `serve` process that dies after a turn leaves behind, found by the fault run
(tests/scale/test_fault_run.py): the turn committed its reply, and the process died before (or
while) sending it. The scheduler's housekeeping hands such replies to the outbox, marked
ambiguous (the send may have left), and recovers unanswered inbound after COACHBOT_REAP_AFTER
when that is shorter than the two minutes it waits by default."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelBinding, Message, Outbox
from engine.pipeline import Engine
from engine.scheduler import Scheduler
from engine.types import Channel
from tests.delivery.conftest import RecordingQueue
from tests.delivery.fakes import FakeSender
from tests.transcript import Chat


async def outbox_rows(db: Database) -> list[Outbox]:
    async with db.sessions() as session:
        return list((await session.scalars(select(Outbox).order_by(Outbox.id))).all())


async def test_a_reply_stored_but_never_sent_goes_out_through_the_outbox_marked_ambiguous(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    chat = Chat(engine, telegram.id, user_id="777", channel=Channel.TELEGRAM)
    reply = await engine.handle(chat.inbound("/help"))  # the turn committed; then the crash
    assert reply.messages
    sent = Chat(engine, telegram.id, user_id="888", channel=Channel.TELEGRAM)
    answered = await engine.handle(sent.inbound("/help"))  # this one went out as usual
    await engine.mark_sent_many([(m.message_id or 0, "tg-1") for m in answered.messages])

    scheduler = Scheduler(db, queue, clock)
    clock.advance(timedelta(seconds=30))  # a reply still being sent is left alone
    assert (await scheduler.housekeeping())["stranded_replies"] == 0
    clock.advance(timedelta(minutes=2))
    assert (await scheduler.housekeeping())["stranded_replies"] == len(reply.messages)
    assert (await scheduler.housekeeping())["stranded_replies"] == 0  # adopted once
    await scheduler.tick(housekeeping=False)
    await queue.run_all()

    assert [s.recipient.external_user_id for s in sender.sent] == ["777"] * len(reply.messages)
    assert sender.sent[0].message.text.startswith("Here's what I can do")
    rows = await outbox_rows(db)
    assert [(r.kind, r.state, r.ambiguous) for r in rows] == [("reply", "sent", True)] * len(
        reply.messages
    )
    async with db.sessions() as session:
        statuses = set(
            (
                await session.scalars(
                    select(Message.status).where(
                        Message.direction == "out", Message.reply_to_id.is_not(None)
                    )
                )
            ).all()
        )
    assert statuses == {"sent"}


async def test_terminal_replies_are_not_adopted(
    chat: Chat, db: Database, clock: ManualClock, queue: RecordingQueue
) -> None:
    await chat.engine.handle(chat.inbound("/help"))  # the terminal shows replies in the turn
    clock.advance(timedelta(hours=1))
    assert (await Scheduler(db, queue, clock).housekeeping())["stranded_replies"] == 0
    assert await outbox_rows(db) == []


async def test_an_unanswered_inbound_is_recovered_after_reap_after_when_shorter(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    chat = Chat(engine, telegram.id, user_id="777", channel=Channel.TELEGRAM)
    assert await engine.claim(chat.inbound("/help")) is not None  # the process died here
    scheduler = Scheduler(db, queue, clock, reap_after=timedelta(seconds=10))
    clock.advance(timedelta(seconds=5))
    assert (await scheduler.housekeeping())["recovered_inbound"] == 0
    clock.advance(timedelta(seconds=6))
    assert (await scheduler.housekeeping())["recovered_inbound"] == 1
    await queue.run_all()
    assert sender.sent[0].message.text.startswith("Here's what I can do")
