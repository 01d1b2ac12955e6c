"""Small local servers for tests that need real sockets on 127.0.0.1, and waiting for them.

A test that starts a server (a thread, a `tracker run` or `tracker serve` process)
waits for it with `wait_until`: a readiness probe polled until it holds, with a
generous deadline, failing at once when the server died. Never a fixed window: on a
busy machine a process can take far longer to start than on a quiet one.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Seconds to wait for a server to be ready or a background effect to show; only ever reached
# when something is broken, so it can be generous. $TRACKER_TEST_DEADLINE changes it.
DEADLINE = float(os.environ.get("TRACKER_TEST_DEADLINE", "300"))


def wait_until(
    ready: Callable[[], bool],
    what: str,
    *,
    alive: Callable[[], bool] | None = None,
    deadline: float = DEADLINE,
    every: float = 0.05,
) -> None:
    """Poll `ready()` until it is true; fail naming `what` when `alive()` turns false or time runs out."""
    end = time.monotonic() + deadline
    while not ready():
        if alive is not None and not alive():
            raise AssertionError(f"gave up waiting for {what}: the server is no longer running")
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what} after {deadline:.0f} s")
        time.sleep(every)


def running(process: subprocess.Popen[Any]) -> Callable[[], bool]:
    """An `alive` probe for a child process."""
    return lambda: process.poll() is None


def answers(url: str) -> Callable[[], bool]:
    """A readiness probe: true once `url` answers HTTP at all (any status)."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    return probe


def file_contains(path: Path, *needles: str) -> Callable[[], bool]:
    """A readiness probe: true once the file at `path` exists and holds every needle."""

    def probe() -> bool:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return False
        return all(needle in text for needle in needles)

    return probe


def finished_runs(database_url: str, stream_prefix: str = "") -> dict[str, list[str]]:
    """The worker of each finished collection run, by stream name: a probe for
    "the worker has collected" that works on any database the tracker writes."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT s.name, r.worker FROM collection_runs r JOIN streams s ON s.id = r.stream_id "
                "WHERE r.finished_at IS NOT NULL AND s.name LIKE :prefix"
            ), {"prefix": stream_prefix + "%"}).all()  # fmt: skip
    except Exception:  # the tables are not there yet
        return {}
    finally:
        engine.dispose()
    found: dict[str, list[str]] = {}
    for name, worker in rows:
        found.setdefault(name, []).append(str(worker))
    return found


def rss_feed(entries: int, *, start: datetime | None = None) -> bytes:
    """An RSS 2.0 feed with `entries` items, newest first."""
    start = start or datetime(2026, 9, 1, tzinfo=UTC)
    items = "".join(
        f"<item><title>Acme news {i}</title><link>https://news.example/acme/{i}</link>"
        f"<guid>https://news.example/acme/{i}</guid><description>Acme is great, story {i}</description>"
        f"<pubDate>{format_datetime(start - timedelta(hours=i))}</pubDate></item>"
        for i in range(entries)
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Acme</title>'
            f"<link>https://news.example/</link>{items}</channel></rss>").encode()  # fmt: skip


@contextmanager
def local_server(respond: Callable[[str], tuple[int, dict[str, str], bytes]]) -> Iterator[Any]:
    """Serve `respond(path) -> (status, headers, body)` on a free loopback port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = respond(self.path)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def stored_world(tmp_path: Path, db_url: str, names: list[str], items: list[Any], now: datetime) -> Iterator[Any]:
    """A tracker with hackernews streams `names` and `items` stored through the ingest path at
    `now`: yields (store, settings), the store closed afterwards."""
    from tests.conftest import write_config
    from tracker.config import load_settings
    from tracker.ingest import sync_streams, upsert_items
    from tracker.store.db import open_store

    streams = [{"name": n, "connector": "hackernews", "query": n, "every": "1h"} for n in names]
    settings = load_settings(write_config(tmp_path, db_url=db_url, streams=streams))
    store = open_store(db_url, settings.organisation.timezone)
    with store.write() as session:
        ids = sync_streams(session=session, settings=settings, now=now)
        upsert_items(session=session, items=items, stream_ids=ids, now=now)
    try:
        yield store, settings
    finally:
        store.close()
