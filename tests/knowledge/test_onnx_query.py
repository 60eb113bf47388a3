"""Questions are embedded through an ONNX export of the model: the same vectors as torch, an
export made once and reused, and torch whenever the export cannot be trusted."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knowledge import onnx_query
from knowledge.embeddings import SentenceEmbedder, resolve_model

QUESTIONS = [
    "How many hours of sleep do I need?",
    "protein after workouts??",
    "Je cours 5 km, est-ce que je dois m'étirer avant ?",
    "I keep skipping breakfast because mornings are chaos with the kids, what can I do " * 20,
    "🙂",
]


def torch_vectors(embedder: SentenceEmbedder, texts: list[str]) -> Any:
    return np.stack([embedder.embed([text])[0] for text in texts])


def test_onnx_queries_equal_torch_vectors(sentence_embedder: SentenceEmbedder) -> None:
    assert sentence_embedder.query_encoder() is not None  # the export is in use
    onnx = np.stack([sentence_embedder.embed_query(q) for q in QUESTIONS])
    expected = torch_vectors(sentence_embedder, QUESTIONS)
    assert onnx.dtype == np.float32
    assert onnx.shape == expected.shape == (len(QUESTIONS), 384)
    assert np.min(np.sum(onnx * expected, axis=1)) > 0.99999
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)


def test_the_export_is_made_once_and_reused_without_torch(
    sentence_embedder: SentenceEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = SentenceEmbedder(cache_dir=tmp_path)
    first._model = sentence_embedder.model  # the loaded weights; the export is what is tested
    assert first.query_encoder() is not None
    assert len(list(tmp_path.glob("*.onnx"))) == 1
    assert len(list(tmp_path.glob("*.json"))) == 1  # torch's vectors for the probe texts
    assert not list(tmp_path.glob("*.part"))  # written atomically, nothing left behind

    def no_export(*args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_query, "_export", no_export)
    second = SentenceEmbedder(cache_dir=tmp_path)
    assert second.query_encoder() is not None
    vector = second.embed_query(QUESTIONS[3])
    assert second._model is None  # questions answered without loading torch's model
    assert float(vector @ torch_vectors(sentence_embedder, QUESTIONS[3:4])[0]) > 0.99999


def test_an_export_removes_scratch_files_killed_exporters_left_behind(tmp_path: Path) -> None:
    # A child killed at its timeout (or a kill -9) never renames its ~90 MB scratch file.
    stale = tmp_path / "query-abc.onnx1x2y.part"
    racing = tmp_path / "query-abc.onnx3z4w.part"  # another process exporting right now
    stale.write_bytes(b"half an export")
    racing.write_bytes(b"an export in progress")
    old = time.time() - onnx_query.STALE_SCRATCH_SECONDS - 60
    os.utime(stale, (old, old))

    onnx_query._write_atomically(tmp_path / "query-abc.json", lambda p: Path(p).write_text("{}"))

    assert (tmp_path / "query-abc.json").read_text() == "{}"
    assert not stale.exists()
    assert racing.read_bytes() == b"an export in progress"
    assert sorted(tmp_path.glob("*.part")) == [racing]


def test_a_damaged_or_doubtful_cached_export_is_made_again(
    sentence_embedder: SentenceEmbedder, tmp_path: Path
) -> None:
    first = SentenceEmbedder(cache_dir=tmp_path)
    first._model = sentence_embedder.model
    assert first.query_encoder() is not None
    (export,) = tmp_path.glob("*.onnx")
    export.write_bytes(b"not a model")
    second = SentenceEmbedder(cache_dir=tmp_path)
    second._model = sentence_embedder.model
    assert second.query_encoder() is not None
    assert export.stat().st_size > 1_000_000
    # Recorded vectors that the export does not reproduce: not trusted, exported again.
    (facts,) = tmp_path.glob("*.json")
    known = json.loads(facts.read_text())
    known["vectors"][0] = [-v for v in known["vectors"][0]]
    facts.write_text(json.dumps(known))
    third = SentenceEmbedder(cache_dir=tmp_path)
    third._model = sentence_embedder.model
    assert third.query_encoder() is not None
    assert json.loads(facts.read_text())["vectors"][0][0] == -known["vectors"][0][0]


def test_a_failed_export_leaves_queries_on_torch(
    sentence_embedder: SentenceEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_export(*args: object) -> None:
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(onnx_query, "_export", broken_export)
    embedder = SentenceEmbedder(cache_dir=tmp_path)
    embedder._model = sentence_embedder.model
    with caplog.at_level(logging.WARNING, logger="knowledge.embeddings"):
        vector = embedder.embed_query(QUESTIONS[1])
    assert embedder.query_encoder() is None
    assert "stay on torch" in caplog.text
    assert "exporter exploded" in caplog.text
    assert np.array_equal(vector, sentence_embedder.embed([QUESTIONS[1]])[0])


def test_an_export_that_differs_from_torch_is_refused(
    sentence_embedder: SentenceEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_embed = onnx_query.OnnxQueryEncoder.embed

    def skewed(self: onnx_query.OnnxQueryEncoder, texts: list[str]) -> Any:
        vectors = real_embed(self, texts)
        vectors[:, 0] += 0.05  # a small drift, as a wrong pooling or a lossy export would give
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    monkeypatch.setattr(onnx_query.OnnxQueryEncoder, "embed", skewed)
    embedder = SentenceEmbedder(cache_dir=tmp_path)
    embedder._model = sentence_embedder.model
    assert embedder.query_encoder() is None


def test_the_torch_backend_never_exports(
    sentence_embedder: SentenceEmbedder, tmp_path: Path
) -> None:
    embedder = SentenceEmbedder(query_backend="torch", cache_dir=tmp_path)
    embedder._model = sentence_embedder.model
    assert embedder.query_encoder() is None
    assert embedder.embed_query("hello").shape == (384,)
    assert not list(tmp_path.iterdir())


# A process that only answers questions, with an empty cache: the export is made in a child
# process and the question answered through it, without torch ever entering this process.
LEAN_QUESTION = "how do I sleep better"
LEAN_SCRIPT = """
import json, sys
from pathlib import Path
from knowledge.embeddings import SentenceEmbedder

