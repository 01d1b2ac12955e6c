"""The sandbox and the demo: the timings the tests used to assert, measured where they belong.

    python bench/sandbox_bench.py [--runs 5]

Targets: twelve weeks of world (`generate_world(3, 12)`) in <= 1 s, and `tracker demo
--weeks 6` (world, collection of every stream through the real connectors, measurement,
reflection, digest) in <= 60 s. The reference measured in the same run is
`tracker --help`, the cost of starting a process at all.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRACKER = [sys.executable, "-m", "tracker"]


def world_seconds(runs: int) -> float:
    from tracker.sandbox.world import generate_world

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        generate_world(3, 12)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def process_seconds(cmd: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    reference = statistics.median(process_seconds([*TRACKER, "--help"]) for _ in range(args.runs))
    rows = [("generate_world(3, 12)", world_seconds(args.runs), 1.0)]
    with tempfile.TemporaryDirectory() as work:
        demo = [*TRACKER, "demo", "--dir", str(Path(work) / "demo"), "--weeks", "6", "--seed", "3"]
        rows.append(("tracker demo --weeks 6", process_seconds(demo), 60.0))
    print(f"{'what':<26} {'time':>8} {'target':>8} {'ratio':>7} {'vs start-up':>12}")
    for label, seconds, target in rows:
        ratio, startups = seconds / target, seconds / reference
        print(f"{label:<26} {seconds:>6.2f} s {target:>6.1f} s {ratio:>7.2f} {startups:>10.1f}x")
    print(f"{'reference: tracker --help':<26} {reference:>6.2f} s")


if __name__ == "__main__":
    main()
