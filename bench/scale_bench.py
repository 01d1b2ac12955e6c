"""Scale (issue 22 items 2-3): analysis that reads the daily aggregates, at several sizes.

    python bench/scale_bench.py [--sizes 300000,1000000] [--streams 12] [--years 3]
                                [--experiments 100] [--requests 20] [--raw-upto 300000]
                                [--cache DIR] [--extra 0] [--import-cli] [--until DAY]

For each size the store is built once and cached in `--cache` (default
/tmp/tracker-scale-cache): generated, already scored mentions over `--years` up to
`--until` (default today: the digest's week and the overview's current weeks are full) in
`--streams` streams, written with bulk SQL (every 20th mention also in a second stream;
own posts of the owned streams with two engagement readings, 2 and 60 hours after
posting), the daily aggregates built from them by tracker/aggregates.py's own rebuild, and
100 experiments registered through the service. Each run works on a copy, so what
`measure` writes never reaches the cache. `--import-cli` builds with `tracker mentions
import` instead (slow: a few hundred rows/s on a loaded machine). Then whole processes
are timed:

  experiment measure --all   (issue target at 3 M: <= 10 s)
  digest --out               (<= 2 s)
  reflect --json             (<= 1 s)
  web overview /, experiment page /experiments/<id>, served by `tracker serve` and
  timed with an HTTP client: the median of `--requests` requests after one warm-up
  (<= 150 ms)
  with --extra N: import of N more scored mentions into the populated store: rows/s, peak MB
  (with --extra-reference, beside the same import committing after every batch of 5,000
  lines, as imports did before they grouped batches into transactions; SQLite only)

The references measured in the same run, beside each figure: at sizes up to
`--raw-upto`, the same command reading the raw mentions instead of the aggregates (the
aggregates' recorded zone is set to one that is not the organisation's, which makes
every reader fall back to the raw mentions, as it does after a zone change; restored
afterwards); at every size, the ratio to the first size's figure (flatness: the issue
asks <= 1.5 times the figure at 300,000); and `tracker --help`, the cost of starting a
process at all.

With TRACKER_BENCH_POSTGRES set to a server URL (an admin URL such as
postgresql+psycopg://postgres@127.0.0.1:5432/postgres), the stores are new databases
on that server (not cached; dropped at the end; once built, VACUUM ANALYZEd as `tracker
mentions import` leaves a store after a large import), else SQLite files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PRACTICES = ["content-calendar", "public-customer-answers", "shepherd", "influencer-outreach",
             "community-management", "always-on-listening"]  # fmt: skip
METRICS = ["mentions", "sentiment", "positive_share", "engagement", "share_of_voice"]
TEXTS = ["bench text", "acme is great", "acme support was slow", "new acme release", "meh"]


def streams(count: int) -> list[tuple[str, str]]:
    roles = ["brand", "brand", "owned", "competitor"]
    return [(f"s{i:02d}", roles[i % len(roles)]) for i in range(count)]


def write_config(work: Path, names: list[tuple[str, str]], url: str) -> Path:
    lines = ['[organisation]\nname = "Bench"\ntimezone = "Europe/Vienna"\n', f'[database]\nurl = "{url}"\n']
    for name, role in names:
        lines.append(f'[[streams]]\nname = "{name}"\nconnector = "hackernews"\nquery = "{name}"\n'
                     f'every = "1h"\nrole = "{role}"\n')  # fmt: skip
    path = work / "tracker.toml"
    path.write_text("\n".join(lines))
    return path


def write_mentions(path: Path, names: list[tuple[str, str]], count: int, first: date, days: int,
                   rng: random.Random, offset: int = 0) -> None:  # fmt: skip
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    seconds = days * 86400
    with path.open("w") as out:
        for i in range(offset, offset + count):
            name, role = names[i % len(names)]
            created = start + timedelta(seconds=rng.randrange(seconds))
            out.write(json.dumps({
                "platform": "hackernews", "external_id": f"m{i}", "text": TEXTS[i % len(TEXTS)],
                "lang": "en", "created_at": created.isoformat(),
                "sentiment": round(rng.uniform(-1, 1), 4), "likes": rng.randrange(40),
                "replies": rng.randrange(9), "kind": "own" if role == "owned" else "mention", "stream": name,
            }) + "\n")  # fmt: skip


def register(config: Path, names: list[tuple[str, str]], count: int, first: date, days: int,
             rng: random.Random) -> list[int]:  # fmt: skip
    from tracker.config import load_settings
    from tracker.experiments import ExperimentInput, Registry
    from tracker.maturity import load_model
    from tracker.store.db import open_store

    settings = load_settings(config)
    store = open_store(settings.database_url, settings.organisation.timezone)
    registry = Registry(store, settings, load_model(settings))
    ours = [n for n, role in names if role != "competitor"]
    ids = []
    for i in range(count):
        start = first + timedelta(days=60 + rng.randrange(max(days - 120, 1)))
        if i % 10 == 9:  # one in ten still running: the digest's week has experiments to report
            start = first + timedelta(days=days - 3 - rng.randrange(18))
        name = ours[i % len(ours)]
        control = ours[(i + 1) % len(ours)] if i % 4 == 0 else None
        record, _ = registry.add(ExperimentInput(
            title=f"experiment {i}", hypothesis="it helps", practice=PRACTICES[i % len(PRACTICES)],
            metric=METRICS[i % len(METRICS)], streams=[name], start=start, end=start + timedelta(days=27),
            control_stream=control, owner=f"o{i % 7}",
        ))  # fmt: skip
        ids.append(int(record["id"]))
    store.close()
    return ids


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # seconds of CPU (user + system) of the command's process and its children
    peak: float  # MB, the largest resident set of the command's processes


def timed(cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0, 1)) -> Run:
    """Wall and CPU seconds and peak RSS in MB of one command (measured by a wrapper process);
    an exit code not in `ok` stops the bench (an import that fails must not be timed as fast).

    On a shared machine the wall time includes waiting for a core; the CPU time does not."""
    wrapper = [sys.executable, "-c", (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "e = time.perf_counter() - t\n"
        "sys.stderr.buffer.write(r.stderr[-2000:]) if r.returncode else None\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(e, u.ru_utime + u.ru_stime, u.ru_maxrss / 1024)\n"
        "sys.exit(r.returncode)"
    ), *cmd]  # fmt: skip
    result = subprocess.run(wrapper, capture_output=True, text=True, cwd=cwd)
    if result.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr}")
    wall, cpu, peak = result.stdout.split()
    return Run(float(wall), float(cpu), float(peak))


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pages(tracker: list[str], work: Path, paths: list[str], requests: int = 20) -> list[tuple[float, float]]:
    """Per page: median milliseconds per request, and the server's CPU milliseconds per request,
    served by `tracker serve` (waited for until it answers)."""
    port = free_port()
    server = subprocess.Popen([*tracker, "serve", "--port", str(port)], cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/static/style.css", timeout=5).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("tracker serve did not answer")
                time.sleep(0.2)
        found = []
        for path in paths:
            urllib.request.urlopen(base + path, timeout=120).read()  # warm-up
            times = []
            cpu = cpu_of(server.pid)
            for _ in range(requests):
                started = time.perf_counter()
                with urllib.request.urlopen(base + path, timeout=120) as answer:
                    answer.read()
                times.append((time.perf_counter() - started) * 1000)
            found.append((statistics.median(times), (cpu_of(server.pid) - cpu) * 1000 / requests))
        return found
    finally:
        server.terminate()
        server.wait(timeout=30)


def set_zone(url: str, zone: str) -> str:
    """Set the zone the aggregates say they are in; returns the one before."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        before = conn.execute(text("SELECT value FROM aggregate_meta WHERE name = 'zone'")).scalar()
        conn.execute(text("UPDATE aggregate_meta SET value = :z WHERE name = 'zone'"), {"z": zone})
    engine.dispose()
    return str(before)


