"""Query embeddings through ONNX Runtime: the same vectors as sentence-transformers, 2–3× faster
for one short query on one CPU thread, and without torch in the process.

A one-line query is dominated by torch's per-operator overhead, not by arithmetic: MiniLM takes
15–18 ms per query through sentence-transformers on one thread here, and 7 ms through ONNX
Runtime with the exported graph (benchmarks/knowledge_latency.py; docs/benchmarks.md). The
export is fp32, so its vectors equal torch's (cosine 1.0 to 6 decimals); an int8 export was
faster still but moved the similarity scale the decline thresholds are calibrated on.

The graph is exported from the loaded model once (torch.onnx, a few seconds) into a cache
directory, keyed by the model's files and the library versions, beside a small JSON file with
torch's own vectors for a few probe texts; both are written atomically, so processes may race.
Every load checks the export against those vectors, so a process that only answers questions
(`coachbot serve` in scaled mode) never imports torch, which saves it about 400 MB. Anything
unexpected (a model that is not transformer + mean pooling + normalize, a failed export, a
mismatch) leaves the caller on torch, with the reason logged.

A process that has not loaded torch makes a missing export in a child process
(`python -m knowledge.onnx_query --model-dir ... --cache-dir ...`, `export_in_child`), then
loads it from the cache: torch and sentence-transformers come and go with the child, so even the
first question of a fresh data dir leaves the serve without them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.embeddings import Vectors

log = logging.getLogger(__name__)

OPSET = 17
# Texts the exported graph must embed like torch before it is used (short and long: one past
# the model's length limit, so truncation is checked too; padding in a batch; non-ASCII).
PROBES = [
    "How long should I sleep before a race?",
    "what do i eat after strength training",
    "Ça va? Ich möchte 5 km laufen — 走る",
    "Hold each stretch for thirty seconds and breathe out slowly as you lean into it. " * 25,
]
MIN_COSINE = 0.99999
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# How long a child process may take to load the model and export it (a few seconds on an idle
# 2-core machine; the first question of a fresh data dir waits for it).
EXPORT_TIMEOUT = 300.0
STDERR_TAIL = 2_000  # characters of a failed child's stderr kept in the warning
# A scratch file this old was left by an exporter that was killed (a child past its timeout, a
# kill -9); a live one, even a racing process's, is younger. Exports are ~90 MB each.
STALE_SCRATCH_SECONDS = 2 * EXPORT_TIMEOUT


class UnsupportedModel(Exception):
    """The model is not one this encoder reproduces faithfully (torch stays in use)."""


class ExportFailed(Exception):
    """The child process did not leave a usable export; the message says why."""


class OnnxQueryEncoder:
    """Embeds texts with an ONNX export of a sentence-transformers model (Transformer, mean
    Pooling, Normalize), tokenized by the model's own `tokenizer.json`. Thread-safe: ONNX
    Runtime sessions may run concurrently, each call on the calling thread (one intra-op
    thread)."""

    def __init__(self, session: Any, tokenizer: Any) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._inputs = [i.name for i in session.get_inputs()]

    @classmethod
    def load_cached(cls, model_dir: Path, cache_dir: Path) -> OnnxQueryEncoder | None:
        """The cached export of the model in `model_dir`, checked against the vectors torch
        gave when it was made; None if there is none (or it fails the check). No torch."""
        key = cache_key(model_dir)
        if key is None:
            return None
        graph, facts = cache_dir / f"{key}.onnx", cache_dir / f"{key}.json"
        if not graph.exists() or not facts.exists():
            return None
        try:
            known = json.loads(facts.read_text())
            encoder = cls(_session(graph), _tokenizer(model_dir, int(known["max_length"])))
            encoder.verify(known["probes"], known["vectors"])
        except Exception as exc:
            log.info("the cached ONNX export %s is not usable (%s): exporting again", graph, exc)
            return None
        return encoder

    @classmethod
    def from_model(cls, model: Any, model_dir: Path, cache_dir: Path) -> OnnxQueryEncoder:
        """Export `model`, a loaded SentenceTransformer read from `model_dir`, into the cache
        and check it against torch. Raises UnsupportedModel or the export's error."""
        transformer = _check_architecture(model)
        key = exportable_key(model_dir)
        graph, facts = cache_dir / f"{key}.onnx", cache_dir / f"{key}.json"
        inputs = [n for n in INPUTS if n in transformer.tokenizer.model_input_names]
        _export(transformer.auto_model, transformer.tokenizer, inputs, graph)
        max_length = int(model.max_seq_length)
        encoder = cls(_session(graph), _tokenizer(model_dir, max_length))
        expected = model.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        encoder.verify(PROBES, expected.tolist())
        facts_json = {"max_length": max_length, "probes": PROBES, "vectors": expected.tolist()}
        _write_atomically(facts, lambda path: Path(path).write_text(json.dumps(facts_json)))
        return encoder

    def embed(self, texts: list[str]) -> Vectors:
        import numpy as np

        encoded = self._tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encoded],
            "attention_mask": [e.attention_mask for e in encoded],
            "token_type_ids": [e.type_ids for e in encoded],
        }
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self._inputs}
        hidden = self._session.run(None, feed)[0]
        mask = np.asarray(columns["attention_mask"], dtype=np.float32)[..., None]
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        out: Vectors = (pooled / norms).astype(np.float32)
        return out

    def verify(self, probes: list[str], vectors: list[list[float]]) -> None:
        import numpy as np

        got = self.embed(probes)
        cosine = float(np.min(np.sum(np.asarray(vectors, dtype=np.float32) * got, axis=1)))
        if cosine < MIN_COSINE:
            raise UnsupportedModel(f"the ONNX export differs from torch (cosine {cosine:.6f})")


