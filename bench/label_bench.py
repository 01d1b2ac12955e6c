"""The team's sentiment model on a labelled corpus: train on half, macro-F1 on the other half.

    python bench/label_bench.py CORPUS.csv|CORPUS.jsonl [--lang de] [--sizes 100,300,1000,3000]
    python bench/label_bench.py --generate de [--sizes 100,300,1000,3000]
    python bench/label_bench.py --ratings /work/shared/fixtures/sentiment/tweets_GroundTruth.txt [--band 0.5]

A corpus has a text and a label column (positive | neutral | negative; other labels, such
as irrelevant, are left out) and optionally lang (then --lang picks one). It is shuffled
(seeded) and split in two halves; the model of tracker/labels.py is trained on the first
N labels of one half (each of --sizes that fits) and scored on the whole other half.
Reports macro-F1, per-class F1, the cross-validated macro-F1 that `tracker label status`
would show, and the training time (fit only, and fit with cross-validation). `--generate`
uses tracker.label_corpus (a known signal; the corpus the test suite uses). `--ratings`
reads human ratings as the VADER paper ships them (tab-separated id, mean rating -4..+4,
text): a mean above +band is positive, below -band negative, else neutral; VADER's
macro-F1 on the same test half is printed beside the model's (English: VADER is kept
unless the team's model beats it).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker import labels
from tracker.label_corpus import generate


def read(path: Path, lang: str | None) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        rows = [
            {(k or "").strip().lower(): v for k, v in r.items()} for r in csv.DictReader(text.splitlines())
        ]
    out = []
    for row in rows:
        label = str(row.get("label") or "").strip().lower()
        if label in labels.CLASSES and (lang is None or labels.primary(str(row.get("lang") or "")) == lang):
            out.append((str(row.get("text") or ""), label))
    return out


def read_ratings(path: Path, band: float) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3:
            rating = float(parts[1])
            label = "positive" if rating > band else "negative" if rating < -band else "neutral"
            out.append((parts[2], label))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path)
    parser.add_argument("--generate", metavar="LANG", help="use the generated corpus of LANG (de or fr)")
    parser.add_argument("--lang", help="only the rows of this language")
    parser.add_argument("--ratings", type=Path, help="human ratings: id TAB mean rating (-4..+4) TAB text")
    parser.add_argument("--band", type=float, default=0.5, help="|mean rating| <= band is neutral")
    parser.add_argument("--sizes", default="100,300,1000,3000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validated figure")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.generate:
        rows = [(r["text"], r["label"]) for r in generate(args.generate, 2 * max(sizes), seed=args.seed)]
        name = f"generated:{args.generate}"
    elif args.ratings:
        rows = read_ratings(args.ratings, args.band)
        name = f"{args.ratings.name} (neutral: |mean rating| <= {args.band:g})"
    elif args.corpus:
        rows = read(args.corpus, args.lang)
        name = str(args.corpus)
    else:
        parser.error("give a CORPUS path or --generate LANG")
    random.Random(args.seed).shuffle(rows)
    half = len(rows) // 2
    train, test = rows[:half], rows[half:]
    print(f"corpus {name}: {len(rows)} labelled texts; training half {len(train)}, test half {len(test)}")
    print("classes: " + ", ".join(f"{c} {sum(g == c for _, g in rows)}" for c in labels.CLASSES))
    if args.ratings or args.lang == "en":
        from tracker import sentiment

        vader = [sentiment.label(sentiment.score(t, "en")) or "neutral" for t, _ in test]
        v_macro, v_per = labels._f1s([g for _, g in test], vader)
        v_text = ", ".join(f"{c} {v:.2f}" for c, v in v_per.items())
        print(f"VADER on the test half: macro-F1 {v_macro:.3f} ({v_text})")
    print(f"{'labels':>7} {'macro-F1':>9} {'cv macro-F1':>12} {'fit s':>7} {'fit+cv s':>9}  per-class F1")
    for n in [s for s in sizes if s <= len(train)] or [len(train)]:
        part = train[:n]
        texts, golds = [t for t, _ in part], [g for _, g in part]
        started = time.perf_counter()
        model = labels.Model(
            labels.unpack(labels.pack(labels._weights(labels._pipeline().fit(texts, golds))))
        )
        fit_s = time.perf_counter() - started
        guess = [s[1] for s in model.score([t for t, _ in test])]
        macro, per = labels._f1s([g for _, g in test], guess)
        cv_text, cv_s = "-", "-"
        if not args.no_cv:
            started = time.perf_counter()
            trained = labels.fit(texts, golds, seed=args.seed)
            cv_text, cv_s = f"{trained.macro_f1:.3f}", f"{time.perf_counter() - started:.1f}"
        per_text = ", ".join(f"{c} {v:.2f}" for c, v in per.items())
        print(f"{n:>7} {macro:>9.3f} {cv_text:>12} {fit_s:>7.1f} {cv_s:>9}  {per_text}")


if __name__ == "__main__":
    main()
