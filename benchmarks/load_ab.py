"""Two revisions under the same load, alternated: `load_run.py` on the working tree and on a
git revision, run after run, because on these shared machines the same code moves by a third
from one minute to the next, and only runs close together compare.

    python benchmarks/load_ab.py --base REV [--pairs 2] [--order AB|BA] [-- LOAD_RUN_ARGS...]

The revision is checked out into a temporary git worktree, and this working tree's
`benchmarks/` is copied over it, so both sides are measured by the same harness. Each run's
summary block is kept in the output directory; the table at the end has one row per run (the
program-step phase: turns/s, its ratio to the raw hello-world of the same run, the whole
machine's CPU per turn and its ratio to a raw request's, PostgreSQL's CPU, and the half-load
p99), then the median of each side.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PATTERNS = {
    "turns": r"full load \(closed loop, [\d.]+ s\): ([\d,.]+) turns/s",
    "ratio": r"turns/s = 1/(\d+) of raw",
    "machine": r"whole machine ([\d.]+) =",
    "machine_ratio": r"whole machine [\d.]+ = (\d+)×",
    "postgres": r"postgres ([\d.]+);",
    "p99": r"half load \(open loop[^)]*\)[^\n]*p99 (\d+) ms",
}


@dataclass
class Run:
    side: str  # "working tree" or the revision
    figures: dict[str, float]


def program_figures(output: str) -> dict[str, float]:
    """The program-step phase's figures: the first match of each pattern in the summary."""
    block = output[output.rfind("program-step turns") :]
    figures = {}
    for name, pattern in PATTERNS.items():
        found = re.search(pattern, block)
        if found is None:
            raise ValueError(f"no {name} in the load run's summary")
        figures[name] = float(found.group(1).replace(",", ""))
    return figures


def run(directory: Path, args: list[str], log: Path, timeout: float) -> dict[str, float]:
    command = [sys.executable, "benchmarks/load_run.py", *args]
    done = subprocess.run(
        command, cwd=directory, capture_output=True, text=True, timeout=timeout, check=False
    )
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"load_run failed in {directory} (see {log})")
    return program_figures(done.stdout)


def table(runs: list[Run], sides: tuple[str, str]) -> str:
    header = (
        "| run | side | turns/s | ratio | whole machine ms | ÷ raw request | postgres ms "
        "| half-load p99 ms |"
    )
    rows = [header, "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(runs, 1):
        f = r.figures
        rows.append(
            f"| {i} | {r.side} | {f['turns']:.1f} | 1/{f['ratio']:.0f} | {f['machine']:.1f} | "
            f"{f['machine_ratio']:.0f}× | {f['postgres']:.1f} | {f['p99']:.0f} |"
        )
    for side in sides:
        mine = [r.figures for r in runs if r.side == side]
        med = {k: statistics.median(f[k] for f in mine) for k in PATTERNS}
        rows.append(
            f"| median | {side} | {med['turns']:.1f} | 1/{med['ratio']:.0f} | "
            f"{med['machine']:.1f} | {med['machine_ratio']:.0f}× | {med['postgres']:.1f} | "
            f"{med['p99']:.0f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the git revision to compare against")
    parser.add_argument("--pairs", type=int, default=2, help="runs of each side (1 to 10)")
    parser.add_argument("--order", choices=["AB", "BA"], default="AB", help="A is the base")
    parser.add_argument("--timeout", type=float, default=900.0, help="per run, in seconds")
    parser.add_argument("load_run_args", nargs="*", help="after --: passed to load_run.py")
    args = parser.parse_args()
    if not 1 <= args.pairs <= 10:
        parser.error("--pairs must be 1 to 10")
    revision = subprocess.run(
        ["git", "rev-parse", "--short", args.base],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    out = Path(tempfile.mkdtemp(prefix="coachbot-ab-"))
    base = out / "base"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(base), revision], cwd=ROOT, check=True
    )
    try:
        shutil.rmtree(base / "benchmarks")
        shutil.copytree(ROOT / "benchmarks", base / "benchmarks")
        sides = {"A": (revision, base), "B": ("working tree", ROOT)}
        runs: list[Run] = []
        for pair in range(1, args.pairs + 1):
            for key in args.order:
                name, directory = sides[key]
                log = out / f"{key}{pair}.log"
                print(f"run {len(runs) + 1}: {name} …", flush=True)
                runs.append(Run(name, run(directory, args.load_run_args, log, args.timeout)))
        print(f"\nlogs in {out}\n")
        print(table(runs, (revision, "working tree")))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
