"""One Telegram update through our pipeline, the same whether it came by webhook or by polling:
parse → (resolve a button) → claim → answer the button → the turn and its reply in the
background. The claim commits before this returns, so the caller may acknowledge the update."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from telegram import Bot

from bots.http import ReplyDelivery, Spawner
from bots.telegram import keyboard
from bots.telegram.parse import Blocked, Ignored, Pressed, load_update, parse_update
from bots.telegram.sender import TelegramSender
from engine import channel_state
from engine.channel_bindings import BindingInfo
from engine.delivery import Recipient
from engine.pipeline import Engine
from engine.types import Channel, InboundMessage

log = logging.getLogger(__name__)

RECENT_CHOICE_MESSAGES = 20


class TelegramInbound:
    def __init__(self, engine: Engine, delivery: ReplyDelivery, spawner: Spawner) -> None:
        self.engine = engine
        self.delivery = delivery
        self.spawner = spawner

    async def receive(self, binding: BindingInfo, data: Any) -> str:
        """Handle one update; returns what happened ("claimed", "duplicate", "ignored: …").
        Raises MalformedUpdate for a body that is not an update."""
        update = load_update(data)
        parsed = parse_update(update, binding.id, self.engine.clock.now(), data)
        if isinstance(parsed, Ignored):
            log.info(
                "telegram update ignored", extra={"binding_id": binding.id, "reason": parsed.reason}
            )
            return f"ignored: {parsed.reason}"
        if isinstance(parsed, Blocked):
            await channel_state.mark_unreachable(
                self.engine.db, binding.id, parsed.chat_id, self.engine.clock.now()
            )
            return "blocked"
        inbound = parsed.inbound if isinstance(parsed, Pressed) else parsed
        if isinstance(parsed, Pressed):
            inbound = await self._resolve(parsed)
        receipt_id = await self.engine.claim(inbound)
        if receipt_id is None:
            return "duplicate"
        if isinstance(parsed, Pressed):
            sender = await self.delivery.senders.for_binding(binding.id)
            if isinstance(sender, TelegramSender):
                self.spawner.spawn(
                    _answer_callback(sender.bot, parsed.callback_query_id),
                    name=f"tg-answer-{receipt_id}",
                )
        recipient = Recipient(binding.id, Channel.TELEGRAM, inbound.external_user_id)
        self.spawner.spawn(self.delivery.run(receipt_id, recipient), name=f"tg-turn-{receipt_id}")
        return "claimed"

    async def _resolve(self, pressed: Pressed) -> InboundMessage:
        """The button's real payload and label; a command button sends its command."""
        inbound, label, payload = pressed.inbound, pressed.label, pressed.data
        if keyboard.is_digest(pressed.data):
            offered = await channel_state.recent_choices(
                self.engine.db,
                inbound.binding_id,
                inbound.external_user_id,
                messages=RECENT_CHOICE_MESSAGES,
            )
            choice = keyboard.resolve(pressed.data, (c for cs in offered for c in cs))
            if choice is None:  # too old to map back: what the button said is all we know
                return _with(inbound, text=label or "", choice_payload=None)
            label, payload = choice.label, choice.payload
        text = payload if payload.startswith("/") else (label or payload)
        return _with(inbound, text=text, choice_payload=payload)


def _with(inbound: InboundMessage, **changes: Any) -> InboundMessage:
    return replace(inbound, **changes)


async def _answer_callback(bot: Bot, query_id: str) -> None:
    """Stop the button's spinner. Best effort: an old query cannot be answered any more."""
    try:
        await bot.answer_callback_query(query_id)
    except Exception as exc:
        log.info("callback query not answered", extra={"error": type(exc).__name__})
