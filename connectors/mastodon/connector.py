"""Mastodon streams: a hashtag timeline, an (owned) account's statuses, or a statuses search.

Paging follows the shared model of connectors.base: newest first, `limit=40`, older
pages through the Link rel="next" header's `max_id` (timelines) or `offset` (search).
Status ids are opaque strings: the cursor never does arithmetic on them. It keeps the
ids and times of the newest known statuses; a later run asks only for what is newer
than an *anchor* chosen among them (`since_id` on timelines, `min_id` on search), the
newest known status at least OVERLAP older than the newest one (at most RECENT
statuses back), so late-federated or late-indexed posts near the edge are read again.

An owned account stream re-reads its own posts of the last `refresh_days` days on every
run (engagement grows), so it pages back past the anchor instead of stopping there.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors._http import HttpClient
from connectors._text import parse_time
from connectors.base import (
    AccountStats,
    AuthRequired,
    ConnectorError,
    Cursor,
    MappingError,
    Page,
    PayloadError,
    StreamSpec,
)
from connectors.mastodon import urls
from connectors.mastodon.mapping import is_boost, map_account_stats, map_status, status_mark

log = logging.getLogger("tracker.connectors.mastodon")

SELECTORS = ("hashtag", "account", "query")
OVERLAP = timedelta(minutes=30)
RECENT = 20  # known statuses kept in the cursor; bounds the overlap so an idle run is one request
Mark = tuple[str, datetime]  # (status id, created_at)
# One fetched page: raw statuses, the token of the next older page (None: no more), requests made.
Fetched = tuple[list[Any], str | int | None, int]


@dataclass
class _Run:
    """What one run has seen so far, and the rules that end it."""

    backfill: int
    anchor: Mark | None
    refresh_after: datetime | None  # owned re-read: page back until posts older than this
    kind: str
    known_ids: set[str] = field(default_factory=set)  # re-read overlap: not counted against backfill
    yielded: int = 0
    passed_anchor: bool = False
    truncated: bool = False  # a new status was left unread because of the cap
    seen: set[str] = field(default_factory=set)
    marks: list[Mark] = field(default_factory=list)

    def page(self, raws: list[Any], requests: int) -> Page:
        """Map a page's statuses: boosts skipped, broken ones reported, the cap applied."""
        page = Page(requests=requests)
        for index, raw in enumerate(raws):
            if isinstance(raw, dict) and is_boost(raw):
                continue
            try:
                item = map_status(raw, kind=self.kind)
            except MappingError as exc:
                page.rejected.append(f"item {index}{_id_hint(raw)}: {exc}")
                continue
            if item.external_id in self.seen:  # offset paging may repeat a post that moved down
                continue
            new = raw["id"] not in self.known_ids
            if new and self.yielded >= self.backfill:
                self.truncated = True
                break
            self.seen.add(item.external_id)
            self.marks.append((raw["id"], item.created_at))
            page.items.append(item)
            self.yielded += new
        return page

    def finish(self, raws: list[Any], has_next: bool) -> tuple[bool, bool] | None:
        """(complete, capped) when the run ends after this page, else None."""
        marks = [m for m in map(status_mark, raws) if m is not None]
        if self.anchor is not None and any(_at_or_before(m, self.anchor) for m in marks):
            self.passed_anchor = True
        if not self.truncated and (not has_next or self._refresh_done(marks)):
            return True, False
        if self.truncated or self.yielded >= self.backfill:
            # Past the anchor an owned run only cuts its engagement re-read short: no gap is left.
            covered = self.refresh_after is not None and self.passed_anchor
            return (True, False) if covered else (False, True)
        return None

    def _refresh_done(self, marks: list[Mark]) -> bool:
        """An owned re-read ends once past the anchor and at posts older than refresh_days."""
        if self.refresh_after is None or not self.passed_anchor:
            return False
        return any(at < self.refresh_after for _, at in marks)

    def cursor(self, known: list[Mark]) -> Cursor:
        """The newest RECENT known statuses, this run's and earlier ones, newest first."""
        merged = dict(self.marks)
        for status_id, at in known:
            merged.setdefault(status_id, at)
        recent = sorted(merged.items(), key=lambda m: m[1], reverse=True)[:RECENT]
        return {"recent": [{"id": i, "at": _iso(at)} for i, at in recent]}


