"""One local HTTP server on 127.0.0.1 that speaks every platform's API over a seeded world.

Base URLs (what a stream's `base_url` / `auth_url` / `url` is set to), all on one port:

| platform        | base_url (SandboxServer.base_url(key))  | real host it stands for          |
|-----------------|-----------------------------------------|----------------------------------|
| mastodon        | http://127.0.0.1:PORT/mastodon          | https://mastodon.social          |
| bluesky         | http://127.0.0.1:PORT/bluesky           | https://public.api.bsky.app      |
| bluesky-pds     | http://127.0.0.1:PORT/bluesky-pds       | https://bsky.social (auth_url)   |
| hackernews      | http://127.0.0.1:PORT/hn                | https://hn.algolia.com           |
| reddit          | http://127.0.0.1:PORT/reddit            | https://www.reddit.com (auth_url)|
| reddit-oauth    | http://127.0.0.1:PORT/reddit-oauth      | https://oauth.reddit.com         |
| rss             | http://127.0.0.1:PORT/rss               | feeds: acme.atom, globex.xml, blog.xml |

Each platform's real paths follow its base URL (…/mastodon/api/v1/timelines/tag/acme,
…/bluesky/xrpc/app.bsky.feed.searchPosts, …/hn/api/v1/search_by_date,
…/reddit/search.json, …/reddit-oauth/r/sysadmin/search); see the platform modules for
what each endpoint does. All platforms share one origin, so an HttpClient holds back
all of them while one announces a spent rate-limit budget.

Time: the server's "now" starts at the world's end (so collections are reproducible);
a post is served once its visible_at <= now, with its engagement as of now.
`set_now()` / `advance()` move it (incremental collection tests). Tokens (Bluesky
sessions, Reddit OAuth) expire on the wall clock (`expire_sessions()` forces it).
With scheduled alert episodes (`episodes=`, tracker/sandbox/episodes.py) the clock is
live: the wall clock (shifted by set_now/advance), so each episode's posts appear when its
time comes; GET /_sandbox lists them with `collectable_at` and whether they are yet.

Faults: `server.faults.add(path_prefix, kind, count=1, **params)` (kinds in faults.py);
`server.requests` logs every request (method, path, query, headers with Authorization
values redacted, status, fault). A separate process controls the same through
`/_sandbox` (JSON): GET /_sandbox (world, base URLs, experiments), GET/POST/DELETE
/_sandbox/faults ({"path", "kind", "count", "method", "params"}), GET/POST /_sandbox/now
({"now": ISO} or {"advance": seconds}), GET/DELETE /_sandbox/requests, POST
/_sandbox/expire ({"platform": "bluesky"}), POST /_sandbox/deletions ({"share": 0.05}: authors
delete that share of the posts, see lifecycle.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tracker.sandbox import bluesky, hackernews, mastodon, reads, reddit, rss
from tracker.sandbox.faults import Fault, Faults, drift
from tracker.sandbox.poison import poison
from tracker.sandbox.state import DEFAULT_RATE_LIMITS, Budget, Context, RateLimiter, ServerSwitches
from tracker.sandbox.wire import JSON, Request, Response, html_response, json_response, page, parse_time
from tracker.sandbox.world import Post, World

if TYPE_CHECKING:
    from tracker.sandbox.episodes import Episode

log = logging.getLogger("tracker.sandbox")

HOST = "127.0.0.1"
CONTROL = "/_sandbox"
ENV = {
    "bluesky_password": "SANDBOX_BLUESKY_APP_PASSWORD",
    "reddit_client_id": "SANDBOX_REDDIT_CLIENT_ID",
    "reddit_client_secret": "SANDBOX_REDDIT_CLIENT_SECRET",
    "mastodon_token": "SANDBOX_MASTODON_TOKEN",
    "reddit_password": "SANDBOX_REDDIT_PASSWORD",
}
USER_AGENT = "social-tracker-sandbox/1.0 (demo; by /u/acme)"


@dataclass(frozen=True)
class _Platform:
    key: str  # base_url() key and rate-limit host
    prefix: str
    handle: Callable[[Context, Request], Response]
    error: Callable[[int], Response]
    rate_headers: Callable[[Budget], dict[str, str]] | None = None


PLATFORMS = (
    _Platform("mastodon", "/mastodon", mastodon.handle, mastodon.error, mastodon.rate_headers),
    _Platform("bluesky", "/bluesky", bluesky.handle_appview, bluesky.error, bluesky.rate_headers),
    _Platform("bluesky-pds", "/bluesky-pds", bluesky.handle_entryway, bluesky.error, bluesky.rate_headers),
    _Platform("hackernews", "/hn", hackernews.handle, hackernews.error),
    _Platform("reddit", "/reddit", reddit.handle_www, reddit.error, reddit.rate_headers),
    _Platform("reddit-oauth", "/reddit-oauth", reddit.handle_oauth, reddit.error, reddit.rate_headers),
    _Platform("rss", "/rss", rss.handle, rss.error),
)
AUTH = {"bluesky": "bluesky-pds", "reddit": "reddit"}


@dataclass
class RequestRecord:
    """One request the server received (control requests aside), for assertions."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names; an Authorization value is reduced to its scheme
    at: float = field(default_factory=time.time)
    status: int | None = None  # None: no answer (a "close" or "hang" fault)
    fault: str | None = None

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class SandboxServer:
    """The simulated platforms over `world`, served from a daemon thread (see the module docstring).

    `port=0` picks a free port (`.port` after start). `require_bluesky_login` makes the
    AppView refuse anonymous searchPosts with 403 (as the real one does); with
    `block_anonymous_reddit` anonymous Reddit listings answer 403 (as Reddit does to many
    server addresses). `feed_size` is how many entries a feed holds. `rate_limits` maps
    hosts (mastodon, bluesky, bluesky-pds, reddit, reddit-oauth) to (requests, window
    seconds); None uses the platforms' real budgets, {} turns limits off.

    `quirks` switch on the real platforms' paging and login behaviour (issue 15):
    `mastodon_filtered` (a share: statuses a server-side filter removes after the limit
    is applied, so pages come back short, and rel="next" comes on any non-empty page),
    `bluesky_search_cap` (posts searchPosts serves of one query, 10,000 as on Bluesky),
    `bluesky_empty_pages` (empty pages with a cursor before every second search page),
    `reddit_listing_cap` (posts a Reddit listing serves, about 1,000 on Reddit), and
    `login_limits` (createSession: 30 per 5 minutes, 300 a day per account, then 429).
    Late posts (up to 3 h) come from the world: generate_world(late=timedelta(hours=3)).
    """

    def __init__(
        self,
        world: World,
        *,
        port: int = 0,
        require_bluesky_login: bool = True,
        block_anonymous_reddit: bool = False,
        feed_size: int = 50,
        rate_limits: Mapping[str, tuple[int, float]] | None = None,
        token_ttl: float = 7200.0,
        hn_max_hits: int = 1000,
        now: datetime | None = None,
        deleted_share: float = 0.0,
        episodes: Sequence[Episode] = (),
        live: bool | None = None,
        **quirks: Any,
    ) -> None:
        from tracker.sandbox.episodes import schedule

        self.started = datetime.now(UTC).replace(microsecond=0)
        world, self.episodes = schedule(world, episodes, self.started)
        self.world = world
        self.settings = ServerSwitches(
            require_bluesky_login, block_anonymous_reddit, feed_size, token_ttl, hn_max_hits,
            deleted_share=deleted_share, **quirks,
        )  # fmt: skip
        self.context = Context(world, self.settings)
        self.faults = Faults()
        self.limiter = RateLimiter(DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits)
        self._wanted_port = port
        # a live clock is the wall clock (shifted by set_now/advance); a fixed one starts at the end
        self.live = (bool(episodes) and now is None) if live is None else live
        self._now = now or world.end
        self._shift = timedelta(0)
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._stopping = threading.Event()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HttpServer((HOST, self._wanted_port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: hanging and slow answers end, open connections are closed."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not running: call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def base_url(self, platform: str) -> str:
        """The base URL of a platform key: mastodon, bluesky, bluesky-pds, hackernews, reddit,
        reddit-oauth, rss (see the module docstring's table)."""
        for known in PLATFORMS:
            if known.key == platform:
                return self.url + known.prefix
        raise KeyError(f"unknown platform {platform!r}; known: {', '.join(p.key for p in PLATFORMS)}")

    def auth_url(self, platform: str) -> str:
        """Where a platform logs in: Bluesky's entryway (bluesky-pds), Reddit's www host."""
        return self.base_url(AUTH[platform])

    def feed_url(self, name: str) -> str:
        """A feed's address: feed_url("acme.atom"), feed_url("blog.xml")."""
        return f"{self.base_url('rss')}/{name}"

    # -- time, sessions, log ---------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        if self.live:
            return datetime.now(UTC) + self._shift
        return self._now

    def set_now(self, moment: datetime) -> None:
        """Move the server's clock (forwards or back); a naive moment is taken as UTC. A live
        clock keeps running from there."""
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        with self._lock:
            self._now = moment
            self._shift = moment - datetime.now(UTC)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            self._shift += delta
        return self.now

    def delete(self, post: Post, at: datetime | None = None) -> datetime:
        """Delete one post of the world at `at` (default: now); see tracker.sandbox.lifecycle."""
        moment = at or self.now
        self.context.deleted[post.n] = moment
        return moment

    def set_deleted_share(self, share: float) -> None:
        """Switch the authors' deletions on (a share of the posts, 0..1) or off (0)."""
        if not 0 <= share <= 1:
            raise ValueError("deleted_share: expected a share from 0 to 1")
        self.settings = self.context.settings = replace(self.settings, deleted_share=share)

    def expire_sessions(self, platform: str | None = None) -> int:
        """Expire every access token issued so far (Bluesky sessions, Reddit OAuth tokens)."""
        return self.context.sessions.expire(platform)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # -- what a demo needs -------------------------------------------------------------------

    def secrets(self) -> dict[str, str]:
        """The environment the stream configs' `*_env` keys name, with the world's credentials."""
        accounts = self.world.accounts
        return {
            ENV["bluesky_password"]: accounts.bluesky_password,
            ENV["reddit_client_id"]: accounts.reddit_client_id,
            ENV["reddit_client_secret"]: accounts.reddit_client_secret,
            ENV["mastodon_token"]: accounts.mastodon_token,
            ENV["reddit_password"]: reddit.password(self.context),
        }

    def stream_configs(self) -> list[dict[str, Any]]:
        """The world's streams as tracker.toml [[streams]] tables pointing at this server.

        Bluesky search streams log in when the server requires it; Reddit streams use
        OAuth when anonymous access is blocked. `backfill` is large enough for one run to
        collect the whole history.
        """
        return [self._stream_config(s.name) for s in self.world.streams]

    def _stream_config(self, name: str) -> dict[str, Any]:
        stream = self.world.stream(name)
        config: dict[str, Any] = {"name": stream.name, "connector": stream.platform, "role": stream.role}
        size = len(self.world.posts_of(name))
        config["backfill"] = max(200, (size // 100 + 2) * 100)
        if stream.platform == "rss":
            return config | {"url": self.feed_url(stream.selectors["url"])}
        config["base_url"] = self.base_url(stream.platform)
        config |= dict(stream.selectors)
        if (
            stream.platform == "bluesky"
            and "query" in stream.selectors
            and self.settings.require_bluesky_login
        ):
            config |= {
                "identifier": self.world.accounts.bluesky_handle,
                "app_password_env": ENV["bluesky_password"],
                "auth_url": self.auth_url("bluesky"),
            }
        if stream.platform == "reddit":
            config["user_agent"] = USER_AGENT
            if self.settings.block_anonymous_reddit:
                config |= {
                    "base_url": self.base_url("reddit-oauth"),
                    "auth_url": self.auth_url("reddit"),
                    "client_id_env": ENV["reddit_client_id"],
                    "client_secret_env": ENV["reddit_client_secret"],
                }
        return config

    def describe(self) -> dict[str, Any]:
        """What GET /_sandbox answers: the world in brief, base URLs, streams and experiments."""
        world = self.world
        return {
            "seed": world.seed,
            "weeks": world.weeks,
            "timezone": world.timezone,
            "start": world.start.isoformat(),
            "end": world.end.isoformat(),
            "now": self.now.isoformat(),
            "clock": "live" if self.live else "fixed",
            "started": self.started.isoformat(),
            "episodes": [e.as_dict(self.now) for e in self.episodes],
            "brand": world.brand,
            "competitor": world.competitor,
            "posts": len(world.posts),
            "base_urls": {p.key: self.base_url(p.key) for p in PLATFORMS},
            "streams": self.stream_configs(),
            "experiments": [
                asdict(e) | {"start": e.start.isoformat(), "end": e.end.isoformat(), "truth": e.truth}
                for e in world.experiments
            ],
        }

    # -- answering -----------------------------------------------------------------------------

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    def _platform(self, path: str) -> tuple[_Platform, str] | None:
        for platform in PLATFORMS:
            if path == platform.prefix or path.startswith(platform.prefix + "/"):
                return platform, path[len(platform.prefix) :]
        return reads.reddit_at_root(PLATFORMS, path)  # PRAW joins its paths onto the host, dropping ours

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        host: str,
    ) -> Response:
        """The normal (fault-free) answer to a request, rate limits applied."""
        found = self._platform(path)
        if found is None:
            return html_response(page("404 Not Found", "Nothing is served here."), 404)
        platform, below = found
        request = Request(method, below, query, headers, body, f"http://{host}{platform.prefix}", self.now)
        budget = self.limiter.hit(platform.key)
        if budget is not None and not budget.allowed:
            response = platform.error(429)
        else:
            try:
                response = platform.handle(self.context, request)
            except Exception:  # a sandbox bug must show in the test, not hang it
                log.exception("sandbox failed on %s %s", method, path)
                response = json_response(
                    {"error": "SandboxBug", "message": traceback.format_exc(limit=3)}, 500
                )
        if budget is not None and platform.rate_headers is not None:
            response.headers.update(platform.rate_headers(budget))
        return response

    def fault_response(self, fault: Fault, path: str) -> Response | None:
        """The answer a status-like fault gives (None for the connection-level kinds)."""
        found = self._platform(path)
        error = found[0].error if found else (lambda status: json_response({"error": str(status)}, status))
        if fault.kind.isdigit():
            response = error(int(fault.kind))
            if fault.kind == "429" and fault.params.get("retry_after", 1) is not None:
                response.headers["Retry-After"] = str(fault.params.get("retry_after", 1))
            return response
        if fault.kind == "invalid_json":
            return Response(
                200, b'{"posts": [{"uri": "at://did:plc:x/app.bsky.feed.post/3k', {"Content-Type": JSON}
            )
        if fault.kind == "html_200":
            return html_response(page("Down for maintenance", "We'll be back shortly."))
        return None

    def control(self, method: str, path: str, body: Any) -> Response:
        """The /_sandbox endpoints (see the module docstring)."""
        what = path.removeprefix(CONTROL).strip("/")
        try:
            if what == "" and method == "GET":
                return json_response(self.describe())
            if what == "faults":
                return self._control_faults(method, body)
            if what == "now":
                return self._control_now(method, body)
            if what == "requests":
                if method == "DELETE":
                    self.clear_requests()
                return json_response(
                    [asdict(r) for r in self.requests] if method == "GET" else {"cleared": True}
                )
            if what == "deletions" and method == "POST":
                share = body.get("share") if isinstance(body, dict) else None
                self.set_deleted_share(float(share if share is not None else -1))
                return json_response({"deleted_share": self.settings.deleted_share})
            if what == "expire" and method == "POST":
                platform = body.get("platform") if isinstance(body, dict) else None
                return json_response({"expired": self.expire_sessions(platform)})
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"error": f"no control endpoint {method} {path}"}, 404)

    def _control_faults(self, method: str, body: Any) -> Response:
        if method == "POST":
            specs = body if isinstance(body, list) else [body]
            if not all(isinstance(s, dict) for s in specs):
                raise ValueError("expected a fault object or a list of them")
            added = [self.faults.add_from(spec).as_dict() for spec in specs]
            return json_response(added if isinstance(body, list) else added[0], 201)
        if method == "DELETE":
            return json_response({"cleared": self.faults.clear()})
        return json_response([f.as_dict() for f in self.faults.pending()])

    def _control_now(self, method: str, body: Any) -> Response:
        if method == "POST":
            if not isinstance(body, dict):
                raise ValueError('expected {"now": ISO time} or {"advance": seconds}')
            if "advance" in body:
                self.advance(timedelta(seconds=float(body["advance"])))
            else:
                moment = parse_time(str(body.get("now")))
                if moment is None:
                    raise ValueError("now: expected an ISO 8601 time")
                self.set_now(moment)
        return json_response({"now": self.now.isoformat()})


class _HttpServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its sandbox and can close every open connection."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], sandbox: SandboxServer
    ):
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn); loopback needs no DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout, a retry) is part of the game, not a server error.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            log.debug("client %s went away", client_address)
            return
        super().handle_error(request, client_address)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self.connections_lock:
            (self.connections.add if add else self.connections.discard)(connection)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_ones = list(self.connections)
        for connection in open_ones:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers and httpx's pool expect
    server_version = "sandbox/1.0"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection is closed after this long
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _serve(self) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path == CONTROL or path.startswith(CONTROL + "/"):
            try:
                data = json.loads(body) if body else None
            except ValueError:
                data = None
            self._send(sandbox.control(self.command, path, data))
            return
        record = RequestRecord(self.command, path, query, _redacted(headers))
        sandbox._record(record)
        fault = sandbox.faults.take(self.command, path)
        record.fault = fault.kind if fault else None
        if fault is not None and fault.kind in ("close", "hang"):
            if fault.kind == "hang":
                sandbox._stopping.wait()
            self.close_connection = True
            return
        if fault is not None and fault.kind in ("bomb", "flood"):
            record.status = 200
            self._flood(fault)
            return
        delay = float(fault.params.get("delay", 1.0)) if fault is not None and fault.kind == "slow" else 0.0
        if delay and sandbox._stopping.wait(delay):  # stopped while waiting: no answer
            self.close_connection = True
            return
        response = sandbox.fault_response(fault, path) if fault is not None else None
        if response is None:
            host = headers.get("host") or f"{HOST}:{self.server.server_port}"
            response = sandbox.answer(self.command, path, query, headers, body, host)
            if fault is not None and fault.kind == "drift" and response.status == 200:
                with contextlib.suppress(ValueError):
                    response.body = json.dumps(drift(json.loads(response.body))).encode()
            if fault is not None and fault.kind == "poison" and response.status == 200:
                kind = response.headers.get("Content-Type", "")
                response.body = poison(response.body, kind, str(fault.params.get("what", "")))
        record.status = response.status
        self._send(response, truncated=fault is not None and fault.kind == "truncated")

    def _flood(self, fault: Fault) -> None:
        """A gzip bomb or an endless-looking feed, written chunk by chunk (never held in memory)."""
        size = int(float(fault.params.get("size", 1000 if fault.kind == "bomb" else 500)) * 1_000_000)
        self.send_response(200)
        if fault.kind == "bomb":
            body = gzip_bomb(size)
            self.send_header("Content-Type", JSON)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            chunks: Iterator[bytes] = iter([body])
        else:
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunks = flood_feed(size)
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client stops reading at its cap and hangs up
            for chunk in chunks:
                self.wfile.write(chunk)

    def _send(self, response: Response, *, truncated: bool = False) -> None:
        body = b"" if self.command == "HEAD" or response.status in (204, 304) else response.body
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status not in (204, 304):
            self.send_header("Content-Length", str(len(body) + (512 if truncated else 0)))
        self.end_headers()
        if truncated:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


