"""Peak memory and time of `tracker collect` against a gzip bomb and a 500 MB feed (issue 15).

    python bench/bomb_bench.py [--bomb-mb 1000] [--flood-mb 500]

The sandbox serves, on loopback, a Hacker News answer whose ~1 MB gzip body inflates to
1 GB of zeros, and a feed 500 MB long. `tracker collect` (default cap: 20 MB after
decompression) runs once per case in its own process; its peak RSS comes from
wait4(), its time from the wall clock. Target: under 300 MB peak, a clear error line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import write_config  # noqa: E402
from tracker.sandbox.server import SandboxServer, gzip_bomb  # noqa: E402
from tracker.sandbox.world import generate_world  # noqa: E402


def run(config: Path) -> tuple[float, float, dict[str, str]]:
    """(seconds, peak RSS in MB, stream -> error) of one `tracker collect --json`."""
    started = time.monotonic()
    command = [sys.executable, "-m", "tracker", "--config", str(config), "collect", "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    out = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    seconds = time.monotonic() - started
    reports = json.loads(out)
    return seconds, usage.ru_maxrss / 1024, {r["stream"]: r["error"] or r["status"] for r in reports}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bomb-mb", type=int, default=1000)
    parser.add_argument("--flood-mb", type=int, default=500)
    args = parser.parse_args()
    world = generate_world(seed=3, weeks=1)
    with SandboxServer(world, require_bluesky_login=False, rate_limits={}) as server, \
            tempfile.TemporaryDirectory() as scratch:  # fmt: skip
        wire = len(gzip_bomb(args.bomb_mb * 1_000_000))
        cases = [("gzip bomb", "/hn", "bomb", "acme-hn", args.bomb_mb, f"{wire / 1e6:.2f} MB gzip"),
                 ("long feed", "/rss", "flood", "acme-news", args.flood_mb, "plain"),
                 ("reference", "/rss", "", "acme-news", 0, "a normal feed")]  # fmt: skip
        print(f"{'case':<10} {'size':>12} {'wire':>14} {'time':>8} {'peak RSS':>9}  error")
        for label, prefix, kind, stream, size, on_wire in cases:
            directory = Path(scratch) / (kind or "reference")
            directory.mkdir()
            table = next(c for c in server.stream_configs() if c["name"] == stream)
            config = write_config(directory, streams=[{**table, "every": "15m"}])
            server.faults.clear()
            if kind:
                server.faults.add(prefix, kind, count=None, size=size)
            seconds, peak, errors = run(config)
            figures = f"{size:>9} MB {on_wire:>14} {seconds:>6.2f} s {peak:>6.0f} MB"
            print(f"{label:<10} {figures}  {errors[stream]}")
        server.faults.clear()


if __name__ == "__main__":
    main()
