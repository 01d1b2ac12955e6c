"""Bluesky: a search query (app.bsky.feed.searchPosts) or an account's posts (getAuthorFeed).

Without an `identifier` every request goes, anonymously, to the public AppView
(`base_url`). With `identifier` + `app_password_env` the stream logs in with
com.atproto.server.createSession at `auth_url` and sends every request, bearer token
attached, to that PDS/entryway, which proxies the app.bsky.* calls to the AppView. The
entryway is used rather than the PDS endpoint in the session's didDoc: it issued the
tokens (so it is where they are refreshed) and it is what `auth_url` points at, a local
test server included.

Paging: both endpoints answer newest-first in `sortAt` order (the earlier of a post's
createdAt and indexedAt) with an opaque cursor. The stream's cursor is the newest sortAt
stored; a later run asks search for `since` that moment less an overlap margin (posts
reach the search index late, and backdated posts sort in the past) and stops reading the
author feed at the same point; an owned account's feed is read back `refresh_days`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from connectors._http import THREAD_PARSE, HttpClient, decode_json
from connectors._paging import readable
from connectors._text import parse_time
from connectors.base import (
    AccountStats,
    AuthRequired,
    ConnectorError,
    Cursor,
    Item,
    Known,
    MappingError,
    Page,
    PayloadError,
    RateLimited,
    Refreshed,
    StreamKeys,
    StreamSpec,
    Unavailable,
)
from connectors.bluesky import mapping, urls
from connectors.bluesky.settings import STREAM_KEYS

log = logging.getLogger("tracker.connectors.bluesky")

SEARCH_CAP = 10_000  # posts searchPosts serves of one query before it stops giving a cursor
MAX_EMPTY_PAGES = 3  # empty pages in a row (with a cursor) read before a run gives up on more
OVERLAP = timedelta(hours=2)  # default of the stream's `overlap`: search indexes late, and sortAt is a claim
SEARCH_NEEDS_LOGIN = "bluesky search needs identifier + app_password_env"
LOGIN_LIMITED = (
    "bluesky refused the login: too many logins for this account (createSession allows 30 per "
    "5 minutes and 300 a day); the tracker keeps its session between runs, so wait for the limit"
)
LOGIN_REFUSED = "bluesky login refused: check identifier and app_password_env (an app password)"
SESSION_REFUSED = "bluesky refused the logged-in session: check identifier and app_password_env"


@dataclass(frozen=True)
class _Session:
    """Tokens of a logged-in stream; never logged, never put in a message or a cursor."""

    access: str = field(repr=False)
    refresh: str = field(repr=False)
    did: str


@dataclass
class _Batch:
    """One answer's candidate posts (with their index on the page), before mapping."""

    posts: list[tuple[int, Any]]
    rejected: list[str]
    size: int
    next_cursor: str | None


@dataclass
class _Run:
    """Where a run stands: the known point, how far back to read, how many new items so far."""

    known: datetime | None  # newest sortAt stored by earlier runs
    boundary: datetime | None  # stop at posts at or before this (known less overlap, or refresh floor)
    backfill: int
    newest: datetime | None
    new: int = 0
    past_known: bool = False  # an item at or before `known` was seen: nothing newer follows
    reached: bool = False
    capped: bool = False
    window: int = 0  # posts answered since the search (re)started
    oldest: datetime | None = None  # the oldest sortAt seen
    until: datetime | None = None  # the search restarted below this (the result-set cap)
    seen: set[str] = field(default_factory=set)

    def cursor(self) -> Cursor:
        return {"newest": urls.iso_z(self.newest, "microseconds") if self.newest else None}


