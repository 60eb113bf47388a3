"""The free-question route and the answerer it delegates to.

The knowledge issue plugs a retrieval-grounded answerer in here; until a creator has material to
answer from, the honest answer is that we cannot answer yet.
"""

from __future__ import annotations

from typing import Protocol

from engine.routing import Turn
from engine.types import Reply


class Answerer(Protocol):
    async def answer(self, turn: Turn) -> Reply: ...


class NoKnowledgeAnswerer:
    """Says plainly that questions cannot be answered yet, instead of making something up."""

    async def answer(self, turn: Turn) -> Reply:
        return Reply.text(
            f"I can't answer questions yet: {turn.creator.name} hasn't given me any material to "
            "answer from, and I won't make things up. Type /help to see what I can do."
        )


class FreeQuestionRoute:
    """Takes any text nothing else took."""

    name = "free_question"

    def __init__(self, answerer: Answerer) -> None:
        self.answerer = answerer

    def check(self, turn: Turn) -> bool:
        return bool(turn.text)

    async def handle(self, turn: Turn) -> Reply:
        return await self.answerer.answer(turn)


class AttachmentOnlyRoute:
    """A photo, voice note or file without words: say what we can and cannot do with it."""

    name = "attachment_only"

    def check(self, turn: Turn) -> bool:
        return not turn.text and bool(turn.inbound.attachments)

    async def handle(self, turn: Turn) -> Reply:
        return Reply.text(
            "Thanks! I can't look at photos, voice notes or files yet. "
            "Could you tell me in words what you'd like to share or ask?"
        )


class EmptyRoute:
    """Nothing to act on (an empty text, a sticker the adapter reduced to nothing): stay silent."""

    name = "empty"

    def check(self, turn: Turn) -> bool:
        return True

    async def handle(self, turn: Turn) -> Reply:
        return Reply()
