"""Small local servers for tests that need real sockets on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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
