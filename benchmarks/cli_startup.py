"""`coachbot --help` start-up time as a ratio to a bare `python -c pass`, measured in one run.

python benchmarks/cli_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    baseline = median_seconds([sys.executable, "-c", "pass"], args.runs)
    help_ = median_seconds([sys.executable, "-m", "config.cli", "--help"], args.runs)
    print(f"python -c pass     median {baseline * 1000:7.1f} ms")
    print(f"coachbot --help    median {help_ * 1000:7.1f} ms   ({help_ / baseline:.1f}x baseline)")


if __name__ == "__main__":
    main()
