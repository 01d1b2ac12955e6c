"""The layers every request passes: headers, host check, signed session, login, CSRF.

Each is a plain ASGI middleware, so it covers every route alike, /openapi.json and
errors included.

* Headers: a Content-Security-Policy that allows scripts, styles and images only from
  this origin (no inline script, so injected markup cannot run), no framing, no
  MIME sniffing, no referrer to other sites, and no caching of pages.
* Host check (loopback serving): only `localhost`/`127.0.0.1`/`[::1]` Host headers are
  answered, so a web page cannot reach the unauthenticated server through DNS rebinding.
* Session: a cookie signed with the per-installation key (itsdangerous), HttpOnly,
  SameSite=Lax, Secure when the request came over https. It holds the user and a
  fingerprint of the password hash, the CSRF secret and one-shot messages.
* Login: beyond loopback every request except /login and /static needs a session or
  an `Authorization: Bearer` token; pages redirect to /login, the API answers 401.
* CSRF: unsafe requests whose Origin is another site are refused outright; every form
  carries the session's CSRF token (checked in `pages.py`), and API calls that ride on
  the session cookie must send it in `X-CSRF-Token` (bearer calls carry no ambient
  credentials and need none).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import quote, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

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
SESSION_AGE = 14 * 86400
REFRESH_AFTER = 3600  # re-sign a session cookie at most hourly, so idle sessions expire
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
    """A signed-cookie session in `scope["session"]` (a dict), written back when it changes."""

    def __init__(self, app: ASGIApp, secret_key: str) -> None:
        self.app = app
        self.serializer = URLSafeTimedSerializer(secret_key, salt="tracker.web.session")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
                    self._set(message, scope, self.serializer.dumps(session), SESSION_AGE)
                elif not session and raw is not None:
                    self._set(message, scope, "", 0)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _load(self, raw: str | None) -> tuple[dict[str, Any], float | None]:
        if not raw:
            return {}, None
        try:
            data, signed = self.serializer.loads(raw, max_age=SESSION_AGE, return_timestamp=True)
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
    """Who is asking (session or bearer token), login when required, cross-site refusal."""

    def __init__(self, app: ASGIApp, store: Store, require_login: bool) -> None:
        self.app, self.store, self.require_login = app, store, require_login

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
            return _unauthorised("invalid or revoked API token")
        if self.require_login and identity is None and not _public(path):
            if is_api(path):
                return _unauthorised("log in, or send an API token as Authorization: Bearer TOKEN")
            return RedirectResponse(f"/login?next={quote(_here(conn.scope), safe='/')}", 303)
        csrf_needed = unsafe and is_api(path) and identity is not None and identity.via == "session"
        if csrf_needed and not csrf_ok(conn.scope["session"], conn.headers.get(CSRF_HEADER)):
            return _refuse(path, 403, f"send the session's CSRF token in {CSRF_HEADER}")
        return None

    async def _identify(self, conn: HTTPConnection) -> tuple[auth.Identity | None, bool]:
        """The caller's identity, and whether a bearer token was sent and not recognised."""
        header = conn.headers.get("authorization", "")
        if header[:7].lower() == "bearer " and is_api(conn.scope["path"]):  # tokens are for scripts
            found = await run_in_threadpool(auth.token_identity, self.store, header[7:].strip())
            return found, found is None
        if not self.require_login:
            return None, False
        session = conn.scope["session"]
        if "uid" not in session:
            return None, False
        name = await run_in_threadpool(auth.session_user, self.store, session.get("uid"), session.get("pw"))
        if name is None:
            session.pop("uid", None)
            session.pop("pw", None)
            return None, False
        return auth.Identity(name, "session"), False


def _public(path: str) -> bool:
    """What anyone may fetch: the login page and the stylesheet it needs."""
    return path == "/login" or path.startswith("/static/")


def _here(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return str(scope["path"]) + (f"?{query}" if query else "")


def _same_origin(conn: HTTPConnection) -> bool:
    """False when a browser says the request comes from another site (no Origin: not a browser form).

    The host a proxy forwarded for counts too: a page cannot set X-Forwarded-Host on a
    cross-site request, so only a proxy in front of the server can have sent it.
    """
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    hosts = {conn.headers.get("host", "").lower()}
    hosts |= {h.strip().lower() for h in conn.headers.get("x-forwarded-host", "").split(",") if h.strip()}
    return urlsplit(origin).netloc.lower() in hosts


def _unauthorised(message: str) -> Response:
    return JSONResponse({"detail": message}, 401, headers={"WWW-Authenticate": "Bearer"})


def _refuse(path: str, status: int, message: str) -> Response:
    if is_api(path):
        return JSONResponse({"detail": message}, status)
    return PlainTextResponse(f"{message}\n", status)