class BlueskyConnector:
    """One Bluesky stream: `query` (search) or `account` (a handle's posts)."""

    platform: ClassVar[str] = "bluesky"
    stream_keys: ClassVar[StreamKeys] = STREAM_KEYS

    def __init__(self, spec: StreamSpec, http: HttpClient) -> None:
        self.spec = spec
        self.http = http
        self._requests = 0
        self.search_cap = SEARCH_CAP

    # -- the Connector protocol ------------------------------------------------------------

    async def pages(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Yield the run's pages newest-first; the last one is final and carries the new cursor."""
        query, account = self._query(), self._account()
        if not query and not account:
            raise ConnectorError(f"bluesky stream {self.spec.name!r} needs a query or an account")
        run = self._start(cursor, refresh=bool(account) and self.spec.owned)
        kind = "own" if account and self.spec.owned else "mention"
        page_cursor: str | None = None
        empty = 0  # consecutive empty pages that still carried a cursor
        while True:
            before = self._requests
            if query:
                batch = await self._search(query, page_cursor, run)
            else:
                assert account is not None
                batch = await self._author_feed(account, page_cursor)
            page = self._collect(batch, run, kind)
            page.requests = self._requests - before
            run.window += batch.size
            empty = empty + 1 if batch.size == 0 else 0
            more = bool(batch.next_cursor) and empty <= MAX_EMPTY_PAGES
            if query and not more and not (run.capped or run.reached) and run.window >= self.search_cap:
                # searchPosts serves about 10,000 posts of one query, then no cursor: go on
                # with `until` at the oldest post seen (as minet does); repeats are dropped.
                if run.oldest is not None and run.until != run.oldest:
                    run.until, run.window, page_cursor = run.oldest, 0, None
                    yield page
                    continue
                page.gap = (f"bluesky search stopped after {run.window:,} posts of one query; "
                            "older ones were not read")  # fmt: skip
            if batch.next_cursor and empty > MAX_EMPTY_PAGES and not (run.capped or run.reached):
                page.gap = (f"bluesky answered {empty} empty pages in a row that still had a cursor; "
                            "the run stopped there and older posts were not read")  # fmt: skip
            if run.capped or run.reached or not more:
                page.final, page.capped = True, run.capped
                page.complete = not run.capped and page.gap is None
                page.cursor = run.cursor()
                yield page
                return
            yield page
            page_cursor = batch.next_cursor

    async def account_stats(self) -> AccountStats | None:
        """Followers, follows and post count of an owned account stream; None otherwise."""
        account = self._account()
        if not self.spec.owned or not account:
            return None
        data = await self._get_json(urls.GET_PROFILE, urls.profile_params(account), self._account_errors())
        try:
            return mapping.map_profile(data, account)
        except MappingError as exc:
            raise PayloadError(f"bluesky getProfile answered with an unusable profile: {exc}") from None

    async def refresh(self, known: Sequence[Known]) -> AsyncIterator[Refreshed]:
        """Read known posts again, 25 uris per app.bsky.feed.getPosts (through the login when the
        stream has one); a post the AppView leaves out of its answer is deleted (or taken down)."""
        kind = "own" if self._account() and self.spec.owned else "mention"
        uris = [k.external_id for k in known if k.external_id.startswith("at://")]
        for start in range(0, len(uris), urls.POSTS_BATCH):
            chunk = uris[start : start + urls.POSTS_BATCH]
            before = self._requests
            data = await self._get_json(urls.GET_POSTS, urls.posts_params(chunk), {})
            batch = Refreshed()
            returned: set[str] = set()
            for index, post in enumerate(_list_field(data, "posts", urls.GET_POSTS)):
                try:
                    item = mapping.map_post(post, kind=kind)
                except MappingError as exc:
                    batch.rejected.append(f"item {index}: {exc}")
                    if isinstance(post, dict) and isinstance(post.get("uri"), str):
                        returned.add(post["uri"])
                    continue
                returned.add(item.external_id)
                if item.external_id in chunk:
                    batch.items.append(item)
            batch.deleted = [uri for uri in chunk if uri not in returned]
            batch.requests = self._requests - before
            yield batch

    # -- selectors and the run's bounds ----------------------------------------------------

    def _query(self) -> str | None:
        query = (self.spec.selectors.get("query") or "").strip()
        return query or None

    def _account(self) -> str | None:
        account = (self.spec.selectors.get("account") or "").strip().removeprefix("@")
        if not account:
            return None
        return account if account.startswith("did:") else account.lower()

    def _start(self, cursor: Cursor | None, *, refresh: bool) -> _Run:
        known = _known_point(cursor)
        overlap = self.spec.overlap if self.spec.overlap is not None else OVERLAP
        boundary = known - overlap if known else None
        if refresh and boundary is not None:
            # an owned feed is re-read back refresh_days so engagement is tracked as it grows
            boundary = min(boundary, self.http.now() - timedelta(days=self.spec.refresh_days))
        return _Run(known=known, boundary=boundary, backfill=self.spec.backfill, newest=known)

    # -- one page of each endpoint ---------------------------------------------------------

    async def _search(self, query: str, page_cursor: str | None, run: _Run) -> _Batch:
        # `until` is exclusive: one millisecond later re-reads the oldest post (dropped as seen)
        # rather than skip others of the same millisecond.
        until = run.until + timedelta(milliseconds=1) if run.until is not None else None
        params = urls.search_params(query, cursor=page_cursor, since=run.boundary, until=until)
        data = await self._get_json(urls.SEARCH_POSTS, params, self._search_errors())
        posts = _list_field(data, "posts", urls.SEARCH_POSTS)
        return _Batch(list(enumerate(posts)), [], len(posts), _next_cursor(data, urls.SEARCH_POSTS))

    async def _author_feed(self, account: str, page_cursor: str | None) -> _Batch:
        params = urls.author_feed_params(account, cursor=page_cursor)
        data = await self._get_json(urls.AUTHOR_FEED, params, self._account_errors())
        feed = _list_field(data, "feed", urls.AUTHOR_FEED)
        posts: list[tuple[int, Any]] = []
        rejected: list[str] = []
        for index, entry in enumerate(feed):
            try:
                post = mapping.account_post(entry, account)
            except MappingError as exc:
                rejected.append(f"item {index}: {exc}")
                continue
            if post is not None:
                posts.append((index, post))
        return _Batch(posts, rejected, len(feed), _next_cursor(data, urls.AUTHOR_FEED))

    def _collect(self, batch: _Batch, run: _Run, kind: str) -> Page:
        """Map a batch into a Page, noting on `run` whether it reached the boundary or the cap."""
        page = Page(rejected=list(batch.rejected))
        now = self.http.now()
        # A post is judged by its sort time: neither its record nor the AppView's index time may be
        # more than a day ahead.
        def read(entry: tuple[int, Any]) -> Item:
            return mapping.map_post(entry[1], kind=kind)

        for (_, post), item in readable(batch.posts, read, now, page, label=_label, when=_sort_time):
            when = mapping.sort_time(post, item.created_at)
            run.oldest = when if run.oldest is None else min(run.oldest, when)
            if item.external_id in run.seen:  # read again after a restart below the result-set cap
                continue
            if run.boundary is not None and when <= run.boundary:
                run.reached = True  # known ground (or past the refresh window): not yielded again
                continue
            if not self._admit(run, when):
                break
            page.items.append(item)
            run.seen.add(item.external_id)
            run.newest = max(run.newest, when) if run.newest else when
        if run.new >= run.backfill and batch.next_cursor and not (run.reached or run.past_known):
            run.capped = True  # the cap is full: do not ask for a page only to throw it away
        return page

    @staticmethod
    def _admit(run: _Run, when: datetime) -> bool:
        """Count a new item against backfill; False (and capped) once the cap is full.

        Only items newer than the known point count: an owned feed's re-read of its
        refresh window is bounded by refresh_days, not by backfill.
        """
        if run.known is not None and when <= run.known:
            run.past_known = True
            return True
        if run.new >= run.backfill:
            run.capped = True
            return False
        run.new += 1
        return True

    # -- requests, login and token refresh -------------------------------------------------

    async def _get_json(self, nsid: str, params: Mapping[str, str], errors: Mapping[int, str]) -> Any:
        if self._logs_in():
            response = await self._authed(nsid, params, errors)
        else:
            base = self.spec.base_url or urls.DEFAULT_BASE_URL
            response = await self._send("GET", base, nsid, errors=errors, params=params)
        if len(response.content) > THREAD_PARSE:  # megabytes: decoded off the loop, so the deadline holds
            data = await asyncio.to_thread(decode_json, response)
        else:
            data = decode_json(response)
        if not isinstance(data, dict):
            raise PayloadError(f"bluesky {nsid} answered with a JSON {type(data).__name__}, not an object")
        return data

    async def _authed(
        self, nsid: str, params: Mapping[str, str], errors: Mapping[int, str]
    ) -> httpx.Response:
        """GET through the entryway with the bearer token; renew the session once if it is refused.

        The reference PDS answers an expired access token with 400 ExpiredToken, others
        with 401. HttpClient does not hand back the body of a 4xx, so any 400/401/403
        (ConnectorError or AuthRequired) gets one renewal and one retry; a second refusal
        is raised with the endpoint's own message.
        """
        session = self._session or await self._login()
        try:
            return await self._send(
                "GET", self._auth_base(), nsid, token=session.access, errors=errors, params=params
            )
        except ConnectorError as exc:
            if type(exc) is not ConnectorError and not isinstance(exc, AuthRequired):
                raise
        session = await self._renew(session)
        return await self._send(
            "GET", self._auth_base(), nsid, token=session.access, errors=errors, params=params
        )

    # -- the session, kept in the HttpClient so a worker logs in once (createSession is limited)

    def _key(self) -> str:
        return f"bluesky {self._auth_base()} {(self.spec.selectors.get('identifier') or '').strip().lower()}"

    @property
    def _session(self) -> _Session | None:
        found = self.http.sessions.get(self._key())
        return found if isinstance(found, _Session) else None

    @_session.setter
    def _session(self, value: _Session | None) -> None:
        if value is None:
            self.http.sessions.pop(self._key(), None)
        else:
            self.http.sessions[self._key()] = value

    def _lock(self) -> asyncio.Lock:
        """One login or refresh at a time per account: streams sharing it share the session."""
        lock = self.http.sessions.setdefault(self._key() + " lock", asyncio.Lock())
        assert isinstance(lock, asyncio.Lock)
        return lock

    async def _login(self) -> _Session:
        async with self._lock():
            if self._session is not None:  # another stream of this account logged in meanwhile
                return self._session
            return await self._create_session()

    async def _create_session(self) -> _Session:
        identifier = (self.spec.selectors.get("identifier") or "").strip()
        password = self.spec.secrets.get("app_password")
        if not password:
            raise AuthRequired(
                f"bluesky stream {self.spec.name!r} has an identifier but no app password: "
                "set the variable app_password_env names"
            )
        body = {"identifier": identifier, "password": password}
        errors = {400: LOGIN_REFUSED, 401: LOGIN_REFUSED, 403: LOGIN_REFUSED, 429: LOGIN_LIMITED}
        response = await self._send(
            "POST", self._auth_base(), urls.CREATE_SESSION, errors=errors, json=body, login=True
        )
        self._session = _session(decode_json(response), urls.CREATE_SESSION)
        return self._session

    async def _renew(self, session: _Session) -> _Session:
        """refreshSession with the refresh token; when that is refused too, log in again."""
        async with self._lock():
            current = self._session
            if current is not None and current is not session:  # renewed by another stream meanwhile
                return current
            log.info("bluesky stream %s: session refused, refreshing it", self.spec.name)
            try:
                response = await self._send(
                    "POST", self._auth_base(), urls.REFRESH_SESSION, token=session.refresh, errors={},
                    login=True,
                )  # fmt: skip
                self._session = _session(decode_json(response), urls.REFRESH_SESSION)
                return self._session
            except (Unavailable, RateLimited):
                raise
            except ConnectorError:
                log.info("bluesky stream %s: refresh refused, logging in again", self.spec.name)
            self._session = None
            return await self._create_session()

    async def _send(
        self,
        method: str,
        base: str,
        nsid: str,
        *,
        errors: Mapping[int, str],
        token: str | None = None,
        login: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._requests += 1
        return await self.http.request(
            method, urls.xrpc(base, nsid), errors=errors, headers=headers, login=login, **kwargs
        )

    def _logs_in(self) -> bool:
        return bool((self.spec.selectors.get("identifier") or "").strip())

    def _auth_base(self) -> str:
        return self.spec.selectors.get("auth_url") or urls.DEFAULT_AUTH_URL

    def _search_errors(self) -> dict[int, str]:
        refused = SESSION_REFUSED if self._logs_in() else SEARCH_NEEDS_LOGIN
        return {400: "bluesky rejected the search (check the query's syntax)", 401: refused, 403: refused}

    def _account_errors(self) -> dict[int, str]:
        account = self._account()
        missing = f"bluesky cannot read {account!r}: no such handle, or a suspended or deactivated account"
        refused = SESSION_REFUSED if self._logs_in() else f"bluesky refused to show {account!r} without login"
        return {400: missing, 401: refused, 403: refused, 404: missing}


def _known_point(cursor: Cursor | None) -> datetime | None:
    """The newest sortAt of an earlier run; an unreadable cursor counts as a first run."""
    value = (cursor or {}).get("newest")
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value, "newest")
    except MappingError:
        return None


def _label(_: int, entry: tuple[int, Any]) -> str:
    """A post in a rejection: its place in the answer (counting from 0)."""
    return f"item {entry[0]}"


def _sort_time(entry: tuple[int, Any], item: Item) -> datetime:
    return mapping.sort_time(entry[1], item.created_at)


def _list_field(data: dict[str, Any], key: str, nsid: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        got = "nothing" if value is None else f"a {type(value).__name__}"
        raise PayloadError(f"bluesky {nsid} answered without a `{key}` list (got {got})")
    return value


def _next_cursor(data: dict[str, Any], nsid: str) -> str | None:
    value = data.get("cursor")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(f"bluesky {nsid} answered with a {type(value).__name__} cursor, not text")
    return value


def _session(data: Any, nsid: str) -> _Session:
    """The tokens of a createSession/refreshSession answer; the message never holds them."""
    if isinstance(data, dict):
        access, refresh, did = data.get("accessJwt"), data.get("refreshJwt"), data.get("did")
        if isinstance(access, str) and access and isinstance(refresh, str) and refresh:
            return _Session(access=access, refresh=refresh, did=did if isinstance(did, str) else "")
    raise PayloadError(f"bluesky {nsid} answered without accessJwt and refreshJwt")
