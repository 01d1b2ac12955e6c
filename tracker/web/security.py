"""The layers every request passes: headers, host check, signed session, login, CSRF.

Each is a plain ASGI middleware, so it covers every route alike, /openapi.json and
errors included.

* Headers: a Content-Security-Policy that allows scripts, styles and images only from
  this origin (no inline script, so injected markup cannot run), no framing, no
  MIME sniffing, no referrer to other sites, and no caching of pages.
* Host check (loopback serving): only `localhost`/`127.0.0.1`/`[::1]` Host headers are
  answered, so a web page cannot reach the unauthenticated server through DNS rebinding.
* Proxy: `X-Forwarded-For`, `Forwarded` and `X-Forwarded-Proto`/`-Host` are believed
  only from the addresses in `[web] trusted_proxies` (none by default; uvicorn's own
  proxy handling is off), so nobody else can pose as another client address.
* Body limit: a request body over 1 MB is refused with 413 before anything reads it.
* Session: a cookie signed with the per-installation key (itsdangerous), HttpOnly,
  SameSite=Lax, Secure when the request came over https. It holds a random session
  id (the session itself is a database row, see tracker/accounts.py), the CSRF secret
  and one-shot messages. A rotated key file is picked up on the next request.
* Login: beyond loopback every request except /login and /static needs a session or
  an `Authorization: Bearer` token; pages redirect to /login, the API answers 401.
  A read-only token gets 403 on anything but GET/HEAD/OPTIONS.
* Rate limit: API calls per token and per session are limited by `[web] rate_limit`;
  beyond it, 429 with Retry-After.
* CSRF: unsafe requests whose Origin is another site are refused outright; every form
  carries the session's CSRF token (checked in `pages.py`), and API calls that ride on
  the session cookie must send it in `X-CSRF-Token` (bearer calls carry no ambient
  credentials and need none).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from tracker import accounts
from tracker.store.db import Store
from tracker.web import auth

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The digest preview (/digest) is the email's HTML, styled inline for mail clients: the same
# policy with inline styles allowed (never inline script).
DIGEST_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SESSION_COOKIE = "tracker_session"
SESSION_AGE = 14 * 86400  # the cookie's age when no [web] session_lifetime is given
REFRESH_AFTER = 3600  # re-sign a session cookie at most hourly
MAX_BODY = 1024 * 1024
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/openapi.json"


class SecurityHeaders:
    """Adds the security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = DIGEST_CSP if scope["path"] == "/digest" else CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HostCheck:
    """Answers only requests addressed to one of `hosts` (any port)."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app, self.hosts = app, frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and _host_name(HTTPConnection(scope).headers.get("host", "")) not in self.hosts
        ):
            response = PlainTextResponse(
                "This server answers only to localhost: it runs without login on 127.0.0.1.\n", 421
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Sessions:
    """A signed-cookie session in `scope["session"]` (a dict), written back when it changes.

    With `key_file`, a changed key file (`tracker web rotate-key`) is read again before
    the next request, so cookies signed with the old key stop working at once.
    """

    def __init__(self, app: ASGIApp, secret_key: str, key_file: Path | None = None,
                 max_age: int = SESSION_AGE) -> None:  # fmt: skip
        self.app, self.key_file, self.max_age = app, key_file, max_age
        self.serializer = URLSafeTimedSerializer(secret_key, salt="tracker.web.session")
        self._stamp = self._key_stamp()

    def _key_stamp(self) -> tuple[int, int] | None:
        if self.key_file is None:
            return None
        try:
            info = os.stat(self.key_file)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_ino

    def _reload_key(self) -> None:
        stamp = self._key_stamp()
        if stamp is None or stamp == self._stamp or self.key_file is None:
            return
        try:
            key = self.key_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return
        if len(key) >= 32:
            self.serializer = URLSafeTimedSerializer(key, salt="tracker.web.session")
            self._stamp = stamp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._reload_key()
        raw = HTTPConnection(scope).cookies.get(SESSION_COOKIE)
        data, signed_at = self._load(raw)
        scope["session"] = data
        before = json.dumps(data, sort_keys=True)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                changed = json.dumps(session, sort_keys=True) != before
                stale = signed_at is not None and time.time() - signed_at > REFRESH_AFTER
                if session and (changed or stale or raw is None):
                    self._set(message, scope, self.serializer.dumps(session), self.max_age)
                elif not session and raw is not None:
                    self._set(message, scope, "", 0)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _load(self, raw: str | None) -> tuple[dict[str, Any], float | None]:
        if not raw:
            return {}, None
        try:
            data, signed = self.serializer.loads(raw, max_age=self.max_age, return_timestamp=True)
        except (BadSignature, ValueError):
            return {}, None
        return (data, signed.timestamp()) if isinstance(data, dict) else ({}, None)

    @staticmethod
    def _set(message: Message, scope: Scope, value: str, age: int) -> None:
        cookie = f"{SESSION_COOKIE}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax"
        if scope.get("scheme") == "https":
            cookie += "; Secure"
        MutableHeaders(scope=message).append("Set-Cookie", cookie)


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if isinstance(token, str):
        return token
    session["csrf"] = fresh = secrets.token_urlsafe(32)
    return fresh


def csrf_ok(session: dict[str, Any], given: object) -> bool:
    expected = session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(given, str)
        and hmac.compare_digest(expected.encode(), given.encode())
    )


class Gate:
    """Who is asking (session or bearer token), login when required, cross-site refusal,
    read-only tokens, and the API's rate limit."""

    def __init__(self, app: ASGIApp, store: Store, require_login: bool, *,
                 idle: timedelta = timedelta(hours=12), lifetime: timedelta = timedelta(days=7),
                 rate: tuple[int, int] = (600, 60)) -> None:  # fmt: skip
        self.app, self.store, self.require_login = app, store, require_login
        self.idle, self.lifetime = idle, lifetime
        self.limiter = RateLimiter(*rate)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        identity, bad_token = await self._identify(conn)
        scope.setdefault("state", {})["identity"] = identity
        refusal = self._refusal(conn, identity, bad_token)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(
        self, conn: HTTPConnection, identity: auth.Identity | None, bad_token: bool
    ) -> Response | None:
        """Why this request may not go on, as the response to send; None when it may."""
        path, unsafe = conn.scope["path"], conn.scope["method"] not in SAFE_METHODS
        if unsafe and not _same_origin(conn):
            return _refuse(path, 403, "cross-site request refused")
        if bad_token:
            return _unauthorised("invalid, expired or revoked API token")
        if self.require_login and identity is None and not _public(path):
            if is_api(path):
                return _unauthorised("log in, or send an API token as Authorization: Bearer TOKEN")
            return RedirectResponse(f"/login?next={quote(_here(conn.scope), safe='/')}", 303)
        if unsafe and identity is not None and identity.read_only:
            return _refuse(path, 403, "this API token is read-only: create one without --read-only to write")
        csrf_needed = unsafe and is_api(path) and identity is not None and identity.via == "session"
        if csrf_needed and not csrf_ok(conn.scope["session"], conn.headers.get(CSRF_HEADER)):
            return _refuse(path, 403, f"send the session's CSRF token in {CSRF_HEADER}")
        key = _rate_key(identity)
        if is_api(path) and key is not None:
            wait = self.limiter.hit(key)
            if wait is not None:
                count, period = self.limiter.limit, self.limiter.period
                return JSONResponse(
                    {"detail": f"too many requests: at most {count} per {period} s; retry in {wait} s"},
                    429,
                    headers={"Retry-After": str(wait)},
                )
        return None

    async def _identify(self, conn: HTTPConnection) -> tuple[auth.Identity | None, bool]:
        """The caller's identity, and whether a bearer token was sent and not recognised."""
        header = conn.headers.get("authorization", "")
        client = conn.client.host if conn.client else None
        if header[:7].lower() == "bearer " and is_api(conn.scope["path"]):  # tokens are for scripts
            found = await run_in_threadpool(auth.token_identity, self.store, header[7:].strip(), client)
            return found, found is None
        if not self.require_login:
            return None, False
        session = conn.scope["session"]
        if "sid" not in session:
            return None, False
        user = await run_in_threadpool(
            accounts.open_session, self.store, session.get("sid"), idle=self.idle, lifetime=self.lifetime
        )
        if user is None:
            session.pop("sid", None)
            return None, False
        return auth.Identity(user.name, "session", user_id=user.user_id, session_id=user.session_id,
                             admin=user.admin), False  # fmt: skip


