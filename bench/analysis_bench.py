"""Analysis at scale: 300,000 mentions over a year in 6 streams with 100 experiments.

    python bench/analysis_bench.py [--mentions 300000] [--experiments 100] [--keep DIR]

Builds the data set once (import of generated, already scored mentions, plus
experiments registered through the service), then times whole processes:
`experiment measure --all` (target <= 20 s), `reflect --json` (<= 3 s) and
`digest --out` (<= 3 s at <= 400 MB peak). The reference measured in the same run
is `tracker --help`, the cost of starting a process at all.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

STREAMS = [("brand-a", "brand"), ("brand-b", "brand"), ("owned", "owned"), ("rival-a", "competitor"),
           ("rival-b", "competitor"), ("market", "brand")]  # fmt: skip
PRACTICES = ["content-calendar", "public-customer-answers", "shepherd", "influencer-outreach",
             "community-management", "always-on-listening"]  # fmt: skip
METRICS = ["mentions", "sentiment", "positive_share", "engagement", "share_of_voice"]


def write_config(work: Path) -> Path:
    lines = ['[organisation]\nname = "Bench"\ntimezone = "Europe/Vienna"\n']
    for name, role in STREAMS:
        lines.append(f'[[streams]]\nname = "{name}"\nconnector = "hackernews"\nquery = "{name}"\n'
                     f'every = "1h"\nrole = "{role}"\n')  # fmt: skip
    path = work / "tracker.toml"
    path.write_text("\n".join(lines))
    return path


def write_mentions(path: Path, count: int, first: date, rng: random.Random) -> None:
    seconds = 365 * 86400
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    with path.open("w") as out:
        for i in range(count):
            name, role = STREAMS[i % len(STREAMS)]
            created = start + timedelta(seconds=rng.randrange(seconds))
            out.write(json.dumps({
                "platform": "hackernews", "external_id": f"m{i}", "text": "bench text", "lang": "en",
                "created_at": created.isoformat(), "sentiment": round(rng.uniform(-1, 1), 4),
                "likes": rng.randrange(40), "replies": rng.randrange(9),
                "kind": "own" if role == "owned" else "mention", "stream": name,
            }) + "\n")  # fmt: skip


def register(config: Path, count: int, first: date, rng: random.Random) -> None:
    from tracker.config import load_settings
    from tracker.experiments import ExperimentInput, Registry
    from tracker.maturity import load_model
    from tracker.store.db import open_store

    settings = load_settings(config)
    store = open_store(settings.database_url)
    registry = Registry(store, settings, load_model(settings))
    for i in range(count):
        start = first + timedelta(days=60 + rng.randrange(250))
        name = STREAMS[i % 3][0]
        registry.add(ExperimentInput(
            title=f"experiment {i}", hypothesis="it helps", practice=PRACTICES[i % len(PRACTICES)],
            metric=METRICS[i % len(METRICS)], streams=[name], start=start, end=start + timedelta(days=27),
            control_stream="market" if i % 4 == 0 and name != "market" else None, owner=f"o{i % 7}",
        ))  # fmt: skip
    store.close()


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and this child's peak RSS in MB (measured by a wrapper process)."""
    wrapper = [sys.executable, "-c", (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "e = time.perf_counter() - t\n"
        "sys.stderr.buffer.write(r.stderr[-2000:]) if r.returncode else None\n"
        "print(e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
        "sys.exit(r.returncode)"
    ), *cmd]  # fmt: skip
    result = subprocess.run(wrapper, capture_output=True, text=True, cwd=cwd)
    if result.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr}")
    elapsed, peak = result.stdout.split()
    return float(elapsed), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mentions", type=int, default=300_000)
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work)
    tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
    first = date(2025, 11, 1)
    rng = random.Random(11)
    if not (work / "tracker.db").exists():
        data = work / "mentions.jsonl"
        write_mentions(data, args.mentions, first, rng)
        started = time.perf_counter()
        subprocess.run([*tracker, "mentions", "import", str(data)], check=True, capture_output=True)
        print(f"(set-up: imported {args.mentions:,} mentions in {time.perf_counter() - started:.1f} s)")
        register(config, args.experiments, first, rng)
    ref, _ = timed([*tracker, "--help"], work)
    rows = [("experiment measure --all", [*tracker, "experiment", "measure", "--all", "--json"], 20.0, None),
            ("reflect --json", [*tracker, "reflect", "--json"], 3.0, None)]  # fmt: skip
    if importlib.util.find_spec("tracker.digest.command") is not None:
        rows.append(("digest --out", [*tracker, "digest", "--out", str(work / "digest.html")], 3.0, 400.0))
    print(f"{'command':<28} {'time':>8} {'target':>8} {'ratio':>7} {'peak MB':>8} {'vs start-up':>12}")
    for label, cmd, target, memory in rows:
        elapsed, peak = timed(cmd, work)
        mem = f"{peak:>8.0f}" + (f" (<= {memory:.0f})" if memory else "")
        ratio = elapsed / target
        print(f"{label:<28} {elapsed:>6.2f} s {target:>6.1f} s {ratio:>7.2f} {mem} {elapsed / ref:>10.1f}x")
    print(f"{'reference: tracker --help':<28} {ref:>6.2f} s")


if __name__ == "__main__":
    main()
