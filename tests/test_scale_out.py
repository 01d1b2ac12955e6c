"""Scale-out on PostgreSQL: two (and three) `tracker run` workers share one database; each
stream is collected by one of them at a time, on time, and a crashed holder's lease runs out."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import write_config
from tests.support import file_contains, finished_runs, local_server, rss_feed, running, wait_until
from tracker import leases
from tracker.sandbox.server import SandboxServer
from tracker.sandbox.world import generate_world, renumbered
from tracker.store.db import open_store
from tracker.store.models import CollectionRun, Mention, Stream
from tracker.timeutil import utcnow

STREAMS = 6


@dataclass
class Workers:
    processes: list[subprocess.Popen[str]]
    logs: list[Path]
    output: list[str] = field(default_factory=list)  # their logs, once stopped

    @property
    def pids(self) -> set[str]:
        return {str(w.pid) for w in self.processes}

    def alive(self) -> bool:
        return all(w.poll() is None for w in self.processes)

    def stop(self, timeout: float) -> list[int | None]:
        """SIGTERM to each, then wait: their exit codes (0 is a clean stop)."""
        for worker in self.processes:
            worker.send_signal(signal.SIGTERM)
        return [worker.wait(timeout=timeout) for worker in self.processes]


@contextlib.contextmanager
def running_workers(tracker: list[str], directory: Path, count: int) -> Iterator[Workers]:
    """`count` `tracker run` processes, each logging to a file (a full pipe would block it); on
    leaving, any still running is killed and `output` holds every log."""
    paths = [directory / f"worker-{i}.log" for i in range(count)]
    files = [path.open("w+") for path in paths]
    workers = Workers([subprocess.Popen([*tracker, "run"], stderr=f, text=True) for f in files], paths)
    try:
        yield workers
    finally:
        for worker in workers.processes:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for f in files:
            f.seek(0)
            workers.output.append(f.read())
            f.close()


def slow_feed(path: str) -> tuple[int, dict[str, str], bytes]:
    time.sleep(0.4)  # long enough for two workers to race for the same stream
    return 200, {"Content-Type": "application/rss+xml"}, rss_feed(30)


@pytest.mark.slow
def test_two_workers_never_collect_one_stream_at_once(tmp_path: Path, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("scale-out is a PostgreSQL deployment")
    with local_server(slow_feed) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
        config = write_config(tmp_path, db_url=db_url, streams=[
            {"name": f"feed-{i}", "connector": "rss", "url": url, "every": "20s"} for i in range(STREAMS)
        ])  # fmt: skip
        tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
        subprocess.run([*tracker, "db", "upgrade"], check=True, capture_output=True)
        # One collection first: both workers then take each stream's next time from the same
        # recorded run, so they reach for every stream at the same instant, round after round,
        # and which of them gets it is a genuine race (started seconds apart, the first to
        # start would win every round and the other would never take part).
        subprocess.run([*tracker, "collect"], check=True, capture_output=True)
        with running_workers(tracker, tmp_path, 2) as workers:
            pids = workers.pids

            def both_took_part_and_every_stream_ran_twice() -> bool:
                runs = finished_runs(db_url, "feed-")
                by_workers = {s: [w for w in ws if w.split(":")[1] in pids] for s, ws in runs.items()}
                return len(runs) == STREAMS and all(len(w) >= 2 for w in by_workers.values()) and pids <= {
                    w.split(":")[1] for ws in by_workers.values() for w in ws}  # fmt: skip

            # Until each stream has run twice under the workers (two rounds) and both have collected.
            wait_until(both_took_part_and_every_stream_ran_twice, "two rounds by both workers", every=0.5,
                       alive=workers.alive)  # fmt: skip
            codes = workers.stop(timeout=60)
    assert codes == [0, 0], workers.output
    store = open_store(db_url)
    with store.read() as session:
        rows = session.execute(
            select(
                Stream.name,
                CollectionRun.worker,
                CollectionRun.started_at,
                CollectionRun.finished_at,
                CollectionRun.status,
            )
            .join(CollectionRun, CollectionRun.stream_id == Stream.id)
            .order_by(CollectionRun.started_at)
        ).all()
        mentions = len(session.scalars(select(Mention.id)).all())
    store.close()
    by_stream: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for name, worker, started, finished, status in rows:
        by_stream[name].append((started, finished, worker, status))
    assert len(by_stream) == STREAMS
    for name, runs in by_stream.items():
        assert len(runs) >= 2, f"{name} was collected on schedule"
        for (_, end, _, _), (start, _, _, _) in pairwise(runs):
            assert end is not None and end <= start, f"{name}: two runs overlapped"
    pids = {worker.split(":")[1] for runs in by_stream.values() for *_, worker, _ in runs}
    assert pids >= workers.pids, "both workers took part"
    assert mentions == 30, "every stream reads the same feed: stored once"


WORKERS, WORLDS, ROUNDS = 3, 6, 3  # six sandbox worlds, ten brand and competitor streams each
EVERY = timedelta(seconds=20)
SCHEDULED = re.compile(r"scheduled from (\S+)")  # the instant a worker's schedule is built from


@pytest.mark.slow
def test_three_workers_collect_sixty_streams_on_time_and_never_one_twice_at_once(
    tmp_path: Path, db_url: str
) -> None:
    """Three workers, 60 sandbox streams every 20 s, for three periods after the last worker started.

    On time: every due time of every worker's schedule (built from the database at its
    start, logged as "scheduled from": a stream is due `every` after its last recorded run,
    or at once when overdue, then every `every`) has a run of that stream, by any worker,
    that started before the next due time, i.e. within one period. That bound is what "not
    one collection missed" means for a periodic job and needs no timing figure: within it,
    lateness is the queue of the 60 streams that fall due at the same instant, and its size
    is this machine's load (bench/collect_scale_bench.py measures it); a stream left out of
    a round (a lease never released, all workers backing off, a run overlapping its next
    due time) misses it by a whole period. A run up to half a period before a due time
    counts for it: a worker that started late is scheduled from a run another worker had
    just started, so its due times trail theirs by that run's small lag.
    """
    if not db_url.startswith("postgresql"):
        pytest.skip("scale-out is a PostgreSQL deployment")
    with contextlib.ExitStack() as servers:
        streams = []
        for k in range(WORLDS):  # distinct posts: the platforms' ids of the worlds differ
            world = renumbered(generate_world(2200 + k, weeks=1), k * 1_000_000)
            server = servers.enter_context(SandboxServer(world, rate_limits={}, require_bluesky_login=False))
            streams += [conf | {"name": f"w{k}-{conf['name']}", "every": "20s", "refresh_ages": []}
                        for conf in server.stream_configs() if conf["role"] != "owned"]  # fmt: skip
        assert len(streams) == 60
        config = write_config(tmp_path, db_url=db_url, streams=streams)
        tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
        subprocess.run([*tracker, "db", "upgrade"], check=True, capture_output=True)
        subprocess.run([*tracker, "collect"], check=True, capture_output=True)  # the same due times for all
        with running_workers(tracker, tmp_path, WORKERS) as workers:
            pids = workers.pids
            for path, worker in zip(workers.logs, workers.processes, strict=True):
                wait_until(file_contains(path, "scheduled from"), "a worker's schedule", alive=running(worker))
            origins = [datetime.fromisoformat(SCHEDULED.findall(path.read_text())[0]) for path in workers.logs]

            def rounds_since_the_last_worker_started_and_all_took_part() -> bool:
                runs = finished_runs(db_url, "w")
                mine = [[w for w in ws if w.split(":")[1] in pids] for ws in runs.values()]
                return utcnow() >= max(origins) + ROUNDS * EVERY and len(runs) == len(streams) and all(
                    len(ws) >= ROUNDS for ws in mine) and pids <= {w.split(":")[1] for ws in mine for w in ws}  # fmt: skip

            # Three periods after the last worker built its schedule: each worker's first due time
            # is at most a period after its start, so each has due times with a period to run in.
            wait_until(rounds_since_the_last_worker_started_and_all_took_part, f"{ROUNDS} rounds by the workers",
                       every=0.5, alive=workers.alive)  # fmt: skip
            stop = utcnow()
            codes = workers.stop(timeout=120)
    assert codes == [0] * WORKERS, workers.output
    store = open_store(db_url)
    with store.read() as session:
        rows = session.execute(
            select(Stream.name, CollectionRun.started_at, CollectionRun.finished_at, CollectionRun.worker)
            .join(CollectionRun, CollectionRun.stream_id == Stream.id)
            .order_by(CollectionRun.started_at)
        ).all()
    store.close()
    by_stream: dict[str, list[tuple[datetime, datetime | None, str | None]]] = defaultdict(list)
    for name, started, finished, holder in rows:
        by_stream[name].append((started, finished, holder))
    assert len(by_stream) == len(streams)
    late, checked = [], 0
    for name, runs in by_stream.items():
        for (_, end, _), (start, _, _) in pairwise(runs):
            assert end is not None and end <= start, f"{name}: two runs overlapped"
        starts = [start for start, _, _ in runs]
        for origin in origins:  # every worker's own schedule of this stream, as Worker.jobs builds it
            last = max(start for start in starts if start < origin)
            due = max(origin, last + EVERY)
            while due <= stop - EVERY:
                if not any(due - EVERY / 2 <= start < due + EVERY for start in starts):
                    late.append(f"{name} due {due.isoformat()}")
                checked += 1
                due += EVERY
    assert checked >= 2 * len(streams) * WORKERS, "every worker's schedule had due times to check"
    assert not late, f"due times without a run within one period: {late[:10]}"
    took_part = {worker.split(":")[1] for runs in by_stream.values() for *_, worker in runs if worker}
    assert took_part >= workers.pids, "all three workers took part"


def test_a_crashed_holders_lease_runs_out(db_url: str) -> None:
    store = open_store(db_url)
    dead = f"elsewhere:{os.getpid() + 100000}"
    ttl = timedelta(minutes=6)
    assert leases.acquire(store, "collect:x", ttl, holder=dead)
    assert not leases.acquire(store, "collect:x", ttl)
    later = leases.utcnow() + ttl + timedelta(seconds=1)
    assert leases.acquire(store, "collect:x", ttl, now=later)
    store.close()