vector = SentenceEmbedder(cache_dir=Path(sys.argv[1])).embed_query(sys.argv[2])
print(json.dumps({
    "torch": "torch" in sys.modules,
    "sentence_transformers": "sentence_transformers" in sys.modules,
    "vector": vector.tolist(),
}))
"""


@pytest.mark.slow
def test_a_fresh_cache_is_exported_in_a_child_and_torch_stays_out(
    sentence_embedder: SentenceEmbedder, tmp_path: Path
) -> None:
    cache = tmp_path / "models"
    done = subprocess.run(
        [sys.executable, "-c", LEAN_SCRIPT, str(cache), LEAN_QUESTION],
        capture_output=True,
        text=True,
        timeout=onnx_query.EXPORT_TIMEOUT + 60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch"] is False
    assert result["sentence_transformers"] is False
    assert len(list(cache.glob("*.onnx"))) == 1
    assert len(list(cache.glob("*.json"))) == 1
    assert not list(cache.glob("*.part"))
    vector = np.asarray(result["vector"], dtype=np.float32)
    expected = sentence_embedder.embed([LEAN_QUESTION])[0]
    assert vector.shape == (384,)
    assert float(vector @ expected) >= 0.9999


def test_a_failed_child_export_falls_back_to_exporting_here(
    sentence_embedder: SentenceEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing_child(model_dir: Path, cache_dir: Path) -> list[str]:
        return [sys.executable, "-c", "import sys; sys.stderr.write('child broke'); sys.exit(3)"]

    monkeypatch.setattr(onnx_query, "export_command", failing_child)
    embedder = SentenceEmbedder(cache_dir=tmp_path)
    # No model loaded (so the child is tried); the fallback's load gets the session's model.
    monkeypatch.setattr(embedder, "_load", lambda: sentence_embedder.model)
    with caplog.at_level(logging.WARNING, logger="knowledge.embeddings"):
        vector = embedder.embed_query(QUESTIONS[0])
    assert "child process failed" in caplog.text
    assert "exit status 3" in caplog.text
    assert "child broke" in caplog.text
    assert embedder.query_encoder() is not None  # exported in this process instead
    assert len(list(tmp_path.glob("*.onnx"))) == 1
    assert float(vector @ sentence_embedder.embed([QUESTIONS[0]])[0]) > 0.99999


def test_a_child_that_hangs_or_leaves_nothing_is_a_failed_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = Path(resolve_model(""))
    monkeypatch.setattr(
        onnx_query,
        "export_command",
        lambda *args: [
            sys.executable,
            "-c",
            "import sys, time; print('busy', file=sys.stderr, flush=True); time.sleep(30)",
        ],
    )
    with pytest.raises(onnx_query.ExportFailed, match=r"timed out after 0\.5 s"):
        onnx_query.export_in_child(model_dir, tmp_path, timeout=0.5)
    monkeypatch.setattr(onnx_query, "export_command", lambda *args: [sys.executable, "-c", "pass"])
    with pytest.raises(onnx_query.ExportFailed, match="exit status 0 but no usable export"):
        onnx_query.export_in_child(model_dir, tmp_path)


def test_a_model_that_cannot_be_exported_starts_no_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_child(*args: object) -> list[str]:
        raise AssertionError("a child was started")

    monkeypatch.setattr(onnx_query, "export_command", no_child)
    with pytest.raises(onnx_query.UnsupportedModel):
        onnx_query.export_in_child(tmp_path / "no-such-model", tmp_path)


def test_query_threads_import_torch_only_when_torch_answers(
    sentence_embedder: SentenceEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    embedder = SentenceEmbedder(query_backend="torch")
    embedder._model = sentence_embedder.model
    monkeypatch.delitem(sys.modules, "torch")  # as in a process that has not imported it
    embedder.prepare_query_thread(1)
    assert calls == []  # deferred: nothing imported for a thread that may never need torch
    monkeypatch.setitem(sys.modules, "torch", torch)
    embedder.embed_query("hello")
    embedder.embed_query("hello again")
    assert calls == [1]  # applied once, on the first query torch answers
    embedder.prepare_query_thread(2)
    assert calls == [1, 2]  # torch loaded: applied at once
