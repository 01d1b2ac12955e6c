"""Collection at scale (issue 22, item 4): 200 streams on 5 origins, each every 15 minutes,
under one `tracker run`, against the sandbox with time compressed.

    python bench/collect_scale_bench.py [--factor 15] [--hours 2.5] [--worlds 20] [--volume 8]

What runs: 20 sandbox worlds (generate_world, seeds 2200.., one week of history, `--volume`
times the default mention rates: about 116 mentions a day per stream) behind 5 origins
(loopback ports), one per platform: Mastodon, Bluesky, Hacker News, Reddit and the news
feeds. Each origin serves its platform of every world under /w<k>/..., so it holds 40
streams (each world's brand and competitor stream) whose posts are all distinct. One
`tracker run` (the product's scheduler, APScheduler 3, as shipped) collects them.

How time is compressed, by `--factor` F: each world's timeline is squeezed F times around
the moment the bench starts (a post written a simulated hour after the start appears
60/F real minutes after it), the sandbox clock is the wall clock, and every duration the
tracker uses against post times is divided by F: `every` (15 min / F: 60 s at F = 15),
`overlap` (the connectors' 2 h / 30 min) and `refresh_ages` (1 h, 24 h, 48 h, 7 d). So
each run finds what a real 15-minute run finds (new posts, the overlap read again, posts
reaching a refresh age), and the tracker's clock, the sandbox's and the posts' agree, as
in production; only the idle time between two rounds is F times shorter. Not compressed:
the sandbox's engagement curve (posts gain their likes F times slower), tokens and rate
limits (switched off: they are the platforms' limits, not the scheduler's).

Reported, beside references measured in the same run:
  (a) CPU time (user + system, from wait4) of the `tracker run` process per collected item
      (an item a run read from the platform: `fetched`, new or already known), per run, and
      per item read again by the refresh; reference: `tracker collect` of the same 200
      streams once, (R1) the first collection, filling each stream's backfill, and (R2) one
      round's worth after the worker stopped (a new process, its start-up included);
  (b) the scheduler's lag: for each stream and each time it was due (the worker logs the
      instant its schedule is built from; due times are then `every` apart, as
      APScheduler's IntervalTrigger keeps them), the start of the first run of that stream
      at or after the due time, minus the due time: p50, p99, max, in real seconds. A due
      time APScheduler skipped or coalesced (the previous run still running) counts with
      the lag of the run that finally came; one still waiting at the end counts with the
      time waited so far.

Why real seconds: the lag is a queue. All 200 streams fall due together (their first
collection began together, and the schedule keeps that phase every 15 minutes), and
the worker works the queue down at the speed of this machine; the work of each run is a
real 15-minute run's. Compression shortens only the idle time after the queue is empty,
so a lag in real seconds is what a real deployment would see (if anything more, as the
worker's background jobs and the next round have F times less room); multiplied by F it
would charge the queue for time that was never compressed.

How far time can be compressed is bounded by the worker itself: one round of 200 runs
costs it about 7 s of CPU, so below an `every` of a few times that (on a shared 2-core
machine) the next round falls due before the last one is done and the bench measures
its own compression, not the scheduler (at F = 45, every 20 s, 16 % of the due times
were skipped). Hence F = 15 and `--hours 2.5` simulated hours by default (10 minutes of
wall time), the busiest of the simulated day (09:00-11:30 in the worlds' zone, 1.5-1.6
times the day's mean rate; the first collection runs before them). With TRACKER_BENCH_POSTGRES
(an admin URL) the store is a new database on that server (dropped at the end), else SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale_bench import drop_database, postgres_database  # noqa: E402
from tests.conftest import write_config  # noqa: E402
from tracker.sandbox.server import USER_AGENT, SandboxServer  # noqa: E402
from tracker.sandbox.world import World, generate_world, renumbered  # noqa: E402

PLATFORMS = {
    "mastodon": "/mastodon", "bluesky": "/bluesky", "hackernews": "/hn", "reddit": "/reddit", "rss": "/rss"
}  # fmt: skip
OVERLAP = {"mastodon": 7200, "bluesky": 7200}  # seconds; the other connectors' default is 1800
REFRESH_AGES = (3600, 86400, 172800, 604800)  # the default refresh ages, in seconds
# The simulated moment of the bench's start: 08:30 in the worlds' zone (UTC); after the first
# collection (1-2 minutes, 15-30 simulated at F = 15) the day's busiest hours follow.
SIM_START = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
_WORLD = re.compile(r"^/w(\d+)(/.*)$")


def compressed(world: World, k: int, real_start: datetime, factor: float) -> World:
    """The world's timeline squeezed `factor` times around SIM_START -> real_start; post
    numbers shifted by k million so that the platforms' ids of different worlds differ."""
    return renumbered(world, k * 1_000_000, at=lambda t: real_start + (t - SIM_START) / factor)


