"""Query embeddings through ONNX Runtime: the same vectors as sentence-transformers, 2–3× faster
for one short query on one CPU thread.

A one-line query is dominated by torch's per-operator overhead, not by arithmetic: MiniLM takes
15–18 ms per query through sentence-transformers on one thread here, and 7 ms through ONNX
Runtime with the exported graph (benchmarks/knowledge_latency.py; docs/benchmarks.md). The
export is fp32, so its vectors equal torch's (cosine 1.0 to 6 decimals); an int8 export was
faster still but moved the similarity scale the decline thresholds are calibrated on.

The graph is exported from the loaded model on first use (torch.onnx, a few seconds) into a
cache directory keyed by the model's files and the library versions, written atomically so two
processes may race safely. Before it is used it must reproduce torch's vectors on a probe set;
anything unexpected (a model that is not transformer + mean pooling + normalize, a failed
export, a mismatch) leaves the caller on torch, with the reason logged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.embeddings import Vectors

log = logging.getLogger(__name__)

OPSET = 17
# Texts the exported graph must embed like torch before it replaces it (short and long, with
# padding in a batch, non-ASCII), and how close is close enough.
PROBES = [
    "How long should I sleep before a race?",
    "what do i eat after strength training",
    "Ça va? Ich möchte 5 km laufen — 走る",
    "Hold each stretch for thirty seconds and breathe out slowly as you lean into it. " * 8,
]
MIN_COSINE = 0.99999


class UnsupportedModel(Exception):
    """The model is not one this encoder reproduces faithfully (torch stays in use)."""


class OnnxQueryEncoder:
    """Embeds texts with an ONNX export of a sentence-transformers model (Transformer, mean
    Pooling, Normalize). Thread-safe: ONNX Runtime sessions may run concurrently, each call on
    the calling thread (one intra-op thread)."""

    def __init__(self, session: Any, tokenizer: Any, max_length: int, inputs: list[str]) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._max_length = max_length
        self._inputs = inputs

    @classmethod
    def from_model(cls, model: Any, cache_dir: Path) -> OnnxQueryEncoder:
        """Export (or reuse the cached export of) `model`, a loaded SentenceTransformer, and
        check it against torch. Raises UnsupportedModel or the export's error."""
        import onnxruntime as ort

        transformer = _check_architecture(model)
        tokenizer = transformer.tokenizer
        inputs = [name for name in ("input_ids", "attention_mask", "token_type_ids")
                  if name in tokenizer.model_input_names]  # fmt: skip
        path = cache_dir / f"{_cache_key(model)}.onnx"
        if not path.exists():
            _export(transformer.auto_model, tokenizer, inputs, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:  # a damaged cached file: export it again, once
            log.warning("the cached ONNX export %s is unreadable: exporting it again", path)
            _export(transformer.auto_model, tokenizer, inputs, path)
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        encoder = cls(session, tokenizer, int(model.max_seq_length), inputs)
        encoder._verify(model)
        return encoder

    def embed(self, texts: list[str]) -> Vectors:
        import numpy as np

        encoded = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self._max_length, return_tensors="np"
        )
        feed = {name: encoded[name].astype(np.int64) for name in self._inputs}
        hidden = self._session.run(None, feed)[0]
        mask = encoded["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        out: Vectors = (pooled / norms).astype(np.float32)
        return out

    def _verify(self, model: Any) -> None:
        import numpy as np

        expected = model.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        got = self.embed(PROBES)
        cosine = float(np.min(np.sum(expected * got, axis=1)))
        if cosine < MIN_COSINE:
            raise UnsupportedModel(f"the ONNX export differs from torch (cosine {cosine:.6f})")


def _check_architecture(model: Any) -> Any:
    names = [type(module).__name__ for module in model]
    if names not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        raise UnsupportedModel(f"modules {names}, not Transformer + Pooling + Normalize")
    if model[1].get_config_dict().get("pooling_mode") != "mean":
        raise UnsupportedModel("only mean pooling is exported")
    if len(names) == 2:
        raise UnsupportedModel("a model without Normalize is not exported (unit vectors expected)")
    return model[0]


def _cache_key(model: Any) -> str:
    """Changes when the model's weights or the exporting libraries change."""
    import onnxruntime
    import torch
    import transformers

    digest = hashlib.sha256()
    for part in (torch.__version__, transformers.__version__, onnxruntime.__version__, OPSET):
        digest.update(str(part).encode())
    directory = Path(str(getattr(model[0].auto_model, "name_or_path", "")))
    for file in sorted(directory.glob("*")) if directory.is_dir() else []:
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    digest.update(repr(model[0].auto_model.config.to_dict()).encode())
    return f"query-{digest.hexdigest()[:16]}"


def _export(auto_model: Any, tokenizer: Any, inputs: list[str], path: Path) -> None:
    import torch

    class Hidden(torch.nn.Module):
        """The transformer's last hidden state from positional inputs (what ONNX traces)."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(inputs, args, strict=True))).last_hidden_state

    sample = tokenizer(["a sample query", "and a longer second one"], padding=True,
                       return_tensors="pt")  # fmt: skip
    axes = {name: {0: "batch", 1: "tokens"} for name in [*inputs, "hidden"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=path.stem, suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        # The TorchScript exporter warns about tracing details of the model's Python code.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden(auto_model).eval(),
                tuple(sample[name] for name in inputs),
                scratch,
                input_names=inputs,
                output_names=["hidden"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(scratch, path)  # atomic: a racing process reads a whole file or none
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