def _rate_key(identity: auth.Identity | None) -> str | None:
    """What the rate limit counts: the token or the session; nothing for the unauthenticated
    loopback server (its one local user, and the CLI's own scripts, are not limited)."""
    if identity is not None and identity.token_id is not None:
        return f"token:{identity.token_id}"
    if identity is not None and identity.session_id is not None:
        return f"session:{identity.session_id}"
    return None


class RateLimiter:
    """At most `limit` hits per key in each `period` seconds (fixed windows, in memory)."""

    def __init__(self, limit: int, period: int) -> None:
        self.limit, self.period = limit, period
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> int | None:
        """Count a hit; None when it is allowed, else the seconds to wait (at least 1)."""
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.period:
            start, count = now, 0
        if count >= self.limit:
            return max(1, math.ceil(start + self.period - now))
        self._windows[key] = (start, count + 1)
        if len(self._windows) > 10_000:
            self._windows.pop(next(iter(self._windows)))
        return None


class ProxyHeaders:
    """The client address and scheme a trusted reverse proxy reports; other senders are not believed.

    Only when the connection comes from one of `trusted` (addresses or networks) are
    `Forwarded` (RFC 7239) or `X-Forwarded-For` / `X-Forwarded-Proto` read: the client is
    the right-most address that is not itself a trusted proxy.
    """

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.strip().strip("[]"))
        except ValueError:
            return False
        return any(address in net for net in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["via_proxy"] = False
        client = scope.get("client")
        if self.trusted and client and self._is_trusted(client[0]):
            headers = HTTPConnection(scope).headers
            chain, proto = _forwarded(headers.get("forwarded")), None
            if chain:
                proto = chain[-1][1]
            else:
                chain = [
                    (h.strip(), None) for h in headers.get("x-forwarded-for", "").split(",") if h.strip()
                ]
                proto = (headers.get("x-forwarded-proto") or "").split(",")[-1].strip().lower() or None
            for host, _ in reversed(chain):
                if not self._is_trusted(host):
                    scope["client"] = (host[:100], 0)
                    break
            if proto in ("http", "https"):
                scope["scheme"] = proto
            state["via_proxy"] = True
        await self.app(scope, receive, send)


def _forwarded(value: str | None) -> list[tuple[str, str | None]]:
    """(for, proto) of each hop of a `Forwarded` header."""
    hops: list[tuple[str, str | None]] = []
    for element in (value or "").split(","):
        pairs = dict(
            (k.strip().lower(), v.strip().strip('"'))
            for k, _, v in (p.partition("=") for p in element.split(";"))
        )
        host = pairs.get("for", "")
        if host.startswith("["):
            host = host[1:].split("]", 1)[0]
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        if host:
            hops.append((host, (pairs.get("proto") or "").lower() or None))
    return hops


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        declared = HTTPConnection(scope).headers.get("content-length")
        if declared is not None and (not declared.strip().isdecimal() or int(declared) > self.limit):
            await self._too_large(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        text = f"the request body is larger than {self.limit // 1024} KB: send less"
        response = (
            JSONResponse({"detail": text}, 413)
            if is_api(scope["path"])
            else PlainTextResponse(text + "\n", 413)
        )
        await response(scope, receive, send)


def _public(path: str) -> bool:
    """What anyone may fetch: the login page and the stylesheet it needs."""
    return path == "/login" or path.startswith("/static/")


def _here(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return str(scope["path"]) + (f"?{query}" if query else "")


def _same_origin(conn: HTTPConnection) -> bool:
    """False when a browser says the request comes from another site (no Origin: not a browser form).

    The host a trusted proxy (`[web] trusted_proxies`) forwarded for counts too.
    """
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    hosts = {conn.headers.get("host", "").lower()}
    if conn.scope.get("state", {}).get("via_proxy"):  # only a trusted proxy's word counts
        hosts |= {h.strip().lower() for h in conn.headers.get("x-forwarded-host", "").split(",") if h.strip()}
    return urlsplit(origin).netloc.lower() in hosts


def _unauthorised(message: str) -> Response:
    return JSONResponse({"detail": message}, 401, headers={"WWW-Authenticate": "Bearer"})


def _refuse(path: str, status: int, message: str) -> Response:
    if is_api(path):
        return JSONResponse({"detail": message}, status)
    return PlainTextResponse(f"{message}\n", status)
