"""Guardrail routes: they run before any coaching and may end the turn.

Order matters and is fixed by the pipeline: crisis first (safety beats everything, even a human
handoff), then opt-out / opt-in keywords, then an active human handoff (the bot stays silent).
"""

from __future__ import annotations

import logging

from engine import metrics
from engine.crisis import detect_crisis
from engine.keywords import is_opt_in, is_opt_out
from engine.persona import crisis_texts
from engine.routing import Turn
from engine.types import Reply

log = logging.getLogger(__name__)


class CrisisRoute:
    """Explicit self-harm or suicide statements get the crisis message and a helpline at once; the
    conversation is flagged for the coach, and nothing else happens in this turn."""

    name = "crisis"

    def check(self, turn: Turn) -> bool:
        return bool(turn.text) and detect_crisis(turn.text) is not None

    async def handle(self, turn: Turn) -> Reply:
        signal = detect_crisis(turn.text)
        turn.conversation.flagged_at = turn.now
        turn.conversation.flag_reason = "crisis"
        metrics.CRISIS_FLAGS.labels(channel=turn.inbound.channel.value).inc()
        # Log ids and the rule, never the person's words.
        log.warning(
            "crisis statement detected; conversation flagged for the coach",
            extra={
                "creator": turn.creator.slug,
                "conversation_id": turn.conversation.id,
                "rule": signal.rule if signal else None,
                "language": signal.language if signal else None,
            },
        )
        message, helpline = crisis_texts(turn.creator, turn.contact)
        return Reply.text(message, helpline)


class OptOutRoute:
    """A message that is exactly an opt-out word: the defaults (STOP, UNSUBSCRIBE…, which
    carriers and WhatsApp expect) or one of this creator's own words."""

    name = "opt_out"

    def check(self, turn: Turn) -> bool:
        return is_opt_out(turn.text, turn.creator.opt_out_words or ())

    async def handle(self, turn: Turn) -> Reply:
        if turn.contact.opted_out_at is None:
            turn.contact.opted_out_at = turn.now
            log.info("contact opted out", extra={"contact_id": turn.contact.id})
        return Reply.text(
            f"Done. {turn.creator.bot_name} won't send you any more reminders or check-ins. "
            "If you write, I'll still answer. Send START anytime to turn them back on."
        )


class OptInRoute:
    """START (or one of this creator's own opt-in words) after an opt-out. A START from someone
    who never opted out is not ours to take."""

    name = "opt_in"

    def check(self, turn: Turn) -> bool:
        return turn.contact.opted_out_at is not None and is_opt_in(
            turn.text, turn.creator.opt_in_words or ()
        )

    async def handle(self, turn: Turn) -> Reply:
        turn.contact.opted_out_at = None
        log.info("contact opted back in", extra={"contact_id": turn.contact.id})
        return Reply.text(
            f"Welcome back! {turn.creator.bot_name} will send your reminders and check-ins "
            "again. Send STOP anytime to pause them."
        )


class HandoffRoute:
    """A human coach has taken this conversation over: store the message, say nothing."""

    name = "handoff"

    def check(self, turn: Turn) -> bool:
        return turn.conversation.handoff_active

    async def handle(self, turn: Turn) -> Reply:
        return Reply()
