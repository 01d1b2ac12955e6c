"""What the platform modules share while the server runs: the world, its indexes, sessions, limits."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TypeVar, cast

from tracker.sandbox.world import Post, World

T = TypeVar("T")

# Requests per window (seconds) of each rate-limited host, as the real platforms announce them.
DEFAULT_RATE_LIMITS: Mapping[str, tuple[int, float]] = {
    "mastodon": (300, 300.0),  # per IP, 5 minutes
    "bluesky": (3000, 300.0),  # AppView, per IP
    "bluesky-pds": (3000, 300.0),
    "reddit": (100, 600.0),  # anonymous
    "reddit-oauth": (1000, 600.0),  # 100 per minute, averaged over 10 minutes
}


@dataclass(frozen=True)
class ServerSwitches:
    """Switches of a SandboxServer (see its docstring)."""

    require_bluesky_login: bool = True
    block_anonymous_reddit: bool = False
    feed_size: int = 50
    token_ttl: float = 7200.0  # seconds an access token lives (Bluesky ~2 h; Reddit's says 86400)
    hn_max_hits: int = 1000  # Algolia serves at most this many hits of one query
    # Quirks of the real platforms (issue 15), each switchable; see SandboxServer.
    mastodon_filtered: float = 0.0  # share of statuses a server-side filter drops after the limit
    bluesky_search_cap: int = 10_000  # posts searchPosts serves of one query (then no cursor)
    bluesky_empty_pages: int = 0  # empty pages (with a cursor) before every second search page
    reddit_listing_cap: int | None = None  # posts a listing serves at most (Reddit: about 1,000)
    login_limits: bool = False  # createSession limited to 30 per 5 minutes and 300 a day
    deleted_share: float = 0.0  # share of posts their authors delete after a while (lifecycle.py)
    mastodon_tag_access: str = "public"  # "authenticated": tag timelines empty without a token (4.5)


@dataclass
class _Token:
    platform: str
    kind: str  # access | refresh
    subject: str
    expires: float  # time.monotonic()
    pair: str = ""  # the other token of a Bluesky session


class Sessions:
    """Tokens the sandbox issued (Bluesky sessions, Reddit OAuth); thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self.clock = clock

    def issue(self, platform: str, kind: str, subject: str, ttl: float, *, prefix: str = "") -> str:
        token = prefix + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _Token(platform, kind, subject, self.clock() + ttl)
        return token

    def pair(self, access: str, refresh: str) -> None:
        with self._lock:
            self._tokens[access].pair = refresh
            self._tokens[refresh].pair = access

    def check(self, platform: str, kind: str, token: str | None) -> str:
        """ "ok", "expired", "missing" or "invalid"."""
        if not token:
            return "missing"
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found.platform != platform or found.kind != kind:
            return "invalid"
        return "ok" if self.clock() < found.expires else "expired"

    def subject(self, token: str) -> str | None:
        with self._lock:
            found = self._tokens.get(token)
            return found.subject if found else None

    def revoke(self, token: str) -> None:
        """A used refresh token and its access token stop working (Bluesky rotates both)."""
        with self._lock:
            found = self._tokens.pop(token, None)
            if found and found.pair:
                self._tokens.pop(found.pair, None)

    def expire(self, platform: str | None = None, kind: str = "access") -> int:
        """Make every matching token expired now; returns how many."""
        with self._lock:
            hit = [t for t in self._tokens.values() if t.kind == kind and platform in (None, t.platform)]
            for token in hit:
                token.expires = self.clock() - 1
            return len(hit)

    def count(self, platform: str) -> int:
        with self._lock:
            return sum(1 for t in self._tokens.values() if t.platform == platform and t.kind == "access")


@dataclass
class Budget:
    """One host's answer to "may I?": the figures its rate-limit headers announce."""

    allowed: bool
    limit: int
    used: int
    remaining: int
    reset: float  # seconds until the window ends
    wall_reset: datetime  # when it ends, in wall-clock time
    window: float  # the window's length in seconds


class RateLimiter:
    """Fixed windows per host: the first request opens one; `limit` requests fit in it."""

    def __init__(self, limits: Mapping[str, tuple[int, float]], clock: Callable[[], float] = time.monotonic):
        self.limits = dict(limits)
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # host -> (window end, requests in it)

    def hit(self, host: str) -> Budget | None:
        """Count one request to `host`; None when the host has no limit."""
        if host not in self.limits:
            return None
        limit, window = self.limits[host]
        now = self.clock()
        with self._lock:
            ends, used = self._windows.get(host, (0.0, 0))
            if now >= ends:
                ends, used = now + window, 0
            allowed = used < limit
            used += allowed
            self._windows[host] = (ends, used)
        reset = max(0.0, ends - now)
        wall = datetime.now(UTC) + timedelta(seconds=reset)
        return Budget(allowed, limit, used, max(0, limit - used), reset, wall, window)


@dataclass
class Context:
    """The world plus its indexes, the server's switches and its sessions."""

    world: World
    settings: ServerSwitches
    sessions: Sessions = field(default_factory=Sessions)
    deleted: dict[int, datetime] = field(default_factory=dict)  # post number -> deleted at (lifecycle)
    logins: dict[str, list[datetime]] = field(default_factory=dict)  # createSession times per account
    _matches: dict[tuple[str, str], list[Post]] = field(default_factory=dict)
    _memo: dict[tuple[object, ...], object] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def newest_first(self) -> dict[str, list[Post]]:
        """Every platform's posts, newest first (ties: the higher number first)."""
        found: dict[str, list[Post]] = {}
        for post in sorted(self.world.posts, key=lambda p: (p.created_at, p.n), reverse=True):
            found.setdefault(post.platform, []).append(post)
        return found

    def matching(self, platform: str, query: str) -> list[Post]:
        """Posts (not boosts/reposts) whose text has every word of `query`, newest first; cached."""
        key = (platform, query.lower())
        with self._lock:
            if key in self._matches:
                return self._matches[key]
        words = [w.strip("\"'").lower() for w in query.split()]
        words = [w for w in words if w]
        found = [
            p
            for p in self.newest_first.get(platform, [])
            if p.kind not in ("boost", "repost") and words and all(w in searchable(p) for w in words)
        ]
        with self._lock:
            self._matches[key] = found
        return found

    def visible(self, posts: list[Post], now: datetime) -> list[Post]:
        """The posts shown at `now`: visible by then and not deleted (tracker.sandbox.lifecycle)."""
        if not self.deleted and self.settings.deleted_share <= 0:  # no deletions switched on
            return [p for p in posts if p.visible_at <= now]
        from tracker.sandbox.lifecycle import gone

        return [p for p in posts if p.visible_at <= now and not gone(self, p, now)]

    def memo(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """A value computed once per key (say, an account's counts at one moment)."""
        with self._lock:
            if key in self._memo:
                return cast(T, self._memo[key])
        value = compute()
        with self._lock:
            if len(self._memo) > 10_000:
                self._memo.clear()
            self._memo[key] = value
        return value


def searchable(post: Post) -> str:
    return f"{post.title}\n{post.text}\n{post.extra.get('tags', '')}".lower()
