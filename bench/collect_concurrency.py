"""Collection concurrency: added wall time under latency, against what a serial collector takes.

    python bench/collect_concurrency.py [--latency 0.2] [--streams 10] [--hits 250]

A local HTTP server speaks the Hacker News search API (Algolia search_by_date,
100 hits a page) for `--streams` streams and waits `--latency` seconds before each
answer. `tracker collect` runs once against it without latency and once with; the
added wall time is divided by (requests x latency), the time a collector that sends
one request at a time would add. Target: <= 0.3.

Two layouts are measured: every stream on one origin (the per-origin limit, default
4, is what bounds concurrency), and the streams spread over 5 origins (ports), as
streams on different platforms are.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

START = datetime(2026, 9, 1, tzinfo=UTC)


class World:
    """`hits` stories per query, one every 7 minutes back from START; counts requests."""

    def __init__(self, hits: int) -> None:
        self.hits = hits
        self.latency = 0.0
        self.requests = 0
        self.lock = threading.Lock()

    def page(self, query: str, page: int, per_page: int) -> dict[str, Any]:
        rows = []
        for i in range(page * per_page, min(self.hits, (page + 1) * per_page)):
            created = START - timedelta(minutes=7 * i)
            rows.append({
                "objectID": f"{query}-{i}", "title": f"{query} story {i}", "url": f"https://e.example/{query}/{i}",
                "author": f"user{i % 50}", "points": i % 30, "num_comments": i % 9, "story_text": None,
                "created_at": created.isoformat().replace("+00:00", ".000Z"),
                "created_at_i": int(created.timestamp()), "_tags": ["story", f"story_{i}"],
            })  # fmt: skip
        pages = (self.hits + per_page - 1) // per_page
        return {"hits": rows, "nbHits": self.hits, "page": page, "nbPages": pages, "hitsPerPage": per_page,
                "exhaustiveNbHits": True, "query": query, "params": ""}  # fmt: skip


def serve(world: World) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with world.lock:
                world.requests += 1
            time.sleep(world.latency)
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = json.dumps(world.page(params.get("query", "q"), int(params.get("page", 0)),
                                         int(params.get("hitsPerPage", 100)))).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(directory: Path, ports: list[int], streams: int) -> Path:
    lines = ['[organisation]\nname = "Bench"\ntimezone = "UTC"\n']
    for i in range(streams):
        port = ports[i % len(ports)]
        lines.append(f'[[streams]]\nname = "s{i}"\nconnector = "hackernews"\nquery = "q{i}"\nevery = "15m"\n'
                     f'base_url = "http://127.0.0.1:{port}"\nbackfill = 100000\n')  # fmt: skip
    path = directory / "tracker.toml"
    path.write_text("\n".join(lines))
    return path


def collect(config: Path) -> float:
    (config.parent / "tracker.db").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (config.parent / f"tracker.db{suffix}").unlink(missing_ok=True)
    tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
    subprocess.run([*tracker, "db", "upgrade"], check=True, capture_output=True)
    started = time.perf_counter()
    result = subprocess.run([*tracker, "collect"], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"collect failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def measure(origins: int, args: argparse.Namespace, work: Path) -> tuple[float, float, int, float]:
    world = World(args.hits)
    servers = [serve(world) for _ in range(origins)]
    try:
        config = write_config(work, [s.server_address[1] for s in servers], args.streams)
        world.latency = 0.0
        quick = collect(config)
        world.requests = 0
        world.latency = args.latency
        slow = collect(config)
        requests = world.requests
    finally:
        for server in servers:
            server.shutdown()
    serial = requests * args.latency
    return quick, slow, requests, (slow - quick) / serial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--hits", type=int, default=250)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-collect-"))
    print(
        f"{'layout':<26} {'no latency':>11} {'latency':>9} {'requests':>9} {'serial adds':>12} {'ratio':>7}"
    )
    for origins, label in ((1, "10 streams, 1 origin"), (5, "10 streams, 5 origins")):
        quick, slow, requests, ratio = measure(origins, args, work)
        print(f"{label:<26} {quick:>9.2f} s {slow:>7.2f} s {requests:>9} {requests * args.latency:>10.2f} s "
              f"{ratio:>7.2f}")  # fmt: skip
    print(f"target: ratio <= 0.30 (latency {args.latency * 1000:.0f} ms per request)")


if __name__ == "__main__":
    main()