def serve_origin(sandboxes: list[SandboxServer]) -> ThreadingHTTPServer:
    """One origin on a loopback port: /w<k>/<platform path> is answered by world k's sandbox."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            found = _WORLD.match(parts.path)
            if found is None or int(found[1]) >= len(sandboxes):
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            # The links the sandbox writes (Mastodon's rel="next") keep the prefix.
            host = f"{headers.get('host', '127.0.0.1')}/w{found[1]}"
            response = sandboxes[int(found[1])].answer(
                self.command, found[2], parse_qs(parts.query, keep_blank_values=True), headers, body, host
            )
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            return None

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is no error
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def stream_tables(
    worlds: list[World], ports: dict[str, int], factor: float, backfill: int
) -> list[dict[str, Any]]:
    tables = []
    for k, world in enumerate(worlds):
        for s in world.streams:
            if s.role == "owned":
                continue
            base = f"http://127.0.0.1:{ports[s.platform]}/w{k}{PLATFORMS[s.platform]}"
            table: dict[str, Any] = {"name": f"w{k:02d}-{s.name}", "connector": s.platform, "role": s.role,
                                     "every": ms(900 / factor), "backfill": backfill,
                                     "overlap": ms(OVERLAP.get(s.platform, 1800) / factor),
                                     "refresh_ages": [ms(a / factor) for a in REFRESH_AGES]}  # fmt: skip
            if s.platform == "rss":
                table["url"] = f"{base}/{s.selectors['url']}"
            else:
                table |= {"base_url": base, **s.selectors}
            if s.platform == "reddit":
                table["user_agent"] = USER_AGENT
            tables.append(table)
    return tables


@dataclass
class Usage:
    wall: float
    cpu: float
    peak_mb: float


def wait_usage(process: subprocess.Popen[Any], started: float) -> Usage:
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return Usage(time.monotonic() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def collect_once(tracker: list[str], log: Path) -> tuple[Usage, list[dict[str, Any]]]:
    """One `tracker collect --json` of every stream: its CPU and peak memory, and its reports."""
    started = time.monotonic()
    with log.open("w") as err:
        process = subprocess.Popen([*tracker, "collect", "--json"], stdout=subprocess.PIPE, stderr=err)
        assert process.stdout is not None
        out = process.stdout.read()
        usage = wait_usage(process, started)
    if process.returncode not in (0, 1):  # 1: some stream not ok, reported below
        sys.exit(f"tracker collect failed ({process.returncode}); see {log}")
    return usage, json.loads(out)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (a value that occurred)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 1)) - 1))]


def runs_of(url: str) -> list[tuple[str, datetime, datetime | None, int, str | None, str]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT s.name, r.started_at, r.finished_at, r.fetched, r.worker, r.status "
            "FROM collection_runs r JOIN streams s ON s.id = r.stream_id ORDER BY r.started_at"
        )).all()  # fmt: skip
    engine.dispose()

    def aware(value: Any) -> datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    return [(r[0], aware(r[1]), aware(r[2]), int(r[3]), r[4], r[5]) for r in rows]  # type: ignore[misc]


def lags(
    runs: list[tuple[str, datetime, datetime | None, int, str | None, str]],
    pid: int,
    origin: datetime,
    every: timedelta,
    until: datetime,
    dues: list[datetime] | None = None,
) -> tuple[list[float], list[float], int, int]:
    """Each (stream, due time) in [origin, until - every]: seconds from it to the start, and to the
    end, of the first run at or after it.

    Returns (to the start, to the end, due times whose run began an `every` or more late, due
    times still waiting: counted with the time waited so far)."""
    before: dict[str, datetime] = {}
    mine: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for name, started, finished, _, worker, _ in runs:
        if worker is not None and worker.rsplit(":", 1)[-1] == str(pid):
            mine.setdefault(name, []).append((started, finished))
        elif started < origin:
            before[name] = max(started, before.get(name, started))
    to_start: list[float] = []
    to_end: list[float] = []
    late = waiting = 0
    for name in sorted(set(before) | set(mine)):
        last = before.get(name)
        due = origin if last is None else max(origin, last + every)  # what Worker.jobs computes
        served = mine.get(name, [])
        i = 0
        while due <= until - every:
            while i < len(served) and served[i][0] < due - timedelta(milliseconds=1):
                i += 1
            start, end = served[i] if i < len(served) else (until, None)
            waiting += i >= len(served)
            to_start.append((start - due).total_seconds())
            if dues is not None:  # each lag's due time, in the same order
                dues.append(due)
            to_end.append(((end or until) - due).total_seconds())
            late += to_start[-1] >= every.total_seconds()
            due += every
    return to_start, to_end, late, waiting


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factor", type=float, default=15.0, help="compression (every = 15 min / factor)")
    parser.add_argument("--hours", type=float, default=2.5, help="simulated hours under `tracker run`")
    parser.add_argument("--worlds", type=int, default=20, help="sandbox worlds; 10 streams each")
    parser.add_argument("--volume", type=float, default=8.0, help="times the sandbox's default mention rates")
    parser.add_argument("--backfill", type=int, default=100, help="items a first run reads per stream")
    parser.add_argument("--keep", type=Path, default=None, help="keep the work directory here")
    args = parser.parse_args()
    if 900 / args.factor < 10:
        sys.exit("--factor: at most 90 (every = 15 min / factor must be at least 10 s)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-collect-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    admin = os.environ.get("TRACKER_BENCH_POSTGRES")
    url, pg_name = postgres_database(admin) if admin else (f"sqlite:///{work / 'tracker.db'}", None)
    every = timedelta(seconds=900 / args.factor)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{'PostgreSQL' if admin else 'SQLite ' + sqlite3.sqlite_version}; load average at start "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    made = time.monotonic()
    sim_end = SIM_START + timedelta(hours=args.hours + 12)  # room for the set-up and the reference
    plain = [generate_world(2200 + k, weeks=1, end=sim_end, timezone="UTC", volume=args.volume)
             for k in range(args.worlds)]  # fmt: skip
    real_start = datetime.now(UTC)
    worlds = [compressed(w, k, real_start, args.factor) for k, w in enumerate(plain)]
    sandboxes = [SandboxServer(w, live=True, rate_limits={}, require_bluesky_login=False) for w in worlds]
    origins = {p: serve_origin(sandboxes) for p in PLATFORMS}
    ports = {p: int(s.server_address[1]) for p, s in origins.items()}
    tables = stream_tables(worlds, ports, args.factor, args.backfill)
    config = write_config(work, db_url=url, streams=tables, timezone="UTC")
    tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
    per_day = sum(s.mean_daily for w in plain for s in w.streams if s.role != "owned") / len(tables)
    print(f"{len(tables)} streams on {len(origins)} origins ({len(tables) // len(origins)} each), every "
          f"{every.total_seconds():g} s real = 15 simulated minutes (time compressed {args.factor:g}x); "
          f"{sum(len(w.posts) for w in worlds):,} posts in {args.worlds} worlds, ~{per_day:.0f} mentions "
          f"a day per stream; set-up {time.monotonic() - made:.1f} s")  # fmt: skip
    worker: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([*tracker, "db", "upgrade"], check=True, capture_output=True)
        first, first_reports = collect_once(tracker, work / "collect-first.log")
        first_items = sum(r["fetched"] for r in first_reports)
        first_refreshed = sum(r["refreshed"] for r in first_reports)

        log = work / "worker.log"
        bench_cpu = time.process_time()
        with log.open("w") as err:  # a file, not a pipe: a full pipe would stop the worker
            started = time.monotonic()
            worker = subprocess.Popen([*tracker, "run"], stderr=err)
        origin = None
        while origin is None:
            found = re.search(r"worker started: \d+ jobs, scheduled from (\S+)", log.read_text())
            if found:
                origin = datetime.fromisoformat(found[1])
            elif worker.poll() is not None:
                sys.exit(f"tracker run stopped at start; see {log}")
            else:
                time.sleep(0.05)
        end = origin + timedelta(hours=args.hours) / args.factor
        loads = []
        while datetime.now(UTC) < end:
            time.sleep(min(15.0, max(0.0, (end - datetime.now(UTC)).total_seconds())))
            loads.append(os.getloadavg()[0])
            if worker.poll() is not None:
                sys.exit(f"tracker run stopped; see {log}")
        stop = datetime.now(UTC)
        worker.send_signal(signal.SIGTERM)
        run = wait_usage(worker, started)
        bench_cpu = time.process_time() - bench_cpu

        text = log.read_text()
        lines = re.findall(r"collect (\S+): (\w+) fetched=(\d+) new=(\d+) .* refreshed=(\d+)", text)
        items = sum(int(line[2]) for line in lines)
        new = sum(int(line[3]) for line in lines)
        refreshed = sum(int(line[4]) for line in lines)
        not_ok = sum(line[1] != "ok" for line in lines)

        time.sleep(every.total_seconds())  # one period's worth of posts for the reference round
        second, second_reports = collect_once(tracker, work / "collect-round.log")
        second_items = sum(r["fetched"] for r in second_reports)
        second_refreshed = sum(r["refreshed"] for r in second_reports)

        dues: list[datetime] = []
        found_lags, done, late, waiting = lags(runs_of(url), worker.pid, origin, every, stop, dues)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        for server in origins.values():
            server.shutdown()
        if admin and pg_name:
            drop_database(admin, pg_name)

    simulated = (stop - origin) * args.factor
    print(f"\n`tracker run` for {(stop - origin).total_seconds():.0f} s real = "
          f"{simulated.total_seconds() / 3600:.1f} "
          f"simulated hours: {len(lines):,} runs ({not_ok} not ok), {items:,} items fetched ({new:,} new), "
          f"{refreshed:,} read again by the refresh; load average {min(loads):.1f}-{max(loads):.1f}; "
          f"peak {run.peak_mb:.0f} MB; the sandbox (this process) used {bench_cpu:.1f} s CPU")  # fmt: skip
    print("\n(a) CPU time                                 figure   items    CPU s   per run")
    rows = [
        ("tracker run (whole process, start-up in)", run.cpu, items, len(lines)),
        ("R1: tracker collect, first (backfill)", first.cpu, first_items, len(first_reports)),
        ("R2: tracker collect, one round after", second.cpu, second_items, len(second_reports)),
    ]
    for label, cpu, count, nruns in rows:
        per_item = f"{1000 * cpu / count:6.2f} ms/item" if count else "   no items"
        print(f"{label:<42} {per_item} {count:>7,} {cpu:8.1f}  {1000 * cpu / max(1, nruns):6.1f} ms")
    print(f"   (read again by the refresh: tracker run {refreshed:,}, R1 {first_refreshed:,}, "
          f"R2 {second_refreshed:,})")
    print(f"\n(b) scheduler lag behind each stream's due time, real seconds, {len(found_lags):,} due times")
    print(f"    p50 {percentile(found_lags, 0.5):.2f} s   p99 {percentile(found_lags, 0.99):.2f} s   "
          f"max {max(found_lags):.2f} s   (target p99 <= 30 s); {late} a period or more late, "
          f"{waiting} still waiting at the end")  # fmt: skip
    print(f"    to the end of that run (the run waits for the origin's 4 connections; collected by then): "
          f"p50 {percentile(done, 0.5):.2f} s   p99 {percentile(done, 0.99):.2f} s   max {max(done):.2f} s")
    print(f"    reference: the period, {every.total_seconds():g} s real; R1 took {first.wall:.1f} s wall, "
          f"R2 {second.wall:.1f} s wall (one round in a new process)")  # fmt: skip
    # A shared machine's busy minutes show as one window here, not only in the whole run's p99.
    print("    start lag by ten minutes of real time (due times in the window): p99 / max, late")
    window = timedelta(minutes=10)
    start = origin
    while start < stop:
        mine = [lag for lag, due in zip(found_lags, dues, strict=True) if start <= due < start + window]
        if mine:
            print(f"      {start:%H:%M}-{start + window:%H:%M} UTC  {len(mine):>6,} due times  "
                  f"{percentile(mine, 0.99):7.2f} / {max(mine):7.2f} s, "
                  f"{sum(lag >= every.total_seconds() for lag in mine)} late")  # fmt: skip
        start += window


if __name__ == "__main__":
    main()
