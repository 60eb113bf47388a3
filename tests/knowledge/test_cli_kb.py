"""The `kb` and `ask` commands, run as the real `coachbot` on a fresh data directory."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import coachbot


def test_demo_knowledge_kb_commands_and_ask(tmp_path: Path) -> None:
    assert "4 sample documents" in coachbot(tmp_path, "demo").stdout
    docs = tmp_path / "docs"
    (docs / "more").mkdir(parents=True)
    (docs / "more" / "stretching.md").write_text(
        "# Stretching\n\nHold each stretch for thirty seconds without bouncing."
    )
    (docs / "photo.pdf").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    first = coachbot(tmp_path, "kb", "ingest", "--creator", "demo", str(docs), check=False)
    assert first.returncode == 1
    assert "indexed   1" in first.stdout
    assert "failed: photo.pdf: photo.pdf is a PNG image" in first.stderr
    (docs / "photo.pdf").unlink()
    again = coachbot(tmp_path, "kb", "ingest", "--creator", "demo", str(docs))
    assert "unchanged 1" in again.stdout
    assert "embedded    0" in again.stdout

    listing = coachbot(tmp_path, "kb", "list", "--creator", "demo").stdout
    assert "stretching.md" in listing
    assert "sleep.md" in listing

    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"id": "q1", "question": "how long should I hold a stretch?"}\n'
        '{"id": "q2", "question": "how much protein per meal"}\n'
    )
    out = coachbot(
        tmp_path,
        "kb",
        "search",
        "--creator",
        "demo",
        "--queries",
        str(queries),
        "--k",
        "2",
        "--json",
    ).stdout
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in results] == ["q1", "q2"]
    top = results[0]["results"][0]
    assert set(top) == {"doc", "title", "heading", "text", "rank"}
    assert (top["doc"], top["title"], top["rank"]) == ("more/stretching.md", "Stretching", 1)
    assert results[1]["results"][0]["doc"] == "nutrition.md"
    assert len(results[1]["results"]) == 2

    covered = json.loads(
        coachbot(
            tmp_path, "ask", "--creator", "demo", "how much sleep do adults need?", "--json"
        ).stdout
    )
    assert covered["grounded"] is True
    assert "seven to nine hours" in covered["answer"]
    assert covered["citations"][0]["doc"] == "sleep.md"
    declined = json.loads(
        coachbot(
            tmp_path, "ask", "--creator", "demo", "Who won the 1998 World Cup?", "--json"
        ).stdout
    )
    assert declined == {
        "answer": declined["answer"],
        "grounded": False,
        "citations": [],
    }
    assert declined["answer"].startswith("That isn't covered in Maya Brooks's material")

    reconcile = coachbot(tmp_path, "kb", "reconcile", "--creator", "demo").stdout
    assert "equal: 17 chunks = 17 vectors" in reconcile
    assert (
        "removed more/stretching.md"
        in coachbot(tmp_path, "kb", "rm", "--creator", "demo", "more/stretching.md").stdout
    )
