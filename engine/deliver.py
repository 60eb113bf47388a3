"""Delivering a batch of outbox rows: policies at send time, the channel's sender, and one
outcome per row (sent, failed, skipped with a reason, or back to pending for later).

Policies, in order: a reply to something the person wrote goes out at once. Otherwise, after
STOP nothing is sent (skipped: opted_out). Inside the creator's quiet hours (in the contact's
local time) a row waits until they end. Past the daily cap, program messages wait for tomorrow
morning and other nudges are skipped. On WhatsApp outside the 24-hour window a row goes out as
the creator's approved template for it, or is skipped (outside_window).

Provider outcomes (engine.delivery): RetryLater → back to pending after backoff with jitter,
never before `retry_after`, failed after MAX_ATTEMPTS; RecipientBlocked → failed, identity
unreachable; OutsideWindow → skipped; PermanentFailure → failed with its code. Ambiguous (timed
out after the request left) → retried once, marked `ambiguous` so a possible duplicate is
accounted for; a second ambiguous outcome fails the row instead of retrying blindly.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client import Counter as MetricCounter
from sqlalchemy import func, select, update

from engine.channel_models import DeliveryEvent
from engine.clock import Clock
from engine.db import Database, upsert_insert
from engine.delivery import (
    Ambiguous,
    DeliveryError,
    OutsideWindow,
    PermanentFailure,
    Recipient,
    RecipientBlocked,
    RetryLater,
    SenderFactory,
    TemplateRef,
)
from engine.models import ChannelBinding, ChannelIdentity, Contact, Creator, Message, Outbox
from engine.outbox import choose_identity, take
from engine.policies import MAX_ATTEMPTS, QuietHours, backoff, local_day_start, window_open
from engine.ratelimit import Limit, RateLimiter, limits_for
from engine.types import Channel, OutboundMessage

log = logging.getLogger(__name__)

OUTCOMES = MetricCounter(
    "coachbot_outbox_outcomes_total",
    "Outbox delivery outcomes by kind, state and reason.",
    ["kind", "state", "reason"],
)
AMBIGUOUS_RETRY_DELAY = timedelta(minutes=1)
LONGEST_RATE_WAIT = 2.0  # seconds we sleep for a rate limit before deferring the row instead
STORED_CHANNELS = {Channel.TERMINAL.value}  # no push: the message is read from the history


def _claimable(row: Outbox, now: datetime) -> bool:
    """Rows a delivery job may take: queued for it, or pending and due. A pending row waiting
    for quiet hours, a backoff or an ambiguous retry is left alone even if an old or duplicate
    job names it."""
    if row.state == "queued":
        return True
    return row.state == "pending" and (row.next_attempt_at is None or row.next_attempt_at <= now)


@dataclass
class Decision:
    state: str  # sent | failed | skipped | pending
    reason: str | None = None
    next_attempt_at: datetime | None = None
    provider_ids: tuple[str, ...] = ()
    error: str | None = None
    ambiguous: bool | None = None
    attempted: bool = False
    unreachable_identity: int | None = None
    identity: ChannelIdentity | None = None


@dataclass
class Item:
    row: Outbox
    message: Message
    contact: Contact
    creator: Creator
    identity: ChannelIdentity | None
    binding: ChannelBinding | None
    decision: Decision | None = None
    template: TemplateRef | None = None


@dataclass
class BatchResult:
    outcomes: Counter[str] = field(default_factory=Counter)


class Deliverer:
    def __init__(
        self,
        db: Database,
        senders: SenderFactory,
        clock: Clock,
        limiter: RateLimiter,
        concurrency: int = 32,
        rate_scale: float = 1.0,
        ambiguous_retry_after: timedelta = AMBIGUOUS_RETRY_DELAY,
    ) -> None:
        self.db = db
        self.senders = senders
        self.clock = clock
        self.limiter = limiter
        self.concurrency = concurrency
        self.rate_scale = rate_scale
        self.ambiguous_retry_after = ambiguous_retry_after

    async def deliver(self, outbox_ids: Sequence[int]) -> BatchResult:
        now = self.clock.now()
        claimed = await self._claim(outbox_ids, now)
        if not claimed:
            return BatchResult()
        items, sent_today = await self._load(claimed, now)
        items.sort(key=lambda i: i.row.id)  # one person's messages go out in the order made
        # 1. Policies decide every row that does not go out now.
        for item in items:
            item.decision = self._policy(item, sent_today, now)
        to_send = [item for item in items if item.decision is None]
        # 2. One rate-limit reservation for all that do: each gets its slot, or waits for later.
        waits = await self.limiter.reserve(
            [self._limits(item) for item in to_send], max_wait=LONGEST_RATE_WAIT
        )
        by_contact: dict[int, list[tuple[Item, float]]] = defaultdict(list)
        for item, wait in zip(to_send, waits, strict=True):
            if wait > LONGEST_RATE_WAIT:
                later = now + timedelta(seconds=wait)
                item.decision = Decision("pending", "rate_limited", next_attempt_at=later)
            else:
                by_contact[item.contact.id].append((item, wait))
        # 3. Send: people in parallel, each person's messages in order, each at its slot.
        gate = asyncio.Semaphore(self.concurrency)
        started = asyncio.get_running_loop().time()

        async def contact_in_order(queue: list[tuple[Item, float]]) -> None:
            async with gate:
                for item, wait in queue:
                    delay = started + wait - asyncio.get_running_loop().time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    item.decision = await self._send(item, now)
                    item.decision.identity = item.identity

        await asyncio.gather(*(contact_in_order(queue) for queue in by_contact.values()))
        return await self._record(items, now)

    async def _claim(self, ids: Sequence[int], now: datetime) -> list[Outbox]:
        """Take the rows this job may send (queued for it, or pending and due) by marking them
        sending; returns them. By primary key, the state checked in Python (outbox.take): a
        state condition let the planner walk the state index's stale entries, up to 0.75 s per
        claim in a 100,000-nudge run (docs/benchmarks.md)."""
        async with self.db.transaction() as session:
            return await take(
                session,
                ids,
                lambda row: _claimable(row, now),
                state="sending",
                sending_at=now,
            )

    async def _load(self, rows: list[Outbox], now: datetime) -> tuple[list[Item], Counter[int]]:
        async with self.db.sessions() as session:
            messages = await _by_id(session, Message, {r.message_id for r in rows})
            contacts = await _by_id(session, Contact, {r.contact_id for r in rows})
            creators = await _by_id(session, Creator, {c.creator_id for c in contacts.values()})
            identities = await _by_id(
                session, ChannelIdentity, {r.identity_id for r in rows if r.identity_id}
            )
            items = []
            for row in rows:
                contact = contacts[row.contact_id]
                identity = identities.get(row.identity_id) if row.identity_id else None
                if identity is None or identity.unreachable_at is not None:
                    identity = await choose_identity(session, contact)  # the person moved on
                binding = (
                    await session.get(ChannelBinding, identity.binding_id) if identity else None
                )
                items.append(
                    Item(
                        row,
                        messages[row.message_id],
                        contact,
                        creators[contact.creator_id],
                        identity,
                        binding,
                    )
                )
            # Only a sent row has a sent_at. The state is checked here, not in SQL: given
            # `state = 'sent'`, PostgreSQL's planner (whose statistics lag behind a burst of
            # sends) scanned every sent row through the state index, a cost that grew with each
            # batch; by (contact_id, sent_at) it reads a few rows per contact.
            counts = await session.execute(
                select(Outbox.contact_id, Outbox.sent_at, Outbox.state).where(
                    Outbox.contact_id.in_(list(contacts)),
                    Outbox.sent_at >= now - timedelta(hours=27),
                    Outbox.kind != "reply",
                )
            )
            sent_today: Counter[int] = Counter()
            for contact_id, sent_at, state in counts:
                tz = _zone(contacts[contact_id], creators[contacts[contact_id].creator_id])
                if state == "sent" and sent_at is not None and sent_at >= local_day_start(now, tz):
                    sent_today[contact_id] += 1
        return items, sent_today

    def _policy(self, item: Item, sent_today: Counter[int], now: datetime) -> Decision | None:
        """The decision for a row that does not go out now, or None if it should be sent (the
        template it needs, if any, is kept on the item)."""
        row, contact, creator, identity = item.row, item.contact, item.creator, item.identity
        reply = row.kind == "reply"
        if not reply and contact.opted_out_at is not None:
            return Decision("skipped", "opted_out")
        if identity is None or item.binding is None or not item.binding.enabled:
            return Decision("skipped", "no_reachable_channel")
        tz = _zone(contact, creator)
        if not reply:
            quiet = QuietHours.parse(creator.quiet_hours_start, creator.quiet_hours_end)
            later = quiet.end_after(now, tz)
            if later > now:
                return Decision("pending", "quiet_hours", next_attempt_at=later)
            if sent_today[contact.id] >= creator.daily_proactive_cap:
                if row.kind == "program":
                    morning = quiet.next_morning(now, tz)
                    return Decision("pending", "daily_cap", next_attempt_at=morning)
                return Decision("skipped", "daily_cap")
            # Counted as planned: a send that then fails only makes the cap stricter, never looser.
            sent_today[contact.id] += 1
        if identity.channel == Channel.WHATSAPP.value and not window_open(
            identity.last_inbound_at, now
        ):
            item.template = _template(item.binding, row.template_key, contact)
            if item.template is None:
                return Decision("skipped", "outside_window")
        if identity.channel in STORED_CHANNELS:
            return Decision("sent", identity=identity)
        return None

    def _limits(self, item: Item) -> list[Limit]:
        identity = item.identity
        assert identity is not None
        return limits_for(
            identity.channel, identity.binding_id, identity.external_user_id, self.rate_scale
        )

    async def _send(self, item: Item, now: datetime) -> Decision:
        row, identity, template = item.row, item.identity, item.template
        assert identity is not None
        attempts = row.attempts + 1
        recipient = Recipient(
            binding_id=identity.binding_id,
            channel=Channel(identity.channel),
            external_user_id=identity.external_user_id,
            contact_id=item.contact.id,
            identity_id=identity.id,
        )
        try:
            sender = await self.senders.for_binding(identity.binding_id)
            result = await sender.send(
                recipient,
                OutboundMessage.from_stored(
                    item.message.text, item.message.payload, item.message.id
                ),
                template=template,
            )
        except RetryLater as exc:
            if attempts >= MAX_ATTEMPTS:
                return Decision("failed", "retries_exhausted", error=str(exc), attempted=True)
            delay = backoff(attempts, exc.retry_after)
            return Decision(
                "pending", "retry", next_attempt_at=now + delay, error=str(exc), attempted=True
            )
        except RecipientBlocked as exc:
            return Decision(
                "failed",
                "blocked",
                error=str(exc),
                attempted=True,
                unreachable_identity=identity.id,
            )
        except OutsideWindow as exc:
            return Decision("skipped", "outside_window", error=str(exc), attempted=True)
        except Ambiguous as exc:
            if row.ambiguous:
                return Decision("failed", "ambiguous_timeout", error=str(exc), attempted=True)
            return Decision(
                "pending",
                "ambiguous_retry",
                next_attempt_at=now + self.ambiguous_retry_after,
                error=str(exc),
                ambiguous=True,
                attempted=True,
            )
        except PermanentFailure as exc:
            return Decision("failed", exc.code or "rejected", error=str(exc), attempted=True)
        except DeliveryError as exc:  # a new kind of provider error: treat as transient
            return Decision(
                "pending",
                "retry",
                next_attempt_at=now + backoff(attempts),
                error=str(exc),
                attempted=True,
            )
        except LookupError as exc:  # no sender for this binding
            return Decision("failed", "no_sender", error=str(exc))
        except Exception as exc:
            log.exception("unexpected error while sending", extra={"outbox_id": row.id})
            if attempts >= MAX_ATTEMPTS:
                return Decision("failed", "error", error=repr(exc), attempted=True)
            return Decision(
                "pending",
                "retry",
                next_attempt_at=now + backoff(attempts),
                error=repr(exc),
                attempted=True,
            )
        return Decision(
            "sent", provider_ids=result.provider_message_ids, attempted=True, identity=identity
        )

    async def _record(self, items: list[Item], now: datetime) -> BatchResult:
        """Write every row's outcome in one transaction, as bulk updates by primary key."""
        result = BatchResult()
        outbox_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        unreachable: list[int] = []
        for item in items:
            decision = item.decision or Decision("pending", "retry", next_attempt_at=now)
            row, message = item.row, item.message
            identity = decision.identity
            sent = decision.state == "sent"
            outbox_rows.append(
                {
                    "id": row.id,
                    "state": decision.state,
                    "reason": decision.reason,
                    "attempts": row.attempts + 1 if decision.attempted else row.attempts,
                    "last_error": decision.error[:2000] if decision.error else row.last_error,
                    "ambiguous": row.ambiguous
                    if decision.ambiguous is None
                    else decision.ambiguous,
                    "next_attempt_at": decision.next_attempt_at or row.next_attempt_at,
                    "identity_id": identity.id if identity else row.identity_id,
                    "binding_id": identity.binding_id if identity else row.binding_id,
                    "sent_at": now if sent else row.sent_at,
                    "provider_message_ids": list(decision.provider_ids)
                    if sent
                    else row.provider_message_ids,
                }
            )
            message_rows.append(
                {
                    "id": message.id,
                    "status": decision.state,
                    "sent_at": now if sent else message.sent_at,
                    "provider_message_id": (decision.provider_ids or (None,))[0]
                    if sent
                    else message.provider_message_id,
                    "channel": identity.channel if identity else message.channel,
                    "binding_id": identity.binding_id if identity else message.binding_id,
                    "error": decision.reason
                    if decision.state in ("failed", "skipped")
                    else message.error,
                }
            )
            if sent and identity is not None:
                # The message row holds the first id; only further parts need their own row.
                parts += [
                    {
                        "binding_id": identity.binding_id,
                        "provider_message_id": provider_id,
                        "status": "sent",
                        "message_id": message.id,
                        "received_at": now,
                    }
                    for provider_id in decision.provider_ids[1:]
                ]
            if decision.unreachable_identity is not None:
                unreachable.append(decision.unreachable_identity)
            result.outcomes[f"{decision.state}:{decision.reason or '-'}"] += 1
            OUTCOMES.labels(
                kind=row.kind, state=decision.state, reason=decision.reason or "-"
            ).inc()
        async with self.db.transaction() as session:
            await session.execute(update(Outbox), outbox_rows)
            await session.execute(update(Message), message_rows)
            if parts:
                await session.execute(
                    upsert_insert(session, DeliveryEvent).on_conflict_do_nothing(
                        index_elements=["binding_id", "provider_message_id", "status"]
                    ),
                    parts,
                )
            if unreachable:
                await session.execute(
                    update(ChannelIdentity)
                    .where(ChannelIdentity.id.in_(unreachable))
                    .values(unreachable_at=now)
                    .execution_options(synchronize_session=False)
                )
        return result


async def _by_id(session: Any, model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    rows = (await session.scalars(select(model).where(model.id.in_(list(ids))))).all()
    return {row.id: row for row in rows}


def _zone(contact: Contact, creator: Creator) -> ZoneInfo:
    for name in (contact.timezone, creator.timezone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _template(binding: ChannelBinding, key: str | None, contact: Contact) -> TemplateRef | None:
    """The creator's approved template for this message (by its key, else the binding's
    default), with the contact's first name as variable 1."""
    templates = (binding.config or {}).get("templates") or {}
    sid = templates.get(key or "") or templates.get("default")
    if not sid:
        return None
    return TemplateRef(str(sid), {"1": contact.first_name or "there"})


async def count_by_state(db: Database) -> dict[str, int]:
    async with db.sessions() as session:
        rows = await session.execute(select(Outbox.state, func.count()).group_by(Outbox.state))
        return {state: int(n) for state, n in rows}
