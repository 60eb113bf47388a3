"""The turn pipeline: claim → store → resolve contact and conversation → guardrails → route →
store the reply.

Two phases, so that a webhook can answer its provider as soon as the message is durably claimed
and produce the reply afterwards: `claim()` commits the receipt on its own; `process()` runs the
turn in one transaction. `handle()` does both, for callers that wait for the reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from engine import claims, metrics, outbox
from engine.answering import (
    Answerer,
    AttachmentOnlyRoute,
    EmptyRoute,
    FreeQuestionRoute,
    NoKnowledgeAnswerer,
)
from engine.binding_changes import CHANGES, Remembered
from engine.clock import Clock, SystemClock
from engine.commands import Command, CommandRoute
from engine.contacts import BINDING_TOUCH_INTERVAL, arrive_in_conversation, touch_binding
from engine.db import Database, dialect_name, table_of
from engine.guardrails import CrisisRoute, HandoffRoute, OptInRoute, OptOutRoute
from engine.linking import link_commands
from engine.models import (
    ChannelBinding,
    ChannelIdentity,
    Contact,
    Creator,
    InboundReceipt,
    Message,
    Outbox,
)
from engine.program_route import ProgramRoute, program_commands
from engine.routing import Route, Router, Turn
from engine.types import InboundMessage, OutboundMessage, Reply

log = logging.getLogger(__name__)

BINDING_CHECK_SECONDS = 5.0
# Below the database pool of a process, so that claims, lookups and the marking of sent replies
# always find a connection beside the turns.
TURN_SLOTS_BELOW_POOL = 2
APOLOGY = "Sorry, something went wrong on my side and I couldn't answer that. Please try again."


class UnknownBindingError(LookupError):
    """The inbound names a channel binding that does not exist or is disabled."""


class Engine:
    """What every channel adapter calls. Holds no per-conversation state: any number of engines
    in any number of processes may serve the same database."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        answerer: Answerer | None = None,
        commands: Sequence[Command] = (),
        routes: Sequence[Route] = (),
        turn_concurrency: int | None = None,
    ) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()
        # A turn holds a database connection for its transaction. Past this many at once, turns
        # wait here (their inbound is already claimed) rather than for the pool, which would
        # leave a webhook's claim waiting for a connection until it timed out into a 500.
        if turn_concurrency is None:
            turn_concurrency = max(1, db.pool_size - TURN_SLOTS_BELOW_POOL)
        self._turn_slots = asyncio.Semaphore(turn_concurrency)
        self._bindings_seen: dict[int, Remembered[bool]] = {}  # enabled or not
        self._bindings_touched: dict[int, datetime] = {}
        answerer = answerer or NoKnowledgeAnswerer()
        self.commands = CommandRoute([*program_commands(), *link_commands(), *commands])
        # Guardrails first, then commands, then what other packages add (program answers), then
        # the catch-alls. The last route accepts every turn.
        self.router = Router(
            [
                CrisisRoute(),
                OptOutRoute(),
                OptInRoute(),
                HandoffRoute(),
                self.commands,
                ProgramRoute(answerer),
                *routes,
                FreeQuestionRoute(answerer),
                AttachmentOnlyRoute(),
                EmptyRoute(),
            ]
        )

    async def handle(self, inbound: InboundMessage) -> Reply:
        """Claim and process one inbound message; a repeated delivery gets an empty duplicate
        reply and changes nothing."""
        receipt_id = await self.claim(inbound)
        if receipt_id is None:
            return Reply(duplicate=True)
        return await self.process(receipt_id)

    async def claim(self, inbound: InboundMessage) -> int | None:
        """Durably store the inbound; None if this provider message was claimed before."""
        if not await self._binding_enabled(inbound.binding_id):
            raise UnknownBindingError(f"no enabled channel binding {inbound.binding_id}")
        async with self.db.statement() as conn:  # one INSERT: no transaction of its own
            receipt_id = await claims.claim(conn, inbound, self.clock.now())
        if receipt_id is None:
            metrics.INBOUND.labels(channel=inbound.channel.value, outcome="duplicate").inc()
            log.info(
                "duplicate delivery ignored",
                extra={
                    "binding_id": inbound.binding_id,
                    "external_id": inbound.external_message_id,
                },
            )
        return receipt_id

    async def _binding_enabled(self, binding_id: int) -> bool:
        """Whether the binding exists and is on, remembered for a few seconds or until this
        process hears of a binding change: every inbound of a busy bot asks, and adapters have
        already looked their binding up."""
        changes = CHANGES.count  # before the lookup: a change committed meanwhile counts
        cached = self._bindings_seen.get(binding_id)
        if cached is not None and CHANGES.trusts(cached, BINDING_CHECK_SECONDS):
            return cached.value
        async with self.db.sessions() as session:
            enabled = bool(
                await session.scalar(
                    select(ChannelBinding.enabled).where(ChannelBinding.id == binding_id)
                )
            )
        self._bindings_seen[binding_id] = Remembered(enabled, changes)
        return enabled

    async def process(self, receipt_id: int) -> Reply:
        """Run the turn for a claimed inbound. Safe to call again for the same receipt: only the
        first call that finds it unprocessed does anything."""
        async with self._turn_slots:
            return await self._process(receipt_id)

    async def _process(self, receipt_id: int) -> Reply:
        started = time.perf_counter()
        try:
            reply, channel = await self._run_turn(receipt_id)
        except Exception as exc:
            log.exception("turn failed", extra={"receipt_id": receipt_id})
            async with self.db.transaction() as session:
                await claims.finish(session, receipt_id, self.clock.now(), error=repr(exc))
                receipt = await session.get(InboundReceipt, receipt_id)
                channel = receipt.inbound["channel"] if receipt else "unknown"
            metrics.INBOUND.labels(channel=channel, outcome="failed").inc()
            return Reply.text(APOLOGY)
        metrics.TURN_SECONDS.observe(time.perf_counter() - started)
        metrics.INBOUND.labels(
            channel=channel, outcome="duplicate" if reply.duplicate else "processed"
        ).inc()
        return reply

    async def _run_turn(self, receipt_id: int) -> tuple[Reply, str]:
        async with self.db.transaction() as session:
            now = self.clock.now()
            # Marking the receipt processed first locks it for the turn and tells a second
            # caller it has nothing to do; if the turn fails, the rollback leaves it claimed.
            taken = await _take(session, receipt_id, now)
            if taken is None:
                inbound = await claims.stored_inbound(session, receipt_id)
                if inbound is None:
                    raise LookupError(f"no inbound receipt {receipt_id}")
                return Reply(duplicate=True), inbound.channel.value
            inbound, binding, creator = taken
            if binding is None or creator is None:
                raise UnknownBindingError(f"channel binding {inbound.binding_id} disappeared")
            if not binding.enabled:
                # Switched off after its webhook took this in (webhooks remember a binding for a
                # few seconds): the receipt keeps the message, and the bot says nothing more.
                log.info(
                    "inbound on a disabled binding kept, not answered",
                    extra={"binding_id": binding.id, "receipt_id": receipt_id},
                )
                return Reply(), inbound.channel.value
            # The person wrote now: what routes decide (e.g. WhatsApp's window) must see it.
            identity, contact, conversation = await arrive_in_conversation(
                session, binding, inbound, now
            )
            if inbound.locale and not contact.locale:
                contact.locale = inbound.locale
            message = Message(
                conversation_id=conversation.id,
                contact_id=contact.id,
                direction="in",
                channel=inbound.channel.value,
                binding_id=binding.id,
                receipt_id=receipt_id,
                text=inbound.text or "",
                payload=_inbound_payload(inbound),
                status="received",
                created_at=inbound.received_at,
                reply_to_id=None,
                provider_message_id=None,
                error=None,
                sent_at=None,
            )
            turn = Turn(
                session=session,
                inbound=inbound,
                creator=creator,
                binding=binding,
                contact=contact,
                identity=identity,
                conversation=conversation,
                message=message,
                now=now,
            )
            await self.router.prepare(turn)
            route = self.router.select(turn)
            # Stored once its route is known (one INSERT, no UPDATE), before the route runs, so
            # what routes read includes it; `prepare` ran before and does not need it.
            message.route = route.name
            await _add_inbound(session, message)
            reply = await route.handle(turn)
            metrics.ROUTED.labels(route=route.name).inc()

            stored = await self._store_reply(turn, reply, route.name)
            if turn.conversation.last_message_at != now:
                # Arrival stamped it; a route that moved the turn to another conversation
                # (/reset, linking) did not. Setting an equal value would still cost a flush.
                turn.conversation.last_message_at = now
            touched = self._bindings_touched.get(binding.id)
            if touched is None or now - touched >= BINDING_TOUCH_INTERVAL:
                await touch_binding(session, binding.id, now)
                self._bindings_touched[binding.id] = now
        return stored, inbound.channel.value

    async def _store_reply(self, turn: Turn, reply: Reply, route: str) -> Reply:
        if not reply.messages:
            return reply
        rows = [
            {
                "conversation_id": turn.conversation.id,
                "contact_id": turn.contact.id,
                "direction": "out",
                "channel": turn.inbound.channel.value,
                "binding_id": turn.binding.id,
                "reply_to_id": turn.message.id,
                "text": outbound.text,
                "payload": outbound.payload_json(),
                "route": route,
                "status": "pending",
                "created_at": turn.now,
            }
            for outbound in reply.messages
        ]
        # One statement for all parts; ids come back in the order of the rows.
        ids = await turn.session.scalars(ADD_REPLIES, rows)
        stored = [
            replace(outbound, message_id=message_id)
            for outbound, message_id in zip(reply.messages, ids, strict=True)
        ]
        return replace(reply, messages=tuple(stored))

    async def mark_sent(
        self, message_id: int, provider_message_id: str | None = None, at: datetime | None = None
    ) -> None:
        """The adapter delivered an outbound message; record the provider's id for it."""
        await self.mark_sent_many([(message_id, provider_message_id)], at)

    async def proactive_since(
        self, binding_id: int, external_user_id: str, after_id: int | None = None
    ) -> list[OutboundMessage]:
        """Proactive messages delivered to this person (on any channel) after message `after_id`,
        or since they last wrote: what a channel without push (the terminal) shows on return."""
        async with self.db.sessions() as session:
            identity = await session.scalar(
                select(ChannelIdentity).where(
                    ChannelIdentity.binding_id == binding_id,
                    ChannelIdentity.external_user_id == external_user_id,
                )
            )
            if identity is None:
                return []
            if after_id is None:
                after_id = await session.scalar(
                    select(func.max(Message.id)).where(
                        Message.contact_id == identity.contact_id, Message.direction == "in"
                    )
                )
            rows = await session.scalars(
                select(Message)
                .where(
                    Message.contact_id == identity.contact_id,
                    Message.direction == "out",
                    Message.status == "sent",
                    Message.reply_to_id.is_(None),  # replies were seen in the turn itself
                    Message.route.in_(PROACTIVE_ROUTES),
                    Message.id > (after_id or 0),
                )
                .order_by(Message.id)
            )
            return [OutboundMessage.from_stored(m.text, m.payload, m.id) for m in rows]

    async def defer_replies(self, message_ids: list[int], *, ambiguous: bool = False) -> list[int]:
        """Hand reply messages that could not go out now (rate limited, or timed out after the
        request left) to the outbox, which retries them with backoff in order. The first is
        marked ambiguous when it may already have arrived."""
        if not message_ids:
            return []
        now = self.clock.now()
        async with self.db.transaction() as session:
            first = await session.get(Message, message_ids[0])
            contact = await session.get(Contact, first.contact_id) if first else None
            if contact is None:
                return []
            ids = await outbox.enqueue_stored(session, contact, message_ids, now, kind="reply")
            if ambiguous and ids:
                await session.execute(
                    update(Outbox)
                    .where(Outbox.id == ids[0])
                    .values(ambiguous=True)
                    .execution_options(synchronize_session=False)
                )
        return ids

    async def mark_sent_many(
        self, sent: Sequence[tuple[int, str | None]], at: datetime | None = None
    ) -> None:
        """Record several delivered messages (a reply's parts) in one transaction."""
        if not sent:
            return
        when = at or self.clock.now()
        # One statement (all rows or none), so no transaction of its own.
        async with self.db.statement() as conn:
            await conn.execute(
                MARK_SENT,
                [{"message_id": m, "provider_id": p, "at": when} for m, p in sent],
            )

    async def mark_failed(self, message_id: int, error: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(Message)
                .execution_options(synchronize_session=False)
                .where(Message.id == message_id, Message.direction == "out")
                .values(status="failed", error=error[:4000])
            )


