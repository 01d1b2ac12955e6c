"""Sentiment-scored import: 100,000 English social-media texts without a sentiment.

    python bench/sentiment_bench.py [--rows 100000] [--keep DIR] [--repeat N] [--no-profile]
    python bench/sentiment_bench.py --repeated 0.44 --one-time    # issue 22's corpus

Generates 100,000 English texts (about 12 words, emoji, capitals, negations, "but",
about 5 % repeated as retweets do) as JSONL lines with platform, external_id, text,
created_at and lang="en", and the same lines without lang. Issue 22's corpus is
`--repeated 0.44 --one-time`: about 56,000 distinct texts, every line at one created_at.
Then, in this one run:

* reference: a whole `python -c` process that loads vaderSentiment's
  SentimentIntensityAnalyzer, reads the same file and scores every text;
* `python -m tracker --config tracker.toml mentions import FILE` into an empty SQLite
  database whose schema `tracker db upgrade` created beforehand, untimed, as it is in
  use (target: at most 0.6 x the reference); the same into a database file that does
  not exist yet (the import then also runs the migrations); and the same without
  lang (which adds language detection);
* the scorer alone in this process: reference vs tracker.vader vs score_many, texts/s;
  and detect_language one by one vs detect_languages;
* exactness: `tracker mentions export` of the imported database, compared to the
  reference's scores text by text (max abs difference, how many differ at all);
* where an import's time goes: a child process that imports with light wall-clock
  timers, and cProfile of another import process: startup, reading and JSON, line
  validation, language, scoring, database.

On a shared machine, --repeat N runs every timing N times and keeps the best.
"""

from __future__ import annotations

import argparse
import json
import pstats
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ("mastodon", "bluesky", "hackernews", "reddit", "rss")
BRAND = ["Acme", "acme", "@acme_cloud", "#acme", "AcmeCloud", "the Acme app", "Acme support"]
SUBJECTS = [
    "the new release", "the update", "support", "the app", "pricing", "the dashboard", "the API",
    "their docs", "the outage", "customer service", "the launch", "the beta", "the team", "the CLI",
]  # fmt: skip
POSITIVE = """love great awesome amazing good nice happy excellent fantastic helpful best brilliant
perfect fun thanks wow cool smooth impressive""".split()
NEGATIVE = """hate awful terrible bad broken slow annoying worst useless sad angry disappointed horrible
buggy frustrating fail crash ugly stupid""".split()
BOOSTERS = [
    "very", "really", "so", "totally", "extremely", "super", "kinda", "pretty", "absolutely",
    "incredibly", "barely", "hardly", "sort of", "kind of", "most", "quite",
]  # fmt: skip
NEGATIONS = """not don't never isn't can't no won't didn't nothing without doesn't wasn't aint""".split()
FILLER = """i we you they it this that is was are just still again today now after before with for on
in to of and the a my our your their yesterday tonight finally already honestly literally""".split()
EMOJI = "😀 😂 😍 🔥 👍 👎 😭 😡 🙄 💯 🎉 ❤️ 🤔 😴 🚀 😬 🤦 ✨".split()
EMOTICONS = [":)", ":(", ":D", ";)", ":-(", "<3", ":/", "XD"]
TAILS = ["", "", "", "", "", "!", "!!", "!!!", "?", "??", "...", ".", "?!"]


def make_texts(rows: int, seed: int = 11, repeat: float = 0.05) -> list[str]:
    """English social-media texts, ~12 words each, with ~`repeat` of them seen before."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(rows):
        if texts and rng.random() < repeat:
            texts.append(rng.choice(texts))  # a retweet or a cross-post: the same text again
            continue
        words: list[str] = []
        while len(words) < rng.randint(8, 16):
            kind = rng.random()
            if kind < 0.10:
                words.append(rng.choice(BRAND))
            elif kind < 0.20:
                words.extend(rng.choice(SUBJECTS).split())
            elif kind < 0.32:
                words.append(rng.choice(POSITIVE))
            elif kind < 0.42:
                words.append(rng.choice(NEGATIVE))
            elif kind < 0.49:
                words.extend(rng.choice(BOOSTERS).split())
            elif kind < 0.55:
                words.append(rng.choice(NEGATIONS))
            elif kind < 0.58:
                words.append(rng.choice(("but", "But", "BUT")))
            elif kind < 0.64:
                words.append(rng.choice(EMOJI) * rng.choice((1, 1, 2, 3)))
            elif kind < 0.66:
                words.append(rng.choice(EMOTICONS))
            elif kind < 0.67:
                words.append(f"https://acme.example/s/{rng.randrange(10**6)}")
            else:
                words.append(rng.choice(FILLER))
        for i, word in enumerate(words):
            if rng.random() < 0.08:
                words[i] = word.upper()
        if rng.random() < 0.3:
            i = rng.randrange(len(words))
            words[i] += rng.choice(TAILS)
        text = " ".join(words) + rng.choice(TAILS)
        texts.append(text[0].upper() + text[1:] if rng.random() < 0.5 else text)
    return texts


# Lines carry no stream: name one for them, as `mentions import` requires.
STREAM = ("--stream", "bench", "--create-streams")


def write_jsonl(path: Path, texts: list[str], *, lang: bool, one_time: bool = False) -> None:
    """JSONL lines, 30 s apart, or all at one `created_at` with `one_time`."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        for i, text in enumerate(texts):
            platform = PLATFORMS[i % len(PLATFORMS)]
            created = start if one_time else start + timedelta(seconds=i * 30)
            record: dict[str, Any] = {
                "platform": platform,
                "external_id": f"{platform}:{i}",
                "text": text,
                "created_at": created.isoformat().replace("+00:00", "Z"),
            }
            if lang:
                record["lang"] = "en"
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


