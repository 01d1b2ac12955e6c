"""Reddit mentions through its search listing (`sort=new`), anonymous or with OAuth.

Paging: newest first, `after=<fullname>` for each older page, until `backfill` items,
the end of the listing (`after` null), or, on later runs, the first post created
before the cursor's high-water mark less a 30-minute overlap. Comparing creation
times rather than asking `before=<fullname>` keeps working when the known post has
been deleted (Reddit then answers `before` with an empty listing) and gives the
overlap that catches posts indexed late. A run with nothing new costs one request.

Reddit blocks anonymous JSON (since 2026 from nearly every address, with a 403 HTML
page) and throttles generic user agents; new OAuth apps need Reddit's approval (its
Responsible Builder Policy; request access as https://www.reddit.com/wiki/api says).
Every request carries the stream's `user_agent`. With a client id and secret the stream
uses an OAuth token: application-only (client_credentials), or, for a script app with
`username` + `password_env`, the password grant of that account. Tokens are renewed
when they expire or are refused with 401.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from connectors._http import HttpClient, decode_json
from connectors._paging import readable
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
    Refreshed,
    StreamKeys,
    StreamSpec,
)
from connectors.reddit import urls
from connectors.reddit.mapping import is_gone, map_child
from connectors.reddit.settings import STREAM_KEYS
from connectors.reddit.urls import base_url, search_params, search_url, subreddit_name, token_url

OVERLAP_SECONDS = 30 * 60
LISTING_CAP = 1_000  # posts a Reddit listing (search included) serves at most
DAY_SECONDS = 24 * 60 * 60
TOKEN_EARLY_SECONDS = 60  # renew a little before Reddit's expiry, not on the first 401
ACCESS = "https://www.reddit.com/wiki/api"
ANONYMOUS_REFUSED = (
    "reddit refused anonymous access ({status}): Reddit no longer serves anonymous JSON, and new "
    f"OAuth apps need its approval (request API access: {ACCESS}); with an approved app set "
    "client_id_env and client_secret_env (a script app: also username and password_env)"
)
TOKEN_ERRORS = {
    400: "reddit's token endpoint rejected the request: check auth_url",
    401: "reddit rejected the OAuth client: check client_id_env and client_secret_env "
    f"(an app Reddit has not approved gets no token: {ACCESS})",
    403: "reddit refused an OAuth token to this client: check the app's type and that Reddit "
    f"approved it ({ACCESS})",
}


@dataclass
class _Listing:
    children: list[Any]
    after: str | None


@dataclass
class _Run:
    """What one run has seen so far, and where it stops."""

    newest: float | None
    fresh_after: float | None  # items after this time are new and count toward backfill (None: all)
    floor: float | None  # items created before this end the run (None: page to the end)
    seen: set[str] = field(default_factory=set)
    fresh: int = 0
    reached_floor: bool = False
    passed_known: bool = False  # a post at or before the known point was seen
    listed: int = 0  # children the listings answered this run


class RedditConnector:
    """Posts matching a stream's `query`, optionally in one `subreddit`, newest first."""

    platform: ClassVar[str] = "reddit"
    stream_keys: ClassVar[StreamKeys] = STREAM_KEYS

    def __init__(self, spec: StreamSpec, http: HttpClient) -> None:
        self.spec = spec
        self.http = http
        self.subreddit = subreddit_name(spec.selectors.get("subreddit"))
        self.oauth = bool(spec.secrets.get("client_id") and spec.secrets.get("client_secret"))
        self.base = base_url(spec.base_url, oauth=self.oauth)
        self._token: str | None = None
        self._token_until = 0.0  # on the HttpClient's clock

    async def account_stats(self) -> AccountStats | None:
        """Reddit streams follow a search, not an account: there is no follower count."""
        return None

    async def pages(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Newest-first pages; the final one carries {"newest": created_utc of the newest post}."""
        query = self.spec.selectors.get("query")
        if not query:
            raise ConnectorError("the reddit connector needs a query")
        self._user_agent()  # fail before any request rather than be throttled as a generic client
        run = self._run(_known_newest(cursor))
        url = search_url(self.base, self.subreddit, oauth=self.oauth)
        after: str | None = None
        while True:
            data, requests = await self._get(url, search_params(query, subreddit=self.subreddit, after=after))
            listing = _listing(data)
            items, rejected, poison = _map_page(listing.children, run, self.http.now().timestamp())
            run.listed += len(listing.children)
            done = run.reached_floor or not listing.after or listing.after == after
            if run.fresh >= self.spec.backfill or done:
                capped = run.fresh >= self.spec.backfill and not done
                gap = _listing_gap(run) if done and not capped else None
                yield Page(items=items, rejected=rejected, poison=poison, cursor={"newest": run.newest},
                           final=True, complete=not capped and gap is None, capped=capped,
                           requests=requests, gap=gap)  # fmt: skip
                return
            yield Page(items=items, rejected=rejected, poison=poison, requests=requests)
            after = listing.after

    async def refresh(self, known: Sequence[Known]) -> AsyncIterator[Refreshed]:
        """Read known posts again, 100 fullnames per GET /api/info; a post shown as "[deleted]" or
        "[removed]" (or left out of the answer) is deleted."""
        self._user_agent()
        names = [k.external_id for k in known if k.external_id.startswith(("t3_", "t1_"))]
        url = urls.info_url(self.base, oauth=self.oauth)
        for start in range(0, len(names), urls.INFO_BATCH):
            chunk = names[start : start + urls.INFO_BATCH]
            data, requests = await self._get(url, urls.info_params(chunk))
            batch = Refreshed(requests=requests)
            returned: set[str] = set()
            gone: set[str] = set()
            for number, child in enumerate(_listing(data).children, start=1):
                inner = child.get("data") if isinstance(child, dict) else None
                name = inner.get("name") if isinstance(inner, dict) else None
                if isinstance(name, str):
                    returned.add(name)
                    if is_gone(child):
                        gone.add(name)
                        continue
                try:
                    item = map_child(child)
                except MappingError as exc:
                    batch.rejected.append(f"item {number}: {exc}")
                    continue
                if item.external_id in chunk:
                    batch.items.append(item)
            batch.deleted = [n for n in chunk if n in gone or n not in returned]
            yield batch

    def _run(self, known: float | None) -> _Run:
        if known is None:
            return _Run(newest=None, fresh_after=None, floor=None)
        overlap = self.spec.overlap.total_seconds() if self.spec.overlap is not None else OVERLAP_SECONDS
        floor = known - overlap
        if self.spec.owned:  # re-read recent posts so their score and comments are tracked
            floor = min(floor, self.http.now().timestamp() - self.spec.refresh_days * DAY_SECONDS)
        # Posts in the overlap are read again, not caught up: only newer ones count toward backfill.
        return _Run(newest=known, fresh_after=known, floor=floor)

    # -- requests --------------------------------------------------------------------------

    async def _get(self, url: str, params: dict[str, str | int]) -> tuple[Any, int]:
        """GET a listing as JSON; returns it with the number of requests it took (token included)."""
        requests = 0
        if self.oauth and (self._token is None or self.http.clock() >= self._token_until):
            await self._fetch_token()
            requests += 1
        try:
            return await self._get_json(url, params), requests + 1
        except AuthRequired as exc:
            if not (self.oauth and _unauthorized(exc)):
                raise
        # The token was revoked or expired early: one new token, one more try.
        await self._fetch_token()
        return await self._get_json(url, params), requests + 3

    async def _get_json(self, url: str, params: dict[str, str | int]) -> Any:
        headers, errors = self._headers(), self._errors()
        data, _ = await self.http.get_json(url, params=params, headers=headers, errors=errors)
        return data

    async def _fetch_token(self) -> None:
        """A token: POST grant_type=client_credentials (or, for a script app with `username`,
        grant_type=password with the account's password) with the app's HTTP basic auth."""
        client = httpx.BasicAuth(self.spec.secrets["client_id"], self.spec.secrets["client_secret"])
        username, password = self.spec.selectors.get("username"), self.spec.secrets.get("password")
        grant = {"grant_type": "client_credentials"}
        if username and password:
            grant = {"grant_type": "password", "username": username, "password": password}
        errors = TOKEN_ERRORS
        if username:
            refused = "reddit refused the login: check username and password_env (and the app's type: script)"
            errors = {**TOKEN_ERRORS, 401: refused}
        response = await self.http.request(
            "POST",
            token_url(self.spec.selectors.get("auth_url")),
            auth=client,
            data=grant,
            headers={"User-Agent": self._user_agent()},
            errors=errors,
            login=True,  # the password is in the body: no redirect to another origin
        )
        body = decode_json(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            error = body.get("error") if isinstance(body, dict) else None
            if error is not None:  # Reddit answers some refusals with 200 and {"error": ...}
                check = "username and password_env" if username else "client_id_env and client_secret_env"
                raise AuthRequired(f"reddit refused an OAuth token ({str(error)[:40]}): check {check}")
            raise PayloadError("reddit's token endpoint answered without an access_token")
        self._token = token
        self._token_until = self.http.clock() + max(0.0, _lifetime(body) - TOKEN_EARLY_SECONDS)

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": self._user_agent()}
        if self.oauth and self._token:
            headers["Authorization"] = f"bearer {self._token}"
        return headers

    def _user_agent(self) -> str:
        agent = (self.spec.selectors.get("user_agent") or "").strip()
        if not agent:
            raise ConnectorError("reddit needs a user_agent: it throttles or blocks generic clients")
        return agent

    def _errors(self) -> dict[int, str]:
        where = f"r/{self.subreddit}" if self.subreddit else "reddit search"
        if self.oauth:
            refused = {
                401: "reddit rejected the OAuth token: check client_id_env and client_secret_env "
                f"(an app Reddit has not approved gets no API access: {ACCESS})",
                403: f"reddit refused access to {where} (403): it may be private, quarantined or banned",
            }
        else:
            refused = {status: ANONYMOUS_REFUSED.format(status=status) for status in (401, 403)}
        missing = f"{where} not found" + ("" if self.subreddit else ": check base_url")
        return {**refused, 404: missing}


def _known_newest(cursor: Cursor | None) -> float | None:
    value = (cursor or {}).get("newest")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _listing_gap(run: _Run) -> str | None:
    """Why a listing that ended (after = null) left posts unread, or None when it did not.

    Reddit lists at most about 1,000 posts of a search. A later run whose listing ends
    before the posts it already had could not reach the time between. (A first run has
    no known point: its listing's end is the beginning of what it can know.)
    """
    if run.fresh_after is None or run.reached_floor or run.passed_known:
        return None
    return (
        f"reddit stopped listing after {run.listed:,} posts (it lists about {LISTING_CAP:,} at most) "
        "before this run reached the posts it already had: the time between is a coverage gap"
    )


def _unauthorized(exc: AuthRequired) -> bool:
    # HttpClient raises AuthRequired for both 401 and 403 and names the status first.
    return str(exc).startswith("HTTP 401 ")


def _lifetime(body: dict[str, Any]) -> float:
    """Seconds the token lives (`expires_in`; Reddit has used 3600 and 86400)."""
    value = body.get("expires_in")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 3600.0
    return float(value)


def _listing(data: Any) -> _Listing:
    """The children and `after` of a Listing, or PayloadError when the answer is not one."""
    payload = data.get("data") if isinstance(data, dict) and data.get("kind") == "Listing" else None
    if not isinstance(payload, dict) or not isinstance(payload.get("children"), list):
        raise PayloadError("reddit answered without a Listing of posts")
    after = payload.get("after")
    return _Listing(children=payload["children"], after=after if isinstance(after, str) and after else None)


def _map_page(children: list[Any], run: _Run, now: float) -> tuple[list[Item], list[str], list[str]]:
    """Map each child on its own; drop repeats and posts before the run's floor (and note the floor).

    Children no reading can fix (an impossible time, a date more than a day ahead) are
    poison: reported, never stored, never moving the cursor.
    """
    page = Page()
    for _, item in readable(children, map_child, datetime.fromtimestamp(now, UTC), page):
        moment = item.created_at.timestamp()
        if run.fresh_after is not None and moment <= run.fresh_after:
            run.passed_known = True
        if run.floor is not None and moment < run.floor:
            run.reached_floor = True  # known ground: this and every later post was read before
            continue
        if item.external_id in run.seen:
            continue  # the search index can shift while paging and repeat a post
        run.seen.add(item.external_id)
        page.items.append(item)
        run.newest = moment if run.newest is None else max(run.newest, moment)
        if run.fresh_after is None or moment > run.fresh_after:
            run.fresh += 1
    run.fresh += len(page.rejected)
    return page.items, page.rejected, page.poison
