"""A language model's answer streams to the widget token by token (through the real
KnowledgeAnswerer and LangChain's fake chat model), then the checked answer replaces the draft;
the decline marker is never streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from config.settings import Settings
from config.web import create_app
from engine.answering import KnowledgeAnswerer
from engine.channel_bindings import BindingInfo
from engine.clock import ManualClock
from engine.db import Database
from engine.pipeline import Engine
from engine.streaming import invoke, stream_to
from knowledge.retrieval import Hit, SearchResult
from knowledge.service import KnowledgeConfig
from tests.web.conftest import AppClient, connect, new_token

ANSWER = "Most adults need **seven to nine hours** of sleep a night [1]."


class OneDocument:
    """Knowledge that always finds the same passage (retrieval is tested in tests/knowledge)."""

    config = KnowledgeConfig()

    async def search(self, creator_id: int, query: str, *args: Any, **kwargs: Any) -> SearchResult:
        hit = Hit(1, 1, "sleep.md", "Sleep basics", "How much", None, ANSWER, 1, 1.0, 0.9)
        return SearchResult(query, [hit], best_similarity=0.9)


def model(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


@pytest.fixture
async def llm_client(
    settings: Settings, db: Database, clock: ManualClock
) -> AsyncIterator[AppClient]:
    answerer = KnowledgeAnswerer(
        cast(Any, OneDocument()), chat_model=model(ANSWER, "NOT_COVERED"), timeout=10
    )
    app = create_app(settings, db, Engine(db, clock=clock, answerer=answerer))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def test_the_answer_streams_then_the_checked_message_replaces_it(
    llm_client: AppClient, widget: BindingInfo
) -> None:
    socket, _ = await connect(llm_client, widget, await new_token(llm_client, widget))
    (final,) = await socket.reply_to("msg-00000001", "How much sleep do I need?")
    streamed = [f for f in socket.seen if f["type"] == "stream"]
    assert len(streamed) > 3  # token by token, not one block
    assert {f["turn"] for f in streamed} == {"msg-00000001"}
    assert "".join(f["text"] for f in streamed) == ANSWER
    kinds = [
        "reply" if f["type"] == "message" and f["message"]["dir"] == "out" else f["type"]
        for f in socket.seen
    ]
    assert kinds.index("reply") > max(i for i, t in enumerate(kinds) if t == "stream")
    assert final["text"].startswith(ANSWER)
    assert final["text"].endswith("Sources: [1] Sleep basics")

    socket.seen.clear()  # the model declines the next question: nothing of it is streamed
    (decline,) = await socket.reply_to("msg-00000002", "How do I fix my bike?")
    assert "isn't covered" in decline["text"]
    assert [f for f in socket.seen if f["type"] == "stream"] == []


async def test_without_a_sink_the_chain_is_invoked_as_before() -> None:
    chunks: list[str] = []

    class Chain:
        async def ainvoke(self, inputs: Any) -> str:
            return "whole"

        async def astream(self, inputs: Any) -> AsyncIterator[str]:
            for part in ("NOT", "_CO", "VERED"):
                yield part

    assert await invoke(Chain(), {}) == "whole"

    async def sink(text: str) -> None:
        chunks.append(text)

    with stream_to(sink):
        assert await invoke(Chain(), {}, hold="NOT_COVERED") == "NOT_COVERED"
        assert await invoke(Chain(), {}, hold="NOT_USED") == "NOT_COVERED"
    assert chunks == ["NOT_CO", "VERED"]  # held while it could be the marker, then sent