REFERENCE = """
import json, sys
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
analyzer = SentimentIntensityAnalyzer()
scores = {}
for line in open(sys.argv[1], encoding="utf-8"):
    record = json.loads(line)
    key = record["platform"] + " " + record["external_id"]
    scores[key] = analyzer.polarity_scores(record["text"])["compound"]
json.dump(scores, open(sys.argv[2], "w"))
"""


def run(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of one whole child process."""
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return elapsed


def tracker(work: Path, db: str, *args: str) -> list[str]:
    config = work / f"{db}.toml"
    if not config.exists():
        config.write_text(
            f'[organisation]\nname = "Bench"\ntimezone = "UTC"\n\n[database]\nurl = "sqlite:///{db}.db"\n',
            encoding="utf-8",
        )
    return [sys.executable, "-m", "tracker", "--config", str(config), *args]


def fresh(work: Path, db: str, *, schema: bool = False) -> str:
    """An empty database; with `schema`, already created by `tracker db upgrade` (untimed)."""
    for suffix in (".db", ".db-wal", ".db-shm"):
        (work / f"{db}{suffix}").unlink(missing_ok=True)
    if schema:
        subprocess.run(tracker(work, db, "db", "upgrade"), cwd=work, check=True, capture_output=True)
    return db


def exported_scores(work: Path, db: str) -> dict[str, float | None]:
    out = work / f"{db}-export.jsonl"
    run(tracker(work, db, "mentions", "export", "--format", "jsonl", "--out", str(out)), work)
    scores: dict[str, float | None] = {}
    with out.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            scores[record["platform"] + " " + record["external_id"]] = record["sentiment"]
    return scores


def compare(reference: dict[str, float], ours: dict[str, float | None]) -> tuple[int, int, int, float]:
    """(compared, missing or not scored, differing at all, max abs difference)."""
    unscored = differ = 0
    worst = 0.0
    for key, expected in reference.items():
        got = ours.get(key)
        if got is None:
            unscored += 1
            continue
        if got != expected:
            differ += 1
            worst = max(worst, abs(got - expected))
    return len(reference), unscored, differ, worst


def rate(fn: Callable[[], object], count: int, repeat: int = 1) -> tuple[float, float]:
    """Best wall seconds of `repeat` calls, and items per second."""
    elapsed = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        elapsed = min(elapsed, time.perf_counter() - started)
    return elapsed, count / elapsed


# -- where the import's time goes ---------------------------------------------------------------


def _cumulative(stats: pstats.Stats, file_end: str, names: tuple[str, ...]) -> float:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in table.items():
        if filename.replace("\\", "/").endswith(file_end) and name in names:
            total += cumulative
    return total


def breakdown(profile: Path) -> list[tuple[str, float]]:
    stats = pstats.Stats(str(profile))
    total: float = stats.total_tt  # type: ignore[attr-defined]
    read = _cumulative(stats, "tracker/mentions.py", ("read_jsonl",))
    parse = _cumulative(stats, "tracker/mentions.py", ("parse_record",))
    language = _cumulative(stats, "tracker/sentiment.py", ("detect_language", "detect_languages"))
    scoring = _cumulative(stats, "tracker/sentiment.py", ("score", "score_many"))
    batches = _cumulative(stats, "tracker/mentions.py", ("_store_batch",))
    database = batches - language - scoring
    imported = _cumulative(stats, "tracker/mentions.py", ("import_file",))
    return [
        ("startup, imports, config, migrations", total - imported),
        ("reading lines + JSON decoding", read),
        ("line validation (parse_record)", parse),
        ("language detection", language),
        ("sentiment scoring", scoring),
        ("database (upsert_items and commit, without the two above)", database),
        ("other import work", imported - read - parse - batches),
        ("total (profiled: Python-heavy parts are inflated)", total),
    ]


def breakdown_child(config: Path, data: Path) -> None:
    """Import `data` in this process with light wall-clock timers; print them as JSON.

    The timers wrap module attributes the import looks up at call time (parse_record,
    sentiment.detect_language(s), sentiment.score / score_many, mentions._store_batch),
    so nothing is edited; they add well under a microsecond per call.
    """
    started = time.perf_counter()
    from tracker import mentions, sentiment
    from tracker.config import load_settings
    from tracker.store.db import open_store

    spent = dict.fromkeys(("parse", "language", "scoring", "batches", "waiting", "flush"), 0.0)

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t

        return wrapper

    mentions.parse_record = timed("parse", mentions.parse_record)
    mentions._store_batch = timed("batches", mentions._store_batch)
    sentiment.detect_language = timed("language", sentiment.detect_language)
    sentiment.detect_languages = timed("language", sentiment.detect_languages)
    sentiment.score = timed("scoring", sentiment.score)
    sentiment.score_many = timed("scoring", sentiment.score_many)
    # The import scores in a background worker while it stores the batch before; this is
    # how long it waited for the worker's languages and scores.
    sentiment.Deferred.result = timed("waiting", sentiment.Deferred.result)  # type: ignore[method-assign]
    # Batches are stored on a thread of their own while the next is read; this is how long the
    # reading waited for the store thread (the timers above run on that thread).
    mentions._Pipeline.flush = timed("flush", mentions._Pipeline.flush)  # type: ignore[method-assign]
    settings = load_settings(config)
    store = open_store(settings.database_url)
    opened = time.perf_counter()
    try:
        mentions.import_file(store=store, settings=settings, path=data, fmt="jsonl")
    finally:
        store.close()
    done = time.perf_counter()
    spent["setup"] = opened - started
    spent["import"] = done - opened
    print(json.dumps(spent))


def wall_breakdown(work: Path, db: str, data: Path) -> list[tuple[str, float | None]]:
    config = Path(tracker(work, fresh(work, db))[4])
    cmd = [sys.executable, __file__, "--breakdown-child", str(config), str(data)]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    spent = json.loads(result.stdout.strip().splitlines()[-1])
    reading = spent["import"] - spent["parse"] - spent["flush"]
    return [
        ("process start, imports, config, schema", wall - spent["import"]),
        ("reading lines + JSON decoding (+ batching)", reading),
        ("line validation (parse_record)", spent["parse"]),
        ("waiting for the store thread (the batch before)", spent["flush"]),
        ("total (whole process)", wall),
        ("on the store thread, beside the above:", None),
        ("  waiting for the background worker's languages and scores", spent["waiting"]),
        ("  language detection and scoring (in this process)", spent["language"] + spent["scoring"]),
        ("  database (upsert_items and commit, without the above)",
         spent["batches"] - spent["waiting"] - spent["language"] - spent["scoring"]),
    ]  # fmt: skip


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="best of N for every timing")
    parser.add_argument(
        "--repeated", type=float, default=0.05, help="share of repeated texts (issue 22: 0.44)"
    )
    parser.add_argument("--one-time", action="store_true", help="every line at one created_at")
    parser.add_argument("--breakdown-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.breakdown_child:
        breakdown_child(*args.breakdown_child)
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-sentiment-"))
    work.mkdir(parents=True, exist_ok=True)
    texts = make_texts(args.rows, repeat=args.repeated)
    with_lang, without_lang = work / "mentions-en.jsonl", work / "mentions-nolang.jsonl"
    write_jsonl(with_lang, texts, lang=True, one_time=args.one_time)
    write_jsonl(without_lang, texts, lang=False, one_time=args.one_time)
    distinct = len(set(texts))
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{args.rows:,} texts, {distinct:,} distinct ({1 - distinct / args.rows:.1%} repeated), "
          f"{words:.1f} words on average; files in {work}\n")  # fmt: skip

    # Whole processes, in one run: the reference, then the imports.
    ref_scores = work / "reference-scores.json"

    # On a shared machine, --repeat N alternates the three N times and keeps each one's best.
    runs: dict[str, Callable[[], list[str]]] = {
        "reference": lambda: [sys.executable, "-c", REFERENCE, str(with_lang), str(ref_scores)],
        "en": lambda: tracker(
            work, fresh(work, "en", schema=True), "mentions", "import", *STREAM, str(with_lang)
        ),
        "en-new": lambda: tracker(work, fresh(work, "en-new"), "mentions", "import", *STREAM, str(with_lang)),
        "nolang": lambda: tracker(
            work, fresh(work, "nolang", schema=True), "mentions", "import", *STREAM, str(without_lang)
        ),
    }
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.repeat):
        for name, command in runs.items():
            best[name] = min(best[name], run(command(), work))
    ref_time = best["reference"]
    rows = [
        ("reference: vaderSentiment scores the file", "reference", ""),
        ("tracker mentions import (lang=en)", "en", "<= 0.60"),
        ("  the same, creating the database's schema too", "en-new", ""),
        ("tracker mentions import (no lang: detection too)", "nolang", ""),
    ]
    print(
        f"{'whole process (best of ' + str(args.repeat) + ')':<52} {'seconds':>9} {'ratio':>7} {'target':>8}"
    )
    for label, name, target in rows:
        print(f"{label:<52} {best[name]:>9.2f} {best[name] / ref_time:>7.2f} {target:>8}")

    # Exactness: what the imports stored against what the reference computed.
    reference = json.loads(ref_scores.read_text())
    print()
    for db in ("en", "nolang"):
        n, unscored, differ, worst = compare(reference, exported_scores(work, db))
        print(f"exactness ({db}): {n:,} texts compared, {unscored} not scored (detected as another language "
              f"or unknown), {differ} of the scored differ at all, max abs difference {worst:g} "
              "(allowed 1e-4)")  # fmt: skip

    # The scorer alone, in this process.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from tracker import sentiment, vader

    analyzer = SentimentIntensityAnalyzer()
    langs: list[str | None] = ["en"] * len(texts)
    n, k = len(texts), args.repeat
    t_ref, r_ref = rate(lambda: [analyzer.polarity_scores(t)["compound"] for t in texts], n, k)
    vader._TOKENS.clear()
    t_cold, r_cold = rate(lambda: [vader.compound(t) for t in texts], n)
    t_fast, r_fast = rate(lambda: [vader.compound(t) for t in texts], n, k)
    sentiment.POOL_MIN, pool_min = n + 1, sentiment.POOL_MIN
    t_one_proc, r_one_proc = rate(lambda: sentiment.score_many(texts, langs), n, k)
    sentiment.POOL_MIN = pool_min
    t_many, r_many = rate(lambda: sentiment.score_many(texts, langs), n, k)
    print(f"\n{'scorer alone, ' + format(len(texts), ',') + ' texts':<52} {'seconds':>9} {'texts/s':>9} "
          f"{'speed-up':>9}")  # fmt: skip
    print(f"{'reference polarity_scores, one by one':<52} {t_ref:>9.2f} {r_ref:>9,.0f} {1:>8.1f}x")
    for name, t, r in (
        ("tracker.vader.compound, one by one, first pass", t_cold, r_cold),
        ("tracker.vader.compound, one by one, token cache warm", t_fast, r_fast),
        ("sentiment.score_many, in this process", t_one_proc, r_one_proc),
        (f"sentiment.score_many, {sentiment._cpu_count()} processes", t_many, r_many),
    ):
        print(f"{name:<52} {t:>9.2f} {r:>9,.0f} {t_ref / t:>8.1f}x")

    sample = texts[: min(len(texts), 30_000)]
    t_load, _ = rate(lambda: sentiment.detect_language("warm up: the model loads here"), 1)
    t_one, r_one = rate(lambda: [sentiment.detect_language(t) for t in sample], len(sample), k)
    t_batch, r_batch = rate(lambda: sentiment.detect_languages(sample), len(sample), k)
    print(f"{'language model load (py3langid, once per process)':<52} {t_load:>9.2f}")
    print(
        f"{'detect_language, one by one (' + format(len(sample), ',') + ')':<52} {t_one:>9.2f} {r_one:>9,.0f}"
    )
    print(f"{'detect_languages, batch (same results)':<52} {t_batch:>9.2f} {r_batch:>9,.0f} "
          f"{t_one / t_batch:>8.1f}x")  # fmt: skip

    for db, data in (("timed-en", with_lang), ("timed-nolang", without_lang)):
        print(f"\nwhere the import's time goes ({data.name}, wall clock, light timers)")
        for name, seconds in wall_breakdown(work, db, data):
            print(f"  {name:<60} {seconds:>7.2f} s" if seconds is not None else f"  {name}")
    if args.no_profile:
        return
    for db, data in (("profile-en", with_lang), ("profile-nolang", without_lang)):
        profile = work / f"{db}.prof"
        cmd = tracker(work, fresh(work, db), "mentions", "import", *STREAM, str(data))
        cmd[1:1] = ["-m", "cProfile", "-o", str(profile)]
        run(cmd, work)
        print(f"\nwhere the import's time goes ({data.name}, under cProfile)")
        parts = breakdown(profile)
        total = parts[-1][1]
        for name, seconds in parts:
            print(f"  {name:<60} {seconds:>7.2f} s {seconds / total:>6.1%}")


if __name__ == "__main__":
    main()
