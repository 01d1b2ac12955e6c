"""Many processes, one SQLite file: the scheduler and 24 concurrent CLI writers never hit
"database is locked", and no write is lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import write_config
from tests.support import finished_runs, local_server, rss_feed, running, wait_until
from tracker.store.db import open_store
from tracker.store.models import CollectionRun, Mention

WRITERS = 24
ROUNDS = 3
LINES = 40


@pytest.mark.slow
def test_scheduler_and_24_concurrent_writers_share_one_sqlite_file(tmp_path: Path) -> None:
    feed = rss_feed(60)
    with local_server(lambda path: (200, {"Content-Type": "application/rss+xml"}, feed)) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
        path = write_config(tmp_path, streams=[
            {"name": f"feed-{i}", "connector": "rss", "url": url, "every": "10s"} for i in range(3)
        ])  # fmt: skip
        tracker = [sys.executable, "-m", "tracker", "--config", str(path)]
        subprocess.run([*tracker, "db", "upgrade"], check=True, capture_output=True)
        worker = subprocess.Popen([*tracker, "run"], stderr=subprocess.PIPE, text=True)
        database = f"sqlite:///{tmp_path / 'tracker.db'}"
        try:
            files = []
            for w in range(WRITERS):
                for r in range(ROUNDS):
                    f = tmp_path / f"w{w}-r{r}.jsonl"
                    f.write_text("".join(json.dumps({
                        "platform": "mastodon", "external_id": f"https://m.example/{w}/{r}/{n}",
                        "text": f"writer {w} round {r} line {n}", "lang": "en", "likes": n,
                        "created_at": "2026-09-01T10:00:00Z", "stream": f"import-{w % 4}",
                    }) + "\n" for n in range(LINES)))  # fmt: skip
                    files.append(f)

            def write(f: Path) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [*tracker, "mentions", "import", "--create-streams", str(f)], capture_output=True, text=True
                )

            def read(_: int) -> subprocess.CompletedProcess[str]:
                return subprocess.run([*tracker, "status", "--json"], capture_output=True, text=True)

            with ThreadPoolExecutor(max_workers=WRITERS) as pool:
                readers = pool.map(read, range(10))
                results = list(pool.map(write, files))
                reads = list(readers)
            # The worker collects at start; under load that can come after the writers are done.
            wait_until(lambda: len(finished_runs(database, "feed-")) == 3, "the worker's first collections",
                       alive=running(worker))  # fmt: skip
        finally:
            worker.send_signal(signal.SIGTERM)
            _, worker_err = worker.communicate(timeout=60)
    assert worker.returncode == 0, worker_err
    for result in [*results, *reads]:
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr.lower()
    assert "locked" not in worker_err.lower()
    store = open_store(f"sqlite:///{tmp_path / 'tracker.db'}")
    with store.read() as session:
        imported = session.scalar(
            select(func.count()).select_from(Mention).where(Mention.platform == "mastodon")
        )
        collected = session.scalar(select(func.count()).select_from(Mention).where(Mention.platform == "rss"))
        runs = session.scalars(select(CollectionRun.status)).all()
    store.close()
    assert imported == WRITERS * ROUNDS * LINES, "no write is lost"
    assert collected == 60 and runs and set(runs) == {"ok"}
    check = subprocess.run([*tracker, "db", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr  # the daily aggregates kept up