def postgres_database(admin: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin).set(database=name).render_as_string(hide_password=False), name


def analyze(url: str) -> None:
    """What `tracker mentions import` does after storing many new mentions (VACUUM ANALYZE of
    the tables it fills), so a store built in bulk is timed as an import would leave it."""
    from tracker.mentions import maintain
    from tracker.store.db import Store

    store = Store(url)
    try:
        maintain(store)
    finally:
        store.close()


def drop_database(admin: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def build_bulk(config: Path, names: list[tuple[str, str]], count: int, first: date, days: int,
               rng: random.Random) -> None:  # fmt: skip
    """The mentions, their links and the own posts' engagement history in bulk SQL, then the
    daily aggregates by tracker/aggregates.py's rebuild (what `tracker db check --repair` does)."""
    from zoneinfo import ZoneInfo

    from tracker import aggregates
    from tracker.config import load_settings
    from tracker.ingest import sync_streams
    from tracker.sentiment import label
    from tracker.store.db import open_store

    settings = load_settings(config)
    store = open_store(
        settings.database_url, settings.organisation.timezone, settings.experiments.engagement_age
    )
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    with store.write() as session:  # the streams exist from the first day of the data
        ids = sync_streams(session=session, settings=settings, now=start)
    stream_ids = [ids[n] for n, _ in names]
    postgres = store.dialect == "postgresql"
    mark = "%s" if postgres else "?"

    def stamp(moment: datetime) -> object:
        naive = moment.replace(tzinfo=None)
        return naive if postgres else naive.isoformat(" ", "microseconds")

    seconds = days * 86400
    mention_sql = (
        "INSERT INTO mentions (id, platform, external_id, text, lang, created_at, kind, likes, replies, "
        "engagement, sentiment, sentiment_label, sentiment_scorer, first_seen_at, updated_at, "
        "date_estimated) "
        f"VALUES ({', '.join([mark] * 16)})"
    )
    link_sql = (
        f"INSERT INTO mention_streams (mention_id, stream_id, created_at) VALUES ({mark}, {mark}, {mark})"
    )
    history_sql = ("INSERT INTO engagement_history (mention_id, observed_at, likes, replies, engagement) "
                   f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark})")  # fmt: skip
    chunk = 50_000
    with store.engine.begin() as conn:
        for lo in range(0, count, chunk):
            mentions, links, history = [], [], []
            for i in range(lo, min(lo + chunk, count)):
                n = i % len(names)
                role = names[n][1]
                created = start + timedelta(seconds=rng.randrange(seconds))
                when = stamp(created)
                score = round(rng.uniform(-1, 1), 4)
                likes, replies = rng.randrange(40), rng.randrange(9)
                own = role == "owned"
                mentions.append((i + 1, "hackernews", f"m{i}", TEXTS[i % len(TEXTS)], "en", when,
                                 "own" if own else "mention", likes, replies, likes + replies, score,
                                 label(score), "vader", when, when, False))  # fmt: skip
                links.append((i + 1, stream_ids[n], when))
                if i % 20 == 0:
                    links.append(
                        (i + 1, stream_ids[(n + 4) % len(names)], when)
                    )  # the same role, another stream
                if own:
                    early = (likes + replies) // 2
                    history.append(
                        (i + 1, stamp(created + timedelta(hours=2)), likes // 2, replies // 2, early)
                    )
                    history.append(
                        (i + 1, stamp(created + timedelta(hours=60)), likes, replies, likes + replies)
                    )
            conn.exec_driver_sql(mention_sql, mentions)
            conn.exec_driver_sql(link_sql, links)
            conn.exec_driver_sql(history_sql, history)
        if postgres:  # the ids were given: the sequence must continue after them, as the ingest's would
            sequence = "pg_get_serial_sequence('mentions', 'id')"
            conn.exec_driver_sql(f"SELECT setval({sequence}, max(id)) FROM mentions")
        aggregates.rebuild(
            conn, ZoneInfo(settings.organisation.timezone), settings.experiments.engagement_age
        )
    store.close()


def build_cli(config: Path, work: Path, names: list[tuple[str, str]], count: int, first: date, days: int,
              rng: random.Random, tracker: list[str]) -> None:  # fmt: skip
    data = work / "mentions.jsonl"
    write_mentions(data, names, count, first, days, rng)
    subprocess.run([*tracker, "mentions", "import", str(data)], check=True, capture_output=True)
    data.unlink()


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GB RAM"
    return (f"{platform.machine()}, {os.cpu_count()} cores ({cpu}){memory}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"load average {os.getloadavg()[0]:.1f} at the start")  # fmt: skip


@dataclass
class Figures:
    size: int
    runs: list[Run]
    pages: list[tuple[float, float]]
    raw: list[Run] | None = None
    raw_pages: list[tuple[float, float]] | None = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="300000,1000000", help="mention counts, comma-separated")
    parser.add_argument("--streams", type=int, default=12)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page, after a warm-up")
    parser.add_argument(
        "--raw-upto", type=int, default=300_000, help="largest size also timed on raw mentions"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tracker-scale-cache")
    parser.add_argument("--extra", type=int, default=0, help="mentions imported into each full store")
    parser.add_argument(
        "--until", type=date.fromisoformat, default=datetime.now(UTC).date(),
        help="the day the data end (default today: the digest's week and the overview's weeks are busy)",
    )  # fmt: skip
    parser.add_argument("--extra-reference", action="store_true",
                        help="also time --extra's import committing every batch (SQLite)")  # fmt: skip
    parser.add_argument("--import-cli", action="store_true", help="build with `tracker mentions import`")
    parser.add_argument("--build-only", action="store_true", help="build and cache the stores only")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    admin = os.environ.get("TRACKER_BENCH_POSTGRES")
    names = streams(args.streams)
    days = int(args.years * 365)
    first = args.until - timedelta(days=days)
    shown = ", ".join(f"{n:,}" for n in sizes)
    print(f"machine: {machine()}; {'PostgreSQL' if admin else 'SQLite'}; sizes {shown} "
          f"mentions over {days} days in {len(names)} streams, {args.experiments} experiments")  # fmt: skip
    import hashlib

    import tracker.store.models
    from tracker.store.db import HEAD_REVISION

    schema = hashlib.sha256(Path(tracker.store.models.__file__).read_bytes()).hexdigest()[:8]  # the tables
    results: list[Figures] = []
    pg_names: list[str] = []
    ref: Run | None = None
    try:
        for size in sizes:
            work = Path(tempfile.mkdtemp(prefix=f"bench-scale-{size}-"))
            shape = f"{args.streams}s_{args.years:g}y_{args.until}_{args.experiments}e"
            tag = f"{size}_{shape}_{HEAD_REVISION}_{schema}"
            cached = args.cache / f"{tag}.db"
            if admin:
                url, pg_name = postgres_database(admin)
                pg_names.append(pg_name)
            else:
                url = f"sqlite:///{work / 'tracker.db'}"
            config = write_config(work, names, url)
            tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
            meta = work / "experiments.json"
            if not admin and cached.exists():
                shutil.copy(cached, work / "tracker.db")
                shutil.copy(cached.with_suffix(".json"), meta)
                print(f"({size:,}: the cached store {cached})")
            else:
                rng = random.Random(22)
                started = time.perf_counter()
                if args.import_cli:
                    build_cli(config, work, names, size, first, days, rng, tracker)
                else:
                    build_bulk(config, names, size, first, days, rng)
                exp_ids = register(config, names, args.experiments, first, days, rng)
                meta.write_text(json.dumps(exp_ids))
                print(f"({size:,}: built in {time.perf_counter() - started:.0f} s wall)")
                if admin:  # as a large import leaves it: without statistics the planner scans the
                    analyze(url)  # aggregates (the overview: 740 ms, 68 ms after)
                if not admin:
                    args.cache.mkdir(parents=True, exist_ok=True)
                    shutil.copy(work / "tracker.db", cached)
                    shutil.copy(meta, cached.with_suffix(".json"))
            exp_ids = json.loads(meta.read_text())
            if args.build_only:
                shutil.rmtree(work, ignore_errors=True)
                continue
            if args.extra:
                extra = work / "extra.jsonl"
                write_mentions(extra, names, args.extra, first, days, random.Random(23), offset=size)
                before_import = work / "before-import.db"
                if args.extra_reference and not admin:
                    shutil.copy(work / "tracker.db", before_import)
                run = timed([*tracker, "mentions", "import", str(extra)], work, ok=(0,))
                rate = args.extra / run.wall
                print(f"import of {args.extra:,} into the store of {size:,}: {rate:,.0f} rows/s "
                      f"({run.wall:.1f} s wall, {run.cpu:.1f} s CPU; peak {run.peak:.0f} MB)")  # fmt: skip
                if args.extra_reference and not admin:
                    # The reference: the same import into the same store, committing after every
                    # batch (a transaction per 5,000 lines, as before imports grouped them).
                    imported = work / "imported.db"
                    shutil.move(work / "tracker.db", imported)
                    shutil.move(before_import, work / "tracker.db")
                    per_batch = [sys.executable, "-c", (
                        "import sys; import tracker.mentions as m; from tracker.cli import main\n"
                        "m.GROUP_ROWS = 1; sys.argv[0] = 'tracker'; main()"
                    ), *tracker[3:]]  # fmt: skip
                    ref_run = timed([*per_batch, "mentions", "import", str(extra)], work, ok=(0,))
                    print(f"  reference, a commit per batch: {args.extra / ref_run.wall:,.0f} rows/s "
                          f"({ref_run.wall:.1f} s wall, {ref_run.cpu:.1f} s CPU; "
                          f"peak {ref_run.peak:.0f} MB)")  # fmt: skip
                    shutil.move(imported, work / "tracker.db")
                extra.unlink()
            if ref is None:
                ref = timed([*tracker, "--help"], work)
            rows = [[*tracker, "experiment", "measure", "--all", "--json"],
                    [*tracker, "digest", "--out", str(work / "digest.html")],
                    [*tracker, "reflect", "--json"]]  # fmt: skip
            paths = ["/", f"/experiments/{exp_ids[1]}"]
            figures = Figures(
                size, [timed(cmd, work) for cmd in rows], pages(tracker, work, paths, args.requests)
            )
            if size <= args.raw_upto:
                before = set_zone(url, "Etc/GMT-14")  # no organisation's zone: readers use the raw mentions
                try:
                    figures.raw = [timed(cmd, work) for cmd in rows]
                    figures.raw_pages = pages(tracker, work, paths, args.requests)
                finally:
                    set_zone(url, before)
            results.append(figures)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        for pg_name in pg_names:
            drop_database(admin or "", pg_name)
    if results:
        report(results, ref, args.requests)


TARGETS = [("experiment measure --all", 10.0), ("digest --out", 2.0), ("reflect --json", 1.0)]


def report(results: list[Figures], ref: Run | None, requests: int) -> None:
    base = results[0]
    print("| command | mentions | aggregates: wall | CPU | peak MB | x first size (CPU) "
          "| raw mentions: wall | CPU | target (wall, at 3 M) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for i, (label, target) in enumerate(TARGETS):
        for f in results:
            a = f.runs[i]
            raw = f"{f.raw[i].wall:.2f} s | {f.raw[i].cpu:.2f} s" if f.raw else "- | -"
            ratio = a.cpu / base.runs[i].cpu if base.runs[i].cpu else float("nan")
            print(f"| {label} | {f.size:,} | {a.wall:.2f} s | {a.cpu:.2f} s | {a.peak:.0f} | {ratio:.2f} "
                  f"| {raw} | {target:.0f} s |")  # fmt: skip
    for i, label in enumerate(["web overview /", "web experiment page"]):
        for f in results:
            wall, cpu = f.pages[i]
            raw = f"{f.raw_pages[i][0]:.0f} ms | {f.raw_pages[i][1]:.0f} ms" if f.raw_pages else "- | -"
            ratio = wall / base.pages[i][0] if base.pages[i][0] else float("nan")
            print(f"| {label} (median of {requests}) | {f.size:,} | {wall:.0f} ms | {cpu:.0f} ms (server) | "
                  f"| {ratio:.2f} (wall) | {raw} | 150 ms |")  # fmt: skip
    if ref is not None:
        print(
            f"| reference: tracker --help | | {ref.wall:.2f} s | {ref.cpu:.2f} s | {ref.peak:.0f} | | | | |"
        )


if __name__ == "__main__":
    main()
