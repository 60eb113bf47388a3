"""The knowledge base as a LangChain retriever, scoped to one creator, for chains and tools that
speak LangChain's `BaseRetriever` interface. Imports LangChain: load it only where needed."""

from __future__ import annotations

import asyncio

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from knowledge.retrieval import Hit, Retriever


def to_document(hit: Hit) -> Document:
    return Document(
        page_content=hit.text,
        id=str(hit.chunk_id),
        metadata={
            "chunk_id": hit.chunk_id,
            "document_id": hit.document_id,
            "doc": hit.doc,
            "title": hit.title,
            "heading": hit.heading,
            "page": hit.page,
            "rank": hit.rank,
            "score": hit.score,
            "similarity": hit.similarity,
        },
    )


class KnowledgeRetriever(BaseRetriever):
    """Hybrid (dense + BM25) retrieval over one creator's material."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    creator_id: int
    k: int = 5

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        result = await self.retriever.search(self.creator_id, query, self.k)
        return [to_document(hit) for hit in result.hits]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        # The database engine is asynchronous: the synchronous API works from code that has no
        # event loop running (scripts, notebooks); async code calls `ainvoke`.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            result = asyncio.run(self.retriever.search(self.creator_id, query, self.k))
            return [to_document(hit) for hit in result.hits]
        raise RuntimeError("KnowledgeRetriever.invoke inside an event loop: use ainvoke")
