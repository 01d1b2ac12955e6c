"""Scale (issue 22 items 2-3): analysis that reads the daily aggregates, and import into a full store.

    python bench/scale_bench.py [--mentions 300000] [--streams 12] [--years 3]
                                [--experiments 100] [--extra 100000] [--keep DIR] [--skip-raw]

Builds the data set once (generated, already scored mentions over `--years` in
`--streams` streams, imported with `tracker mentions import`; 100 experiments
registered through the service), then times whole processes:

  experiment measure --all   (issue target at 3 M: <= 10 s)
  digest --out               (<= 2 s)
  reflect --json             (<= 1 s)
  web overview /, experiment page /experiments/<id>, served by `tracker serve` and
  timed with an HTTP client: the median of 15 requests after one warm-up (<= 150 ms)
  import of `--extra` more scored mentions into the populated store: rows/s, peak MB

The references measured in the same run, beside each figure: the same command reading
the raw mentions instead of the aggregates (the aggregates' recorded zone is set to
one that is not the organisation's, which makes every reader fall back to the raw
mentions, as it does after a zone change; restored afterwards), and `tracker --help`,
the cost of starting a process at all.

With TRACKER_BENCH_POSTGRES set to a server URL (an admin URL such as
postgresql+psycopg://postgres@127.0.0.1:5432/postgres), the store is a new database
on that server (dropped at the end unless --keep), else a SQLite file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
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


def timed(cmd: list[str], cwd: Path) -> Run:
    """Wall and CPU seconds and peak RSS in MB of one command (measured by a wrapper process).

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
    if result.returncode not in (0, 1):
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


def pages(tracker: list[str], work: Path, paths: list[str], requests: int = 15) -> list[tuple[float, float]]:
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


def drop_database(admin: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mentions", type=int, default=300_000)
    parser.add_argument("--streams", type=int, default=12)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--extra", type=int, default=100_000, help="mentions imported into the full store")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--skip-raw", action="store_true", help="leave out the raw-mentions reference")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    admin = os.environ.get("TRACKER_BENCH_POSTGRES")
    pg_name = None
    if admin:
        url, pg_name = postgres_database(admin)
    else:
        url = f"sqlite:///{work / 'tracker.db'}"
    names = streams(args.streams)
    config = write_config(work, names, url)
    tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
    days = int(args.years * 365)
    first = date(2026, 11, 1) - timedelta(days=days)
    rng = random.Random(22)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{'PostgreSQL' if admin else 'SQLite'}; {args.mentions:,} mentions over {days} days "
          f"in {len(names)} streams, {args.experiments} experiments")  # fmt: skip
    try:
        data = work / "mentions.jsonl"
        write_mentions(data, names, args.mentions, first, days, rng)
        started = time.perf_counter()
        subprocess.run([*tracker, "mentions", "import", str(data)], check=True, capture_output=True)
        built = time.perf_counter() - started
        print(f"(set-up: imported {args.mentions:,} mentions into an empty store in {built:.1f} s wall, "
              f"{args.mentions / built:,.0f} rows/s)")  # fmt: skip
        data.unlink()
        exp_ids = register(config, names, args.experiments, first, days, rng)
        extra = work / "extra.jsonl"
        write_mentions(extra, names, args.extra, first, days, rng, offset=args.mentions)
        run = timed([*tracker, "mentions", "import", str(extra)], work)
        print(f"import of {args.extra:,} into the populated store: {args.extra / run.wall:,.0f} rows/s "
              f"({run.wall:.1f} s wall, {run.cpu:.1f} s CPU: {args.extra / run.cpu:,.0f} rows per CPU s; "
              f"peak {run.peak:.0f} MB)")  # fmt: skip
        extra.unlink()
        check = timed([*tracker, "db", "check"], work)
        print(f"tracker db check: {check.wall:.1f} s wall, {check.cpu:.1f} s CPU, peak {check.peak:.0f} MB")
        ref = timed([*tracker, "--help"], work)
        rows = [("experiment measure --all", [*tracker, "experiment", "measure", "--all", "--json"], 10.0),
                ("digest --out", [*tracker, "digest", "--out", str(work / "digest.html")], 2.0),
                ("reflect --json", [*tracker, "reflect", "--json"], 1.0)]  # fmt: skip
        paths = ["/", f"/experiments/{exp_ids[1]}"]

        def run_all() -> tuple[list[Run], list[tuple[float, float]]]:
            return [timed(cmd, work) for _, cmd, _ in rows], pages(tracker, work, paths)

        fast, fast_pages = run_all()
        slow: list[Run] | None = None
        slow_pages: list[tuple[float, float]] | None = None
        if not args.skip_raw:
            before = set_zone(url, "Etc/GMT-14")  # no organisation's zone: readers use the raw mentions
            try:
                slow, slow_pages = run_all()
            finally:
                set_zone(url, before)
        print("| command | aggregates: wall | CPU | peak MB | raw mentions: wall | CPU | target (wall) |")
        print("|---|---|---|---|---|---|---|")
        for i, (label, _, target) in enumerate(rows):
            a = fast[i]
            raw = f"{slow[i].wall:.2f} s | {slow[i].cpu:.2f} s" if slow else "- | -"
            print(f"| {label} | {a.wall:.2f} s | {a.cpu:.2f} s | {a.peak:.0f} | {raw} | {target:.0f} s |")
        for i, label in enumerate(["web overview /", "web experiment page"]):
            wall, cpu = fast_pages[i]
            raw = f"{slow_pages[i][0]:.0f} ms | {slow_pages[i][1]:.0f} ms" if slow_pages else "- | -"
            print(f"| {label} (median of 15) | {wall:.0f} ms | {cpu:.0f} ms (server) | | {raw} | 150 ms |")
        print(f"| reference: tracker --help | {ref.wall:.2f} s | {ref.cpu:.2f} s | {ref.peak:.0f} | | | |")
    finally:
        if admin and pg_name and not args.keep:
            drop_database(admin, pg_name)


if __name__ == "__main__":
    main()
