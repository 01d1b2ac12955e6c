"""The demo's detection table over many seeds: found / missed / correctly null / false claim.

    python bench/demo_detection.py --seeds 1-20 --weeks 12

Each seed builds the whole demo workspace (sandbox world, weekly collections, experiments
measured and concluded on their simulated days) in a temporary folder, and compares every
measured verdict with the effect the sandbox injected (tracker/demo.py `detection`). It
prints one row per experiment of the plan, the totals, and the stage history each seed's
reflection replays (its moves, with their dates).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from tracker.demo import OUTCOMES, run_demo


def seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-20")
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--json", type=Path, help="also write the raw outcomes here")
    args = parser.parse_args()
    table: dict[str, Counter[str]] = defaultdict(Counter)
    truth: dict[str, str] = {}
    histories = []
    raw = []
    for seed in seeds(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            report = run_demo(Path(tmp) / "demo", weeks=args.weeks, seed=seed, echo=lambda _: None,
                              progress=False)  # fmt: skip
            from tracker.config import load_settings
            from tracker.maturity import load_model
            from tracker.reflection import reflect
            from tracker.store.db import open_store

            settings = load_settings(report.files["config"])
            store = open_store(settings.database_url)
            try:
                result = reflect(store, settings, load_model(settings))
            finally:
                store.close()
        moves = [f"{m['date']} {m['from']['name']}->{m['to']['name']}" for m in result["moves"]]
        histories.append((seed, report.stage, moves))
        for v in report.verdicts:
            table[v["title"]][v["outcome"]] += 1
            truth[v["title"]] = "no effect" if v["truth"] == 0 else f"{v['truth']:+g} ({v['metric']})"
        raw.append({"seed": seed, "stage": report.stage, "moves": moves, "verdicts": report.verdicts,
                    "line": report.detection.line})  # fmt: skip
        print(f"seed {seed:>2}: {report.detection.line}", file=sys.stderr, flush=True)
    shown = [o for o in OUTCOMES if any(c[o] for c in table.values())]
    print(f"Detection over seeds {args.seeds}, {args.weeks} weeks each:\n")
    print("| experiment | injected | " + " | ".join(shown) + " |")
    print("|---|---|" + "---|" * len(shown))
    totals: Counter[str] = Counter()
    for title, counts in table.items():
        totals.update(counts)
        print(f"| {title} | {truth[title]} | " + " | ".join(str(counts[o]) for o in shown) + " |")
    print("| **total** | | " + " | ".join(f"**{totals[o]}**" for o in shown) + " |")
    print("\nStage history replayed by each seed's reflection:\n")
    for seed, stage, moves in histories:
        print(f"- seed {seed}: now {stage}; moves: {'; '.join(moves) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