PROACTIVE_ROUTES = ("program", "nudge", "reminder", "broadcast")

# Statements of every turn, built once (building one and its cache key costs about 0.1 ms), and
# on the table where no ORM object is needed (an ORM bulk update by primary key costs several
# times the round trip here).
BINDING_AND_CREATOR = (
    select(ChannelBinding, Creator)
    .join(Creator, Creator.id == ChannelBinding.creator_id)
    .where(ChannelBinding.id == bindparam("binding_id"))
)
# PostgreSQL: the take (a data-modifying CTE) and what it names in one round trip. Outer joins,
# so that a receipt whose binding was deleted is still told apart from one already taken.
TAKEN = claims.TAKE.cte("taken")
TAKE_WITH_BINDING = (
    select(ChannelBinding, Creator, TAKEN.c.inbound, TAKEN.c.raw)
    .select_from(TAKEN)
    .outerjoin(ChannelBinding, ChannelBinding.id == TAKEN.c.binding_id)
    .outerjoin(Creator, Creator.id == ChannelBinding.creator_id)
)
MESSAGES = table_of(Message)
ADD_REPLIES = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)
ADD_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id)
# Every column but the id, so that the attached object has nothing left to load.
INBOUND_COLUMNS = tuple(c.key for c in MESSAGES.columns if c.key != "id")
MARK_SENT = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"), MESSAGES.c.direction == "out")
    .values(status="sent", provider_message_id=bindparam("provider_id"), sent_at=bindparam("at"))
)


