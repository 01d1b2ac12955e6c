"""The scheduler, the web server and 30 concurrent CLI writers on one SQLite file for a minute:
no "database is locked", no lost write."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import write_config
from tests.support import DEADLINE, answers, finished_runs, running, wait_until
from tracker.sandbox.server import SandboxServer
from tracker.sandbox.world import generate_world
from tracker.store.db import open_store
from tracker.store.models import ExperimentNote, Mention

WRITERS = 30
SECONDS = float(os.environ.get("TRACKER_SOAK_SECONDS", "60"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_scheduler_web_and_30_writers_share_one_sqlite_file(tmp_path: Path) -> None:
    world = generate_world(seed=4, weeks=2)
    with SandboxServer(world, require_bluesky_login=False, rate_limits={}) as sandbox:
        streams = [{**c, "every": "10s"} for c in sandbox.stream_configs()]
        port = free_port()
        config = write_config(tmp_path, streams=streams, extra=f"[web]\nport = {port}\n")
        tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
        subprocess.run([*tracker, "db", "upgrade"], check=True, capture_output=True)
        experiment = subprocess.run([*tracker, "experiment", "add", "--title", "soak", "--hypothesis", "h",
                                     "--practice", "shepherd", "--metric", "mentions", "--stream", streams[0]["name"],
                                     "--start", "2026-01-05", "--end", "2026-01-18"],
                                    capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        worker = subprocess.Popen([*tracker, "run"], stderr=subprocess.PIPE, text=True)
        web = subprocess.Popen([*tracker, "serve"], stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        # The minute starts once the server answers: under load it can take long to start.
        wait_until(answers(base + "/api/v1/streams"), "the web server", alive=running(web))
        failures: list[str] = []
        lines_written = [0]
        notes_written = [0]
        web_notes = [0]
        lock = threading.Lock()
        stop = time.monotonic() + SECONDS

        def writer(n: int) -> None:
            round_ = 0
            # At least one import and one note each, however slow a busy machine makes a round.
            while time.monotonic() < stop or round_ < 2:
                round_ += 1
                if round_ % 2:
                    path = tmp_path / f"w{n}-{round_}.jsonl"
                    path.write_text("".join(json.dumps({
                        "platform": "mastodon", "external_id": f"soak-{n}-{round_}-{i}", "text": "soak test line",
                        "lang": "en", "created_at": "2026-09-01T10:00:00Z", "stream": "soak",
                    }) + "\n" for i in range(20)))  # fmt: skip
                    result = subprocess.run([*tracker, "mentions", "import", "--create-streams", str(path)],
                                            capture_output=True, text=True)  # fmt: skip
                    count = 20
                else:
                    result = subprocess.run([*tracker, "experiment", "note", experiment, f"note {n}-{round_}"],
                                            capture_output=True, text=True)  # fmt: skip
                    count = 1
                with lock:
                    if result.returncode != 0 or "locked" in result.stderr.lower():
                        failures.append(result.stderr[-500:])
                    elif count == 20:
                        lines_written[0] += 20
                    else:
                        notes_written[0] += 1

        def web_client() -> None:
            k = 0
            while time.monotonic() < stop or k < 3:
                k += 1
                try:
                    response = httpx.post(f"{base}/api/v1/experiments/{experiment}/notes",
                                          json={"text": f"web note {k}"}, timeout=DEADLINE)  # fmt: skip
                    httpx.get(f"{base}/mentions", params={"q": "soak"}, timeout=DEADLINE)
                except httpx.HTTPError as exc:
                    failures.append(f"web: {exc!r}")
                    continue
                with lock:
                    if response.status_code == 201 or response.status_code == 200:
                        web_notes[0] += 1
                    else:
                        failures.append(f"web: {response.status_code} {response.text[:200]}")

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        threads.append(threading.Thread(target=web_client))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        database = f"sqlite:///{tmp_path / 'tracker.db'}"
        wait_until(
            lambda: bool(finished_runs(database)), "the worker's first collection", alive=running(worker)
        )
        for process in (worker, web):
            process.send_signal(signal.SIGTERM)
        logs = [process.communicate(timeout=DEADLINE)[1] for process in (worker, web)]
    assert failures == [], failures[:5]
    assert worker.returncode == 0 and web.returncode == 0, logs
    assert all("locked" not in log.lower() for log in logs)
    store = open_store(f"sqlite:///{tmp_path / 'tracker.db'}")
    with store.read() as session:
        imported = session.scalar(select(func.count()).select_from(Mention).where(Mention.platform == "mastodon",
                                                                                    Mention.text == "soak test line"))  # fmt: skip
        notes = session.scalar(select(func.count()).select_from(ExperimentNote))
        collected = session.scalar(select(func.count()).select_from(Mention)) - imported
    store.close()
    assert imported == lines_written[0] and notes == notes_written[0] + web_notes[0], "no write is lost"
    assert lines_written[0] > 0 and notes_written[0] > 0 and web_notes[0] > 0 and collected > 0
