"""The free-question route and the answerers it delegates to.

`KnowledgeAnswerer` answers from the creator's own material: retrieve, then either a language
model (when one is configured) or grounded fallback mode, which quotes the best sentences of the
material with their sources. When nothing relevant enough is found it says the question is not
covered instead of answering. `NoKnowledgeAnswerer` is for deployments without a knowledge base.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from engine.routing import Turn
from engine.types import Reply

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from sqlalchemy.ext.asyncio import AsyncSession

    from engine.models import Creator
    from knowledge.grounded import Source
    from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)


class Answerer(Protocol):
    async def answer(self, turn: Turn) -> Reply: ...


class NoKnowledgeAnswerer:
    """Says plainly that questions cannot be answered yet, instead of making something up."""

    async def answer(self, turn: Turn) -> Reply:
        return Reply.text(
            f"I can't answer questions yet: {turn.creator.name} hasn't given me any material to "
            "answer from, and I won't make things up. Type /help to see what I can do."
        )


@dataclass(frozen=True)
class Citation:
    doc: str  # the source file name
    title: str


@dataclass(frozen=True)
class Answer:
    text: str  # Markdown subset
    grounded: bool  # False: declined, the material does not cover the question
    citations: list[Citation] = field(default_factory=list)
    mode: str = "declined"  # llm | quoted | declined


class KnowledgeAnswerer:
    """Answers only from the creator's material, with citations; declines when it has none."""

    def __init__(
        self,
        knowledge: KnowledgeService,
        *,
        chat_model: BaseChatModel | None = None,
        timeout: float = 30.0,
        min_relevance: float | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.chat_model = chat_model
        self.timeout = timeout
        self.min_relevance = (
            knowledge.config.min_relevance if min_relevance is None else min_relevance
        )
        self._chain = None

    async def answer(self, turn: Turn) -> Reply:
        answer = await self.respond(turn.creator, turn.text, session=turn.session)
        return Reply.text(answer.text)

    async def respond(
        self, creator: Creator, question: str, *, session: AsyncSession | None = None
    ) -> Answer:
        """`session`: the turn's, when answering inside one (SQLite has one writer at a time)."""
        from knowledge.grounded import extractive_answer, is_covered, number_sources

        search = await self.knowledge.search(creator.id, question, session=session)
        if not is_covered(question, search.hits, search.best_similarity, self.min_relevance):
            return self.decline(creator)
        sources = number_sources(search.hits)
        if self.chat_model is not None:
            try:
                answer = await asyncio.wait_for(
                    self._ask_model(creator, question, sources), self.timeout
                )
            except Exception as exc:  # timeouts, connection errors, bad responses alike
                log.warning(
                    "language model failed; answering in grounded mode",
                    extra={"creator_id": creator.id, "error": type(exc).__name__},
                )
            else:
                return answer if answer is not None else self.decline(creator)
        quoted = extractive_answer(question, search.hits, creator.name)
        return Answer(quoted.text, True, _citations(quoted.sources), "quoted")

    async def _ask_model(
        self, creator: Creator, question: str, sources: list[Source]
    ) -> Answer | None:
        from engine.llm import NOT_COVERED, build_chain, prompt_inputs, read_answer
        from engine.streaming import invoke
        from knowledge.grounded import sources_line

        assert self.chat_model is not None
        if self._chain is None:
            self._chain = build_chain(self.chat_model)  # type: ignore[assignment]
        inputs = prompt_inputs(
            question=question,
            sources=sources,
            coach=creator.name,
            bot_name=creator.bot_name,
            persona=creator.persona,
        )
        # Streamed token by token when the channel asked for it (engine.streaming).
        raw = await invoke(self._chain, inputs, hold=NOT_COVERED)
        reply = read_answer(str(raw), sources)
        if not reply.covered:
            return None
        cited = [s for s in sources if s.number in reply.cited] or sources[:1]
        return Answer(f"{reply.text}\n\n{sources_line(cited)}", True, _citations(cited), "llm")

    def decline(self, creator: Creator) -> Answer:
        return Answer(
            f"That isn't covered in {creator.name}'s material, so I won't guess. You could ask "
            f"it another way, or ask {creator.name} directly.",
            grounded=False,
        )


def _citations(sources: list[Source]) -> list[Citation]:
    return [Citation(s.doc, s.title) for s in sources]


class LazyAnswerer:
    """Builds the real answerer on the first question (in a worker thread: opening the index
    imports heavy libraries). If the index cannot be opened (another process owns the local
    index), the person gets an honest reply and the next question tries again."""

    def __init__(self, build: Callable[[], Answerer]) -> None:
        self._build = build
        self._answerer: Answerer | None = None
        self._lock = asyncio.Lock()

    async def answer(self, turn: Turn) -> Reply:
        from knowledge.errors import KnowledgeError

        async with self._lock:
            if self._answerer is None:
                try:
                    self._answerer = await asyncio.to_thread(self._build)
                except KnowledgeError as exc:
                    log.error("knowledge base unavailable: %s", exc)
                    return Reply.text(
                        f"I can't reach {turn.creator.name}'s material right now, so I can't "
                        "answer questions. Please try again in a little while."
                    )
        return await self._answerer.answer(turn)


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
