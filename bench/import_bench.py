"""Bulk import of already-scored mentions: rows per second and peak memory.

    python bench/import_bench.py [--rows 100000] [--keep DIR]

Generates a JSONL file of prepared mentions (sentiment given, language given), then
times a whole `tracker mentions import` process on a fresh SQLite database, and
reads its peak memory (max RSS of the child) from the kernel. The reference in the
same run is a bare process that only reads and json-decodes the same file, which
says how much of the time is the import's own work.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = (
    "acme cloud launch outage support pricing love hate great awful fast slow team release "
    "feature bug update docs api customer service new old really not but very"
).split()
PLATFORMS = ("mastodon", "bluesky", "hackernews", "reddit", "rss")


def make_file(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)  # one a minute: 1,000,000 rows end before 2026-12
    with path.open("w", encoding="utf-8") as out:
        for i in range(rows):
            platform = PLATFORMS[i % len(PLATFORMS)]
            score = round(rng.uniform(-1, 1), 4)
            record = {
                "platform": platform,
                "external_id": f"{platform}:{i}",
                "url": f"https://example.org/{platform}/{i}",
                "author": f"user{rng.randrange(5000)}",
                "text": " ".join(rng.choice(WORDS) for _ in range(12)),
                "lang": "en",
                "created_at": (start + timedelta(seconds=i * 60)).isoformat().replace("+00:00", "Z"),
                "likes": rng.randrange(50),
                "reposts": rng.randrange(10),
                "replies": rng.randrange(10),
                "sentiment": score,
                "stream": f"stream-{i % 6}",
            }
            out.write(json.dumps(record) + "\n")


def run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children: run the big one last.
    return elapsed, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "mentions.jsonl"
    make_file(data, args.rows)
    (work / "tracker.toml").write_text('[organisation]\nname = "Bench"\ntimezone = "UTC"\n', encoding="utf-8")
    (work / "tracker.db").unlink(missing_ok=True)
    reader = [sys.executable, "-c", f"import json\nfor l in open({str(data)!r}): json.loads(l)"]
    ref_time, _ = run(reader, work)
    imp_time, peak = run([sys.executable, "-m", "tracker", "--config", "tracker.toml", "mentions", "import",
                          "--create-streams", str(data)], work)  # fmt: skip
    rate = args.rows / imp_time
    print(f"{'benchmark':<34} {'figure':>14} {'reference':>14} {'ratio':>8}")
    print(f"{'import ' + format(args.rows, ',') + ' scored mentions':<34} {imp_time:>12.2f} s "
          f"{ref_time:>12.2f} s {imp_time / ref_time:>7.1f}x")  # fmt: skip
    print(f"{'rows per second':<34} {rate:>14,.0f} {'>= 20,000':>14} {rate / 20000:>7.2f}x")
    print(f"{'peak memory (max RSS)':<34} {peak:>11.0f} MB {'<= 300 MB':>14} {peak / 300:>7.2f}x")


if __name__ == "__main__":
    main()