async def _add_inbound(session: AsyncSession, message: Message) -> None:
    """Insert the inbound message with a Core statement, then attach the object as if loaded:
    a route that moves it (linking) still gets its change flushed as an UPDATE, and the turn
    needs no ORM flush at all."""
    values = {column: getattr(message, column) for column in INBOUND_COLUMNS}
    message.id = (await session.execute(ADD_MESSAGE, values)).scalar_one()
    make_transient_to_detached(message)
    session.add(message)


async def _take(
    session: AsyncSession, receipt_id: int, now: datetime
) -> tuple[InboundMessage, ChannelBinding | None, Creator | None] | None:
    """Take the receipt for this turn (`claims.take`) and load its binding and creator; None if
    it is not waiting for its turn. One statement on PostgreSQL, two on SQLite."""
    if dialect_name(session) == "postgresql":
        row = (
            await session.execute(TAKE_WITH_BINDING, {"receipt_id": receipt_id, "now": now})
        ).one_or_none()
        if row is None:
            return None
        binding, creator, stored, raw = row
        return InboundMessage.from_json(stored, raw=raw), binding, creator
    inbound = await claims.take(session, receipt_id, now)
    if inbound is None:
        return None
    found = (
        await session.execute(BINDING_AND_CREATOR, {"binding_id": inbound.binding_id})
    ).one_or_none()
    return (inbound, *found) if found is not None else (inbound, None, None)


def _inbound_payload(inbound: InboundMessage) -> dict[str, object]:
    payload: dict[str, object] = {}
    if inbound.choice_payload is not None:
        payload["choice"] = inbound.choice_payload
    if inbound.attachments:
        payload["attachments"] = [a.to_json() for a in inbound.attachments]
    return payload
