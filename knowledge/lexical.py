"""The lexical half of retrieval: BM25 over a creator's chunks (bm25s, sparse matrices, Snowball
stemming), built in memory from SQL and rebuilt when the knowledge base's revision changes.

Why in memory rather than the database's full-text search: it ranks the same way on SQLite and
PostgreSQL, needs no dialect-specific schema, and answers in about a millisecond at 100k chunks;
PostgreSQL's ts_rank would score every matching row on each query.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any


def _tokenizer() -> Any:
    import bm25s
    import Stemmer

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each index build at DEBUG

    return bm25s.tokenization.Tokenizer(stemmer=Stemmer.Stemmer("english"), stopwords="en")


class LexicalIndex:
    """An immutable BM25 index of (chunk id, text) pairs; build once, query from any thread."""

    def __init__(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        import bm25s

        self.ids = list(ids)
        self._lock = threading.Lock()  # the tokenizer keeps state between calls
        self._tokenizer = _tokenizer()
        self._bm25: Any = None
        if self.ids:
            tokens = self._tokenizer.tokenize(list(texts), update_vocab=True, show_progress=False)
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokens, show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score), best first; only chunks sharing a term with the query."""
        if self._bm25 is None or k <= 0:
            return []
        with self._lock:
            tokens = self._tokenizer.tokenize([query], update_vocab=False, show_progress=False)
        if not any(tokens[0]):
            return []
        k = min(k, len(self.ids))
        found, scores = self._bm25.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [
            (self.ids[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0
        ]


class LexicalCache:
    """One index per creator, reused while the knowledge base's revision is unchanged."""

    def __init__(self) -> None:
        self._indexes: dict[int, tuple[int, LexicalIndex]] = {}
        self._lock = threading.Lock()

    def get(self, creator_id: int, revision: int) -> LexicalIndex | None:
        with self._lock:
            cached = self._indexes.get(creator_id)
        return cached[1] if cached and cached[0] == revision else None

    def latest(self, creator_id: int) -> LexicalIndex | None:
        """The index of the newest revision built, whatever it is."""
        with self._lock:
            cached = self._indexes.get(creator_id)
        return cached[1] if cached else None

    def put(self, creator_id: int, revision: int, index: LexicalIndex) -> None:
        with self._lock:
            current = self._indexes.get(creator_id)
            if current is None or current[0] <= revision:
                self._indexes[creator_id] = (revision, index)
