"""The scheduler loop: hand due work and ready outbox rows to jobs, and return what dead workers
left behind. Safe to run twice: every hand-out is an atomic claim in SQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from datetime import timedelta

from engine import claims, outbox, rules, schedule
from engine.clock import Clock
from engine.db import Database
from engine.jobs import JobQueue, chunks

log = logging.getLogger(__name__)

# A turn takes seconds; two minutes (or COACHBOT_REAP_AFTER, if shorter) means it died.
RECEIPT_GRACE = timedelta(minutes=2)
HOUSEKEEPING_EVERY = 30.0  # seconds between reaper runs
RULES_EVERY = 300.0  # seconds between passes of the creators' re-engagement rules


class Scheduler:
    def __init__(
        self,
        db: Database,
        queue: JobQueue,
        clock: Clock,
        *,
        batch_size: int = 200,
        claim_limit: int = 5000,
        interval: float = 1.0,
        reap_after: timedelta = timedelta(minutes=5),
    ) -> None:
        self.db = db
        self.queue = queue
        self.clock = clock
        self.batch_size = batch_size
        self.claim_limit = claim_limit
        self.interval = interval
        self.reap_after = reap_after
        self.housekeeping_every = min(HOUSEKEEPING_EVERY, reap_after.total_seconds() / 3)
        # An unanswered inbound is work a process claimed and never finished, like the rest.
        self.receipt_grace = min(RECEIPT_GRACE, reap_after)
        self._last_housekeeping = 0.0
        self._last_rules = 0.0

    async def tick(self, *, housekeeping: bool | None = None) -> Counter[str]:
        """One pass: claim due work and ready outbox rows and enqueue them in batches."""
        stats: Counter[str] = Counter()
        now = self.clock.now()
        if housekeeping or (
            housekeeping is None
            and time.monotonic() - self._last_housekeeping > self.housekeeping_every
        ):
            stats.update(await self.housekeeping())
            self._last_housekeeping = time.monotonic()
        async with self.db.transaction() as session:
            due = await schedule.claim_due(session, now, self.claim_limit)
        for batch in chunks(due, self.batch_size):
            await self.queue.enqueue("run_due", batch)
        async with self.db.transaction() as session:
            ready = await outbox.queue_ready(session, now, self.claim_limit)
        for batch in chunks(ready, self.batch_size):
            await self.queue.enqueue("deliver", batch)
        stats["due"] += len(due)
        stats["ready"] += len(ready)
        return stats

    async def housekeeping(self) -> Counter[str]:
        """Return claims of dead workers and lost queues, and recover unanswered inbound."""
        now = self.clock.now()
        stats: Counter[str] = Counter()
        async with self.db.transaction() as session:
            stats["released_work"] = await schedule.release_stale(session, now, self.reap_after)
            stats["requeued"], stats["resent_ambiguous"] = await outbox.reap(
                session, now, self.reap_after, self.reap_after
            )
            stuck = await claims.stuck(session, now, self.receipt_grace, self.claim_limit)
            stats["stranded_replies"] = len(
                await outbox.adopt_stranded_replies(
                    session, now, self.receipt_grace, self.claim_limit
                )
            )  # pending outbox rows now: the next tick hands them out
        for batch in chunks(stuck, self.batch_size):
            await self.queue.enqueue("recover_inbound", batch)
        stats["recovered_inbound"] = len(stuck)
        if time.monotonic() - self._last_rules > RULES_EVERY:
            async with self.db.transaction() as session:
                stats["inactivity_nudges"] = len(await rules.inactivity_nudges(session, now))
                stats["streak_reminders"] = len(await rules.streak_reminders(session, now))
            self._last_rules = time.monotonic()
        lost = {
            k: stats[k]
            for k in (
                "released_work",
                "requeued",
                "resent_ambiguous",
                "recovered_inbound",
                "stranded_replies",
            )
            if stats[k]
        }
        if lost:
            log.warning("housekeeping returned lost work", extra=lost)
        return stats

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failing tick (database restarting) is logged and retried."""
        log.info("scheduler started", extra={"interval": self.interval})
        while not stop.is_set():
            try:
                stats = await self.tick()
                if stats["due"] or stats["ready"]:
                    log.info("scheduler handed out work", extra=dict(stats))
            except Exception:
                log.exception("scheduler tick failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        log.info("scheduler stopped")
