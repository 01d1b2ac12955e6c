"""Scale-out on PostgreSQL: two `tracker run` workers share one database; each stream is
collected by one of them at a time, and a crashed holder's lease runs out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import write_config
from tests.support import finished_runs, local_server, rss_feed, wait_until
from tracker import leases
from tracker.store.db import open_store
from tracker.store.models import CollectionRun, Mention, Stream

STREAMS = 6


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
        logs = [(tmp_path / f"worker-{i}.log").open("w+") for i in range(2)]  # a full pipe would block a worker
        workers = [subprocess.Popen([*tracker, "run"], stderr=log, text=True) for log in logs]
        pids = {str(w.pid) for w in workers}
        try:

            def both_took_part_and_every_stream_ran_twice() -> bool:
                runs = finished_runs(db_url, "feed-")
                by_workers = {s: [w for w in ws if w.split(":")[1] in pids] for s, ws in runs.items()}
                return len(runs) == STREAMS and all(len(w) >= 2 for w in by_workers.values()) and pids <= {
                    w.split(":")[1] for ws in by_workers.values() for w in ws}  # fmt: skip

            # Until each stream has run twice under the workers (two rounds) and both have collected.
            wait_until(both_took_part_and_every_stream_ran_twice, "two rounds by both workers", every=0.5,
                       alive=lambda: all(w.poll() is None for w in workers))  # fmt: skip
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
            output = []
            for log in logs:
                log.seek(0)
                output.append(log.read())
                log.close()
    assert [w.returncode for w in workers] == [0, 0], output
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
    assert pids >= {str(w.pid) for w in workers}, "both workers took part"
    assert mentions == 30, "every stream reads the same feed: stored once"


def test_a_crashed_holders_lease_runs_out(db_url: str) -> None:
    store = open_store(db_url)
    dead = f"elsewhere:{os.getpid() + 100000}"
    ttl = timedelta(minutes=6)
    assert leases.acquire(store, "collect:x", ttl, holder=dead)
    assert not leases.acquire(store, "collect:x", ttl)
    later = leases.utcnow() + ttl + timedelta(seconds=1)
    assert leases.acquire(store, "collect:x", ttl, now=later)
    store.close()
