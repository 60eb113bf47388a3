"""Due work and proactive delivery through the real scheduler, jobs and outbox (SQLite and
PostgreSQL), with a programmable fake sender."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select, update

from engine.clock import ManualClock
from engine.db import Database
from engine.delivery import Ambiguous, PermanentFailure, RecipientBlocked, RetryLater
from engine.models import (
    ChannelBinding,
    ChannelIdentity,
    Creator,
    InboundReceipt,
    Message,
    Outbox,
    ScheduledWork,
)
from engine.pipeline import Engine
from engine.schedule import claim_due, schedule
from engine.scheduler import Scheduler
from engine.types import Channel
from programs import store
from tests.delivery.conftest import RecordingQueue
from tests.delivery.fakes import FakeSender
from tests.transcript import Chat

PROGRAM = """\
version: 1
slug: nudges
title: Nudges
steps:
  - message: Welcome
  - wait: 1h
  - message: One hour later
  - wait: next day at 09:00
  - message: Next morning
  - end: Bye
"""


async def join(
    engine: Engine, db: Database, binding: ChannelBinding, clock: ManualClock, *,
    channel: Channel = Channel.TELEGRAM, source: str = PROGRAM, user: str = "4242",
) -> Chat:  # fmt: skip
    async with db.transaction() as session:
        await store.publish(session, binding.creator_id, source, clock.now())
    chat = Chat(engine, binding.id, user_id=user, name="Sam", channel=channel)
    assert (await chat.say("/join nudges"))[0] == "Welcome"
    return chat


async def run(engine: Engine, queue: RecordingQueue, clock: ManualClock) -> None:
    """One scheduler pass and every job it (and its jobs) queued."""
    await Scheduler(engine.db, queue, clock).tick(housekeeping=False)
    await queue.run_all()


async def outbox_rows(db: Database) -> list[Outbox]:
    async with db.sessions() as session:
        return list((await session.scalars(select(Outbox).order_by(Outbox.id))).all())


async def test_a_wait_becomes_a_delivered_message_at_its_time(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    await join(engine, db, telegram, clock)
    await run(engine, queue, clock)
    assert sender.sent == []  # nothing is due yet
    clock.advance(timedelta(hours=1))
    await run(engine, queue, clock)
    assert [s.message.text for s in sender.sent] == ["One hour later"]
    assert sender.sent[0].recipient.external_user_id == "4242"
    clock.set(datetime(2026, 1, 6, 9, 0, tzinfo=clock.now().tzinfo))
    await run(engine, queue, clock)
    assert [s.message.text for s in sender.sent] == ["One hour later", "Next morning", "Bye"]
    rows = await outbox_rows(db)
    assert [(r.state, r.kind) for r in rows] == [("sent", "program")] * 3
    async with db.sessions() as session:
        statuses = (await session.scalars(
            select(Message.status).where(Message.route == "program").order_by(Message.id)
        )).all()  # fmt: skip
        work = (await session.scalars(select(ScheduledWork.state))).all()
    assert statuses == ["sent", "sent", "sent"]
    assert set(work) == {"done"}
    await run(engine, queue, clock)  # running again sends nothing twice
    assert len(sender.sent) == 3


async def test_quiet_hours_hold_a_nudge_until_morning(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    late = PROGRAM.replace("wait: 1h", "wait: at 22:30")
    await join(engine, db, telegram, clock, source=late)
    clock.set(datetime(2026, 1, 5, 22, 30, tzinfo=clock.now().tzinfo))
    await run(engine, queue, clock)
    assert sender.sent == []
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason) == ("pending", "quiet_hours")
    assert row.next_attempt_at == datetime(2026, 1, 6, 8, 0, tzinfo=clock.now().tzinfo)
    clock.set(row.next_attempt_at)
    await run(engine, queue, clock)
    assert [s.message.text for s in sender.sent] == ["One hour later"]


async def test_a_stale_delivery_job_does_not_send_a_row_that_waits(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    """A duplicate or old `deliver` job naming a row that waits for its ambiguous retry (RQ may
    run a job twice; a reaped batch may be queued again) must leave it waiting: sending it
    early would make the duplicate the wait is there to avoid more likely."""
    await join(engine, db, telegram, clock)
    clock.advance(timedelta(hours=1))
    sender.failures.append(Ambiguous("timed out after the request left"))
    await run(engine, queue, clock)
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason, row.ambiguous) == ("pending", "ambiguous_retry", True)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > clock.now()
    assert queue.runtime is not None
    await queue.runtime.run("deliver", [row.id])  # the stale job
    assert sender.sent == []
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason) == ("pending", "ambiguous_retry")
    clock.set(row.next_attempt_at)
    await queue.runtime.run("deliver", [row.id])  # due now: a job may take it
    assert [s.message.text for s in sender.sent] == ["One hour later"]


async def test_the_daily_cap_moves_program_messages_to_tomorrow(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    async with db.transaction() as session:
        await session.execute(update(Creator).values(daily_proactive_cap=1))
    two = PROGRAM.replace("wait: next day at 09:00", "wait: 2h")
    await join(engine, db, telegram, clock, source=two)
    clock.advance(timedelta(hours=1))
    await run(engine, queue, clock)
    clock.advance(timedelta(hours=2))
    await run(engine, queue, clock)
    assert [s.message.text for s in sender.sent] == ["One hour later"]
    deferred = [r for r in await outbox_rows(db) if r.state == "pending"]
    assert {r.reason for r in deferred} == {"daily_cap"}
    clock.set(datetime(2026, 1, 6, 8, 0, tzinfo=clock.now().tzinfo))
    await run(engine, queue, clock)
    assert [s.message.text for s in sender.sent][1:] == ["Next morning"]


async def test_nothing_proactive_after_stop(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    chat = await join(engine, db, telegram, clock)
    await chat.say("STOP")
    clock.advance(timedelta(hours=1))
    await run(engine, queue, clock)
    assert sender.sent == []
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason) == ("skipped", "opted_out")


async def test_whatsapp_outside_the_window_uses_a_template_or_skips(
    engine: Engine, db: Database, whatsapp: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    far = PROGRAM.replace("wait: 1h", "wait: 2 days at 10:00")
    await join(
        engine, db, whatsapp, clock, channel=Channel.WHATSAPP, source=far, user="whatsapp:+49151"
    )
    clock.set(datetime(2026, 1, 7, 10, 0, tzinfo=clock.now().tzinfo))
    await run(engine, queue, clock)
    (sent,) = sender.sent
    assert sent.template is not None
    assert sent.template.content_sid == "HXdefault"
    assert sent.template.variables == {"1": "Sam"}
    async with db.transaction() as session:  # without an approved template: skipped
        await session.execute(update(ChannelBinding).values(config={}))
    clock.set(datetime(2026, 1, 8, 9, 0, tzinfo=clock.now().tzinfo))
    await run(engine, queue, clock)
    assert len(sender.sent) == 1
    assert [(r.state, r.reason) for r in await outbox_rows(db)][-1] == ("skipped", "outside_window")


async def test_whatsapp_inside_the_window_sends_free_text(
    engine: Engine, db: Database, whatsapp: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    await join(engine, db, whatsapp, clock, channel=Channel.WHATSAPP, user="whatsapp:+49151")
    clock.advance(timedelta(hours=1))
    await run(engine, queue, clock)
    assert [(s.message.text, s.template) for s in sender.sent] == [("One hour later", None)]


async def test_provider_outcomes_each_have_their_policy(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    await join(engine, db, telegram, clock)
    clock.advance(timedelta(hours=1))
    sender.failures = [RetryLater("429 Too Many Requests", retry_after=30)]
    await run(engine, queue, clock)
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason, row.attempts) == ("pending", "retry", 1)
    assert row.next_attempt_at >= clock.now() + timedelta(seconds=30)
    clock.set(row.next_attempt_at)
    sender.failures = [Ambiguous("timed out after sending")]
    await run(engine, queue, clock)
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason, row.ambiguous) == ("pending", "ambiguous_retry", True)
    clock.set(row.next_attempt_at)
    sender.failures = [Ambiguous("timed out again")]
    await run(engine, queue, clock)
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason) == ("failed", "ambiguous_timeout")  # not retried blindly
    assert sender.sent == []


async def test_blocked_marks_the_identity_and_permanent_failures_fail(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    await join(engine, db, telegram, clock)
    clock.advance(timedelta(hours=1))
    sender.failures = [RecipientBlocked("Forbidden: bot was blocked by the user", code="403")]
    await run(engine, queue, clock)
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason) == ("failed", "blocked")
    async with db.sessions() as session:
        identity = (await session.scalars(select(ChannelIdentity))).one()
    assert identity.unreachable_at is not None
    clock.set(datetime(2026, 1, 6, 9, 0, tzinfo=clock.now().tzinfo))
    await run(engine, queue, clock)  # nowhere left to reach them
    assert {(r.state, r.reason) for r in (await outbox_rows(db))[1:]} == {
        ("skipped", "no_reachable_channel")
    }


async def test_a_permanent_failure_keeps_its_code(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    await join(engine, db, telegram, clock)
    clock.advance(timedelta(hours=1))
    sender.failures = [PermanentFailure("message is too long", code="21617")]
    await run(engine, queue, clock)
    (row,) = await outbox_rows(db)
    assert (row.state, row.reason, row.last_error) == ("failed", "21617", "message is too long")


async def test_the_reaper_returns_work_of_dead_workers(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    await join(engine, db, telegram, clock)
    clock.advance(timedelta(hours=1))
    scheduler = Scheduler(db, queue, clock)
    await scheduler.tick(housekeeping=False)  # claimed and queued, but the job is lost
    queue.jobs.clear()
    clock.advance(timedelta(minutes=6))
    stats = await scheduler.housekeeping()
    assert stats["released_work"] == 1
    await run(engine, queue, clock)
    assert [s.message.text for s in sender.sent] == ["One hour later"]
    async with db.transaction() as session:  # a worker that died while sending
        await session.execute(update(Outbox).values(state="sending", sending_at=clock.now()))
    clock.advance(timedelta(minutes=6))
    assert (await scheduler.housekeeping())["resent_ambiguous"] == 1
    (row,) = await outbox_rows(db)
    assert (row.state, row.ambiguous, row.reason) == ("pending", True, "worker_lost")


async def test_two_schedulers_never_claim_the_same_row(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock
) -> None:
    async with db.transaction() as session:
        for i in range(120):
            await schedule(
                session, key=f"test:{i}", kind="noop", creator_id=telegram.creator_id,
                due_at=clock.now() - timedelta(seconds=i),
            )  # fmt: skip
        assert not await schedule(
            session, key="test:0", kind="noop", creator_id=telegram.creator_id, due_at=clock.now()
        )  # same key: nothing added

    async def claimer() -> list[int]:
        claimed: list[int] = []
        for _ in range(10):
            async with db.transaction() as session:
                claimed += await claim_due(session, clock.now(), 7)
            await asyncio.sleep(0)
        return claimed

    results = await asyncio.gather(*(claimer() for _ in range(4)))
    everything = [work_id for claimed in results for work_id in claimed]
    assert len(everything) == len(set(everything)) == 120


async def test_a_restart_loses_nothing(
    db: Database, telegram: ChannelBinding, clock: ManualClock, sender: FakeSender
) -> None:
    """Everything lives in SQL: a new engine, runtime and scheduler (a restarted process)
    deliver the wake-up the old one scheduled."""
    from engine.ratelimit import LocalRateLimiter
    from engine.runtime import Runtime
    from tests.delivery.fakes import FakeSenders

    before = Engine(db, clock=clock)
    await join(before, db, telegram, clock)
    del before
    clock.advance(timedelta(hours=1, minutes=5))
    after = Engine(db, clock=clock)
    queue = RecordingQueue()
    queue.runtime = Runtime(
        after, FakeSenders({telegram.id: sender}), LocalRateLimiter(), queue=queue
    )
    await run(after, queue, clock)
    assert [s.message.text for s in sender.sent] == ["One hour later"]


async def test_an_unanswered_inbound_is_recovered_and_answered(
    engine: Engine, db: Database, telegram: ChannelBinding, clock: ManualClock,
    queue: RecordingQueue, sender: FakeSender,
) -> None:  # fmt: skip
    chat = Chat(engine, telegram.id, user_id="777", channel=Channel.TELEGRAM)
    receipt_id = await engine.claim(chat.inbound("/help"))  # the process died right after
    assert receipt_id is not None
    clock.advance(timedelta(minutes=3))
    stats = await Scheduler(db, queue, clock).housekeeping()
    assert stats["recovered_inbound"] == 1
    await queue.run_all()
    assert sender.sent[0].message.text.startswith("Here's what I can do")
    assert sender.sent[0].recipient.external_user_id == "777"
    async with db.sessions() as session:
        receipt = await session.get(InboundReceipt, receipt_id)
        assert receipt is not None
        assert receipt.status == "processed"
    assert [(r.kind, r.state) for r in await outbox_rows(db)] == [("reply", "sent")]
