"""Issue 3's acceptance run, from the real CLI: `coachbot kb ingest` of 300 mixed Markdown, HTML,
DOCX and PDF files with a progress bar; an unchanged re-ingest embeds 0 chunks; `kb reconcile`
reports equal counts.

    python -m benchmarks.knowledge_acceptance [--files 300] [--keep DIR]

The files are the quality corpus's 46 documents (`benchmarks/corpus/source/`), each rendered in
its own format several times with a distinct note in every paragraph (so no two files and no
two chunks are the same), in nested folders. The commands run as subprocesses on a fresh data
directory, exactly as a coach would type them; their output is printed as it comes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.knowledge_corpus import read_sources, render


def variants(count: int) -> list[tuple[str, bytes]]:
    sources = read_sources()
    files = []
    for i in range(count):
        source = sources[i % len(sources)]
        copy = i // len(sources)
        paragraphs = source.body.split("\n\n")
        noted = [
            p if p.startswith(("#", "-", "|", "1.")) else f"{p} (Note {copy}.{j}.)"
            for j, p in enumerate(paragraphs)
        ]
        body = re.sub(r"^# (.*)$", rf"# \1 ({copy + 1})", "\n\n".join(noted), count=1, flags=re.M)
        variant = dataclasses.replace(source, body=body)
        folder = ("sleep", "nutrition", "training", "habits")[i % 4]
        files.append((f"{folder}/copy{copy}/{variant.file_name}", render(variant)))
    return files


def coachbot(env: dict[str, str], *args: str) -> str:
    started = time.perf_counter()
    print(f"$ coachbot {' '.join(args)}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "config.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )  # stderr (the progress bar) goes straight to the terminal
    print(result.stdout, end="", flush=True)
    print(f"  [{time.perf_counter() - started:.1f} s, exit {result.returncode}]", flush=True)
    if result.returncode != 0:
        raise SystemExit(f"coachbot {' '.join(args)} failed")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--keep", help="use this directory (kept) instead of a temporary one")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="coachbot-acceptance-"))
    docs = root / "docs"
    files = variants(args.files)
    for name, data in files:
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_bytes(data)
    kinds = sorted({Path(n).suffix for n, _ in files})
    counts = {k: sum(1 for n, _ in files if n.endswith(k)) for k in kinds}
    print(f"{len(files)} files in {docs}: {counts}", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOT_")}
    env["COACHBOT_DATA_DIR"] = str(root / "data")
    coachbot(env, "demo")
    first = coachbot(env, "kb", "ingest", "--creator", "demo", str(docs))
    again = coachbot(env, "kb", "ingest", "--creator", "demo", str(docs))
    report = coachbot(env, "kb", "reconcile", "--creator", "demo")
    assert re.search(rf"indexed\s+{len(files)}\b", first), first
    assert re.search(rf"unchanged\s+{len(files)}\b", again), again
    assert re.search(r"embedded\s+0\b", again), again
    assert "equal:" in report, report
    print("acceptance: all ingested, unchanged re-ingest embedded 0, reconcile equal")


if __name__ == "__main__":
    main()