class MastodonConnector:
    """One Mastodon stream (see the module docstring for the paging and cursor)."""

    platform: ClassVar[str] = "mastodon"

    def __init__(self, spec: StreamSpec, http: HttpClient) -> None:
        self.spec = spec
        self.http = http
        self.base = urls.base_url(spec.base_url)
        self.selector, self.value = _selector(spec)
        token = spec.secrets.get("token")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._account: dict[str, Any] | None = None

    # -- the Connector protocol ------------------------------------------------------------

    async def pages(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Yield the run's pages newest-first; the last one is final and carries the cursor."""
        if self.selector == "query" and not self.headers:
            raise AuthRequired("mastodon search (query) needs a token: set token_env")
        known = _known(cursor)
        anchor = _anchor(known)
        refresh = self.spec.owned and self.selector == "account" and anchor is not None
        run = _Run(
            backfill=self.spec.backfill,
            anchor=anchor,
            refresh_after=self.http.now() - timedelta(days=self.spec.refresh_days) if refresh else None,
            kind="own" if self.spec.owned and self.selector == "account" else "mention",
            known_ids={status_id for status_id, _ in known},
        )
        # A first run asks for no more than it may keep; later runs re-read up to RECENT known ones.
        limit = urls.LIMIT if anchor is not None else max(1, min(urls.LIMIT, self.spec.backfill))
        # An owned re-read must page past the anchor, so only other runs bound their requests by it.
        fetch = self._fetcher(limit, None if refresh or anchor is None else anchor[0])
        position: str | int | None = None  # max_id of the next older timeline page, or search offset
        while True:
            raws, next_position, requests = await fetch(position)
            if position is None and not raws and self.selector == "hashtag":
                log.info(
                    "%s: the hashtag timeline is empty (the server may have disabled it)", self.spec.name
                )
            page = run.page(raws, requests)
            end = run.finish(raws, next_position is not None)
            if end is not None:
                page.final, (page.complete, page.capped) = True, end
                page.cursor = run.cursor(known)
                yield page
                return
            yield page
            position = next_position

    async def account_stats(self) -> AccountStats | None:
        """Followers, following and statuses of an owned account stream; None otherwise."""
        if not (self.spec.owned and self.selector == "account"):
            return None
        account = await self._lookup()
        try:
            return map_account_stats(account)
        except MappingError as exc:
            raise PayloadError(f"{self.base}/api/v1/accounts/lookup: unusable account ({exc})") from None

    # -- fetching --------------------------------------------------------------------------

    def _fetcher(self, limit: int, since: str | None) -> Callable[[Any], Awaitable[Fetched]]:
        if self.selector == "query":
            return lambda offset: self._search_page(limit, offset or 0, since)
        return lambda max_id: self._timeline_page(limit, max_id, since)

    async def _timeline_page(self, limit: int, max_id: str | None, since_id: str | None) -> Fetched:
        """A hashtag or account page; `since_id` (when set) bounds every page of the run."""
        requests = 0
        if self.selector == "hashtag":
            url = urls.tag_timeline(self.base, self.value)
        else:
            requests = 0 if self._account is not None else 1
            url = urls.account_statuses(self.base, _account_id(await self._lookup(), self.base))
        params = urls.timeline_params(
            limit, since_id=since_id, max_id=max_id, exclude_reblogs=self.selector == "account"
        )
        data, response = await self.http.get_json(
            url, params=params, headers=self.headers, errors=self._errors()
        )
        if not isinstance(data, list):
            raise PayloadError(f"{url}: expected a list of statuses, got {type(data).__name__}")
        next_max_id = urls.max_id_of(response.links.get("next", {}).get("url"))
        if not data or (since_id is not None and len(data) < limit):
            next_max_id = None  # a short page bounded by since_id reached the anchor
        return data, next_max_id, requests + 1

    async def _search_page(self, limit: int, offset: int, min_id: str | None) -> Fetched:
        """A statuses search page; Mastodon 4.x sorts results newest first."""
        url = urls.search(self.base)
        params = urls.search_params(self.value, limit, offset=offset, min_id=min_id)
        data, _ = await self.http.get_json(url, params=params, headers=self.headers, errors=self._errors())
        statuses = data.get("statuses") if isinstance(data, dict) else None
        if not isinstance(statuses, list):
            raise PayloadError(f"{url}: expected an object with a list of statuses")
        # Search has no Link header: a short page is the last one.
        return statuses, (offset + limit if len(statuses) >= limit else None), 1

    async def _lookup(self) -> dict[str, Any]:
        """The stream's Account entity (accounts/lookup), fetched once per connector."""
        if self._account is None:
            acct = urls.acct_name(self.value)
            errors = {**self._errors(), 404: f"no account {acct!r} is known to this server"}
            url = urls.account_lookup(self.base)
            data, _ = await self.http.get_json(
                url, params={"acct": acct}, headers=self.headers, errors=errors
            )
            if not isinstance(data, dict):
                raise PayloadError(f"{url}: expected an account object, got {type(data).__name__}")
            self._account = data
        return self._account

    def _errors(self) -> Mapping[int, str]:
        """What a person should read on 401/403: a token is missing, or the one set is refused."""
        if self.headers:
            refused = "the server refused the token: check the variable named by token_env"
            return {401: refused, 403: refused}
        return {401: "needs a token: set token_env", 403: "needs a token: set token_env"}


# -- helpers ----------------------------------------------------------------------------------


def _selector(spec: StreamSpec) -> tuple[str, str]:
    given = [(key, spec.selectors[key]) for key in SELECTORS if spec.selectors.get(key)]
    if len(given) != 1:
        raise ConnectorError(f"stream {spec.name!r}: a mastodon stream needs one of hashtag, account, query")
    return given[0]


def _account_id(account: dict[str, Any], base: str) -> str:
    account_id = account.get("id")
    if not isinstance(account_id, str) or not account_id:
        raise PayloadError(f"{base}/api/v1/accounts/lookup: the account has no id")
    return account_id


def _known(cursor: Cursor | None) -> list[Mark]:
    """The cursor's known statuses, newest first; unreadable entries are ignored."""
    entries = (cursor or {}).get("recent")
    marks: list[Mark] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            try:
                marks.append((entry["id"], parse_time(entry.get("at"), "at")))
            except MappingError:
                continue
    return sorted(marks, key=lambda m: m[1], reverse=True)


def _anchor(known: list[Mark]) -> Mark | None:
    """The newest known status at least OVERLAP older than the newest one, else the oldest kept."""
    if not known:
        return None
    edge = known[0][1] - OVERLAP
    return next((mark for mark in known if mark[1] <= edge), known[-1])


def _at_or_before(mark: Mark, anchor: Mark) -> bool:
    return mark[0] == anchor[0] or mark[1] <= anchor[1]


def _id_hint(raw: Any) -> str:
    status_id = raw.get("id") if isinstance(raw, dict) else None
    return f" (id {status_id})" if isinstance(status_id, str) else ""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