_BOMBS: dict[int, bytes] = {}


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzip-compressed (about 1 KB per MB); made once per size."""
    if size not in _BOMBS:
        import zlib

        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
        block = bytes(1_000_000)
        parts = [packer.compress(block) for _ in range(size // len(block))]
        parts.append(packer.compress(bytes(size % len(block))))
        _BOMBS[size] = b"".join(parts) + packer.flush()
    return _BOMBS[size]


def flood_feed(size: int) -> Iterator[bytes]:
    """An RSS feed `size` bytes long: a header, then items without end, cut at `size`."""
    head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Flood</title>'
    item = b"<item><title>Acme again</title><guid>g</guid><description>" + b"a" * 900
    item += b"</description></item>"
    block = item * 1000
    yield head
    sent = len(head)
    while sent < size:
        piece = block[: size - sent]
        yield piece
        sent += len(piece)


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    """Headers for the log: an Authorization value keeps only its scheme."""
    if "authorization" in headers:
        scheme = headers["authorization"].split(" ", 1)[0]
        headers = {**headers, "authorization": f"{scheme} <redacted>"}
    return headers


# The real platforms' behaviours a SandboxServer can switch on (issue 15); `[sandbox]` names them alike.
QUIRKS = (
    "mastodon_filtered", "bluesky_search_cap", "bluesky_empty_pages", "reddit_listing_cap",
    "login_limits", "deleted_share", "mastodon_tag_access",
)  # fmt: skip


def serve(
    seed: int,
    weeks: int = 12,
    port: int = 0,
    *,
    end: datetime | None = None,
    require_bluesky_login: bool = True,
    block_anonymous_reddit: bool = False,
    brand: str = "Acme",
    competitor: str = "Globex",
    timezone: str = "Europe/Vienna",
    out: Callable[[str], None] = print,
    stop: threading.Event | None = None,
    deleted_share: float = 0.0,
    late: timedelta | None = None,
    episodes: Sequence[Episode] = (),
    **quirks: Any,
) -> None:
    """Serve the world of `seed` on 127.0.0.1:`port` until SIGINT or SIGTERM (or `stop` is set).

    With `episodes` (tracker/sandbox/episodes.py) the clock is the wall clock, so their posts
    appear when their time comes; the world then ends when the server starts unless `end` says
    otherwise.

    `late` is the longest lag of late posts (generate_world); `quirks` are SandboxServer's
    (mastodon_filtered, bluesky_empty_pages, ...). Prints the base URLs, the credentials'
    environment, the quirks switched on and the experiments first.
    """
    from tracker.sandbox.world import generate_world

    if episodes and end is None:
        end = datetime.now(UTC).replace(microsecond=0)
    world = generate_world(seed, weeks, end, brand=brand, competitor=competitor, timezone=timezone, late=late)
    stop = stop or threading.Event()
    restore = _on_signals(stop.set)
    server = SandboxServer(
        world,
        port=port,
        require_bluesky_login=require_bluesky_login,
        block_anonymous_reddit=block_anonymous_reddit,
        deleted_share=deleted_share,
        episodes=episodes,
        **quirks,
    )
    try:
        with server:
            for line in summary(server):
                out(line)
            if late is not None:
                out(f"  late posts: up to {late} late")
            while not stop.wait(0.2):
                pass
    finally:
        restore()


def summary(server: SandboxServer) -> list[str]:
    """Human-readable lines: where each platform is served, the credentials, the experiments."""
    world = server.world
    lines = [
        f"sandbox: seed {world.seed}, {world.weeks} weeks to {world.end.isoformat()} "
        f"({len(world.posts)} posts), control at {server.url}{CONTROL}"
    ]
    lines += [f"  {p.key:<13} {server.base_url(p.key)}" for p in PLATFORMS]
    lines += [f"  export {name}={value}" for name, value in server.secrets().items()]
    plain = ServerSwitches()
    on = [
        f"{name} {getattr(server.settings, name)}"
        for name in QUIRKS
        if getattr(server.settings, name) != getattr(plain, name)
    ]
    if on:
        lines.append(f"  quirks: {', '.join(on)}")
    lines += [
        f"  experiment {e.key}: {e.metric} on {e.stream} {e.start}..{e.end}, true effect {e.effect:+g}"
        for e in world.experiments
    ]
    if server.live:
        lines.append(f"  clock: live (wall clock), started {server.started.isoformat()}")
    lines += [e.line() for e in server.episodes]
    return lines


def _on_signals(handler: Callable[[], None]) -> Callable[[], None]:
    """Call `handler` on SIGINT/SIGTERM (main thread only); returns what restores the old handlers."""
    import signal

    previous: dict[int, Any] = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[number] = signal.signal(number, lambda *_: handler())
        except ValueError:  # not the main thread: the caller's `stop` event is the way out
            break

    def restore() -> None:
        for number, old in previous.items():
            signal.signal(number, old)

    return restore
