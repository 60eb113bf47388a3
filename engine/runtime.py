"""What background jobs run with, and the jobs themselves: handle due work, deliver outbox rows,
and recover inbound messages whose turn never finished (a crash between claim and reply)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from engine import outbox
from engine.clock import Clock
from engine.db import Database
from engine.deliver import Deliverer
from engine.delivery import SenderFactory
from engine.dispatch import HANDLERS
from engine.jobs import JobName, JobQueue, chunks
from engine.models import Contact, Message, ScheduledWork
from engine.pipeline import Engine
from engine.ratelimit import RateLimiter
from engine.schedule import finish

log = logging.getLogger(__name__)

MAX_HANDLER_ATTEMPTS = 5
DELIVERY_BATCH = 200


class Runtime:
    def __init__(
        self,
        engine: Engine,
        senders: SenderFactory,
        limiter: RateLimiter,
        *,
        queue: JobQueue | None = None,
        rate_scale: float = 1.0,
        ambiguous_retry_after: timedelta = timedelta(minutes=1),
    ) -> None:
        self.engine = engine
        self.db: Database = engine.db
        self.clock: Clock = engine.clock
        self.queue = queue
        self.senders = senders
        self.deliverer = Deliverer(
            self.db,
            senders,
            self.clock,
            limiter,
            rate_scale=rate_scale,
            ambiguous_retry_after=ambiguous_retry_after,
        )

    async def close(self) -> None:
        """Close what the senders opened (HTTP connection pools)."""
        close = getattr(self.senders, "close", None)
        if close is not None:
            await close()

    async def run(self, job: JobName, ids: list[int]) -> object:
        if job == "run_due":
            return await self.run_due(ids)
        if job == "deliver":
            return (await self.deliverer.deliver(ids)).outcomes
        if job == "index_documents":
            from knowledge import jobs as knowledge_jobs

            return await knowledge_jobs.index_documents(ids)
        return await self.recover_inbound(ids)

    async def run_due(self, ids: Sequence[int]) -> Counter[str]:
        """Handle claimed scheduled work, one row per transaction, then hand the outbox rows it
        produced to delivery."""
        results: Counter[str] = Counter()
        new_outbox: list[int] = []
        for work_id in ids:
            now = self.clock.now()
            try:
                async with self.db.transaction() as session:
                    work = await session.get(ScheduledWork, work_id, with_for_update=True)
                    if work is None or work.state != "claimed":
                        results["skipped"] += 1
                        continue
                    handler = HANDLERS.get(work.kind)
                    if handler is None:
                        await finish(session, [work.id], now, f"unknown kind {work.kind!r}")
                        results["unknown"] += 1
                        continue
                    summary, created = await handler(session, work, now)
                    await finish(session, [work.id], now, summary)
                    new_outbox += created
                    results["done"] += 1
            except Exception as exc:
                log.exception("scheduled work failed", extra={"work_id": work_id})
                await self._after_failure(work_id, repr(exc))
                results["error"] += 1
        await self._hand_to_delivery(new_outbox)
        return results

    async def _after_failure(self, work_id: int, error: str) -> None:
        """A handler that raised: retried by the reaper later, given up after a few tries."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            work = await session.get(ScheduledWork, work_id)
            if work is None:
                return
            if work.attempts >= MAX_HANDLER_ATTEMPTS:
                await finish(session, [work_id], now, f"gave up: {error}")
            else:
                work.result = error[:2000]

    async def _hand_to_delivery(self, outbox_ids: list[int]) -> None:
        if not outbox_ids:
            return
        async with self.db.transaction() as session:
            queued = await outbox.mark_queued(session, outbox_ids, self.clock.now())
        for batch in chunks(queued, DELIVERY_BATCH):
            if self.queue is not None:
                await self.queue.enqueue("deliver", batch)
            else:
                await self.deliverer.deliver(batch)

    async def recover_inbound(self, receipt_ids: Sequence[int]) -> Counter[str]:
        """Finish turns whose inbound was claimed but never answered (the process died between
        the provider's 200 and our reply). The reply goes out through the outbox."""
        results: Counter[str] = Counter()
        created: list[int] = []
        for receipt_id in receipt_ids:
            reply = await self.engine.process(receipt_id)
            if reply.duplicate or not reply.messages:
                results["nothing"] += 1
                continue
            async with self.db.transaction() as session:
                first = reply.messages[0].message_id
                message = await session.get(Message, first) if first else None
                if message is None:
                    continue
                contact = await session.get(Contact, message.contact_id)
                assert contact is not None
                ids = [m.message_id for m in reply.messages if m.message_id is not None]
                created += await outbox.enqueue_stored(
                    session, contact, ids, self.clock.now(), kind="reply"
                )
            results["recovered"] += 1
        await self._hand_to_delivery(created)
        return results