def cache_key(model_dir: Path) -> str | None:
    """Changes when the model's files or the exporting libraries change; None for a model
    that is not a local directory. Reads versions without importing torch."""
    if not model_dir.is_dir():
        return None
    digest = hashlib.sha256(str(OPSET).encode())
    for package in ("torch", "transformers", "onnxruntime", "tokenizers"):
        try:
            digest.update(f"{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package}=none".encode())
    for file in sorted(model_dir.rglob("*")):
        if file.is_file():
            stat = file.stat()
            name = file.relative_to(model_dir)
            digest.update(f"{name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return f"query-{digest.hexdigest()[:16]}"


def exportable_key(model_dir: Path) -> str:
    """The cache key of a model that can be exported; UnsupportedModel if it cannot (not a
    local directory with a tokenizer.json)."""
    key = cache_key(model_dir)
    if key is None or not (model_dir / "tokenizer.json").is_file():
        raise UnsupportedModel(f"{model_dir} is not a local model with a tokenizer.json")
    return key


def export_command(model_dir: Path, cache_dir: Path) -> list[str]:
    """The child process that exports the model (a seam: tests replace it)."""
    return [
        sys.executable,
        "-m",
        "knowledge.onnx_query",
        "--model-dir",
        str(model_dir),
        "--cache-dir",
        str(cache_dir),
    ]


def export_in_child(
    model_dir: Path, cache_dir: Path, timeout: float = EXPORT_TIMEOUT
) -> OnnxQueryEncoder:
    """Export the model in `model_dir` into `cache_dir` in a child process and load the result
    here, without torch. Raises UnsupportedModel before starting a child for a model that
    cannot be exported, ExportFailed (with the child's stderr tail) if the child fails, times
    out (it is killed) or leaves no usable export."""
    exportable_key(model_dir)
    env = dict(os.environ)
    # The child imports this same package, wherever the parent found it.
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 (our own interpreter and module, no shell)
            export_command(model_dir, cache_dir),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ExportFailed(f"timed out after {timeout:g} s{_tail(exc.stderr)}") from None
    except OSError as exc:
        raise ExportFailed(f"could not start: {exc}") from exc
    if done.returncode != 0:
        raise ExportFailed(f"exit status {done.returncode}{_tail(done.stderr)}")
    encoder = OnnxQueryEncoder.load_cached(model_dir, cache_dir)
    if encoder is None:
        raise ExportFailed(f"exit status 0 but no usable export in {cache_dir}{_tail(done.stderr)}")
    log.info(
        "exported the ONNX query model in a child process in %.1f s", time.monotonic() - started
    )
    return encoder


def _tail(stderr: str | bytes | None) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    text = (stderr or "").strip()
    if not text:
        return " (no stderr)"
    return f"; stderr: {'...' if len(text) > STDERR_TAIL else ''}{text[-STDERR_TAIL:]}"


def main(argv: Sequence[str] | None = None) -> int:
    """The child process of `export_in_child`: load the model with torch, export it into the
    cache (unless a racing process already did), exit 0 if a usable export is there."""
    parser = argparse.ArgumentParser(
        prog="python -m knowledge.onnx_query",
        description="Export a sentence-transformers model's ONNX query graph into a cache dir.",
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="the model's directory")
    parser.add_argument("--cache-dir", type=Path, required=True, help="where exports are kept")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    model_dir: Path = args.model_dir
    cache_dir: Path = args.cache_dir
    if OnnxQueryEncoder.load_cached(model_dir, cache_dir) is not None:
        return 0  # a racing process made it meanwhile
    from knowledge.embeddings import SentenceEmbedder

    try:
        model = SentenceEmbedder(str(model_dir), query_backend="torch").model
        OnnxQueryEncoder.from_model(model, model_dir, cache_dir)
    except UnsupportedModel as exc:
        print(f"unsupported model: {exc}", file=sys.stderr)
        return 2
    return 0


def _session(graph: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def _tokenizer(model_dir: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    pad_token = "[PAD]"  # noqa: S105 (BERT's padding token, not a secret)
    config = model_dir / "tokenizer_config.json"
    if config.is_file():
        pad_token = json.loads(config.read_text()).get("pad_token") or pad_token
    pad_id = tokenizer.token_to_id(pad_token)
    tokenizer.enable_padding(pad_id=pad_id or 0, pad_token=pad_token)
    return tokenizer


def _check_architecture(model: Any) -> Any:
    names = [type(module).__name__ for module in model]
    if names != ["Transformer", "Pooling", "Normalize"]:
        raise UnsupportedModel(f"modules {names}, not Transformer + Pooling + Normalize")
    if model[1].get_config_dict().get("pooling_mode") != "mean":
        raise UnsupportedModel("only mean pooling is exported")
    return model[0]


def _write_atomically(path: Path, write: Callable[[str], object]) -> None:
    """Write through a scratch file renamed into place: a racing process reads a whole file
    or none. Scratch files killed exporters left behind are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_scratch(path.parent)
    fd, scratch = tempfile.mkstemp(prefix=path.stem, suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(scratch)
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)


def _remove_stale_scratch(directory: Path) -> None:
    now = time.time()
    for scratch in directory.glob("*.part"):
        try:
            if now - scratch.stat().st_mtime > STALE_SCRATCH_SECONDS:
                scratch.unlink()
                log.info("removed %s, left by an export that did not finish", scratch)
        except FileNotFoundError:
            pass  # a racing process removed or renamed it meanwhile


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

    def export(scratch: str) -> None:
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

    _write_atomically(path, export)


if __name__ == "__main__":
    raise SystemExit(main())
