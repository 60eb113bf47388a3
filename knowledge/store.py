"""The vector index: Chroma, one collection per creator, our own embeddings only.

Embedded mode uses a `PersistentClient` on a directory this process owns (see `locking`); the
scaled mode talks to a Chroma server with `HttpClient`. A collection per creator keeps tenants
apart inside the index itself (no query can reach another creator's vectors, whatever its
filter) and is many times faster than a metadata filter on a shared collection. Vector ids are
chunk ids; SQL stays the source of truth, and `reconcile` rebuilds the index from it.

Calls are blocking: async callers run them in a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from knowledge.locking import DirectoryOwner

if TYPE_CHECKING:
    from knowledge.embeddings import Vectors

HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 100, "max_neighbors": 16}


def collection_name(creator_id: int) -> str:
    return f"creator_{creator_id}"


class VectorStore:
    def __init__(self, client: Any, owner: DirectoryOwner | None = None) -> None:
        self.client = client
        self._owner = owner
        self._collections: dict[int, Any] = {}
        self._batch = int(client.get_max_batch_size())

    @classmethod
    def persistent(cls, directory: Path) -> VectorStore:
        owner = DirectoryOwner(directory)
        try:
            import chromadb

            client = chromadb.PersistentClient(path=str(directory), settings=_settings())
        except BaseException:
            owner.release()
            raise
        return cls(client, owner)

    @classmethod
    def remote(cls, url: str, timeout: float = 30.0) -> VectorStore:
        import chromadb

        parts = urlsplit(url)
        client = chromadb.HttpClient(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=_settings(),
        )
        # chromadb's HTTP client waits forever by default; every external call has a timeout.
        import httpx

        for session in _http_sessions(client):
            session.timeout = httpx.Timeout(timeout, connect=5.0)
        return cls(client)

    def collection(self, creator_id: int) -> Any:
        found = self._collections.get(creator_id)
        if found is None:
            # embedding_function=None: Chroma must never embed (its default downloads a model).
            found = self.client.get_or_create_collection(
                collection_name(creator_id),
                configuration={"hnsw": HNSW},
                embedding_function=None,
            )
            self._collections[creator_id] = found
        return found

    def upsert(
        self, creator_id: int, ids: Sequence[int], vectors: Vectors, document_ids: Sequence[int]
    ) -> None:
        collection = self.collection(creator_id)
        for start in range(0, len(ids), self._batch):
            end = start + self._batch
            collection.upsert(
                ids=[str(i) for i in ids[start:end]],
                embeddings=vectors[start:end],
                metadatas=[{"document_id": d} for d in document_ids[start:end]],
            )

    def delete(self, creator_id: int, ids: Sequence[int]) -> None:
        collection = self.collection(creator_id)
        for start in range(0, len(ids), self._batch):
            collection.delete(ids=[str(i) for i in ids[start : start + self._batch]])

    def delete_document(self, creator_id: int, document_id: int) -> None:
        self.collection(creator_id).delete(where={"document_id": document_id})

    def query(self, creator_id: int, vector: Vectors, k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity), best first."""
        collection = self.collection(creator_id)
        result = collection.query(query_embeddings=[vector], n_results=k, include=["distances"])
        ids = result["ids"][0]
        distances = result["distances"][0] if result["distances"] else [1.0] * len(ids)
        return [(int(i), 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

    def count(self, creator_id: int) -> int:
        return int(self.collection(creator_id).count())

    def ids(self, creator_id: int) -> set[int]:
        collection = self.collection(creator_id)
        found: set[int] = set()
        offset = 0
        while True:
            page = collection.get(include=[], limit=self._batch, offset=offset)["ids"]
            found.update(int(i) for i in page)
            if len(page) < self._batch:
                return found
            offset += len(page)

    def drop(self, creator_id: int) -> None:
        self._collections.pop(creator_id, None)
        try:
            self.client.delete_collection(collection_name(creator_id))
        except Exception as exc:  # chromadb raises NotFoundError (1.x) or ValueError (older)
            if "does not exist" not in str(exc) and "not found" not in str(exc).lower():
                raise

    def close(self) -> None:
        self._collections.clear()
        if self._owner is not None:
            self._owner.release()
            self._owner = None
        # A server's client keeps its connections open until closed (chromadb closes nothing).
        for session in _http_sessions(self.client):
            session.close()


def _http_sessions(client: Any) -> list[Any]:
    """The httpx clients under chromadb's HTTP client: its own and its admin client's (private
    attributes: none are found if they move)."""
    servers = [
        getattr(client, "_server", None),
        getattr(getattr(client, "_admin_client", None), "_server", None),
    ]
    sessions = [getattr(server, "_session", None) for server in servers]
    return [session for session in sessions if session is not None]


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)
