"""Mastodon streams: a hashtag timeline, an (owned) account's statuses, or a statuses search.

Paging follows the shared model of connectors.base: newest first, `limit=40`, older
pages through the Link rel="next" header's `max_id` (timelines) or `offset` (search).
A short page is not the last one: Mastodon removes filtered statuses after applying the
limit (search) and sends rel="next" on any non-empty timeline page, so a run pages on
while pages are non-empty, until known ground, `backfill` or the end.

Status ids are opaque strings: the cursor never does arithmetic on them. It keeps the
newest stored time and the ids and times of the newest known statuses. A later run
reads back to the *anchor time*, the newest stored time less the stream's `overlap`
(default 2 h): a remote status gets an id derived from its created_at, so one that
federates an hour late sorts an hour into the past, and is still read. When a known
The requests carry no since_id / min_id: ids of late statuses fall below any known
id, and a run that stops by time needs no bound from the server (an idle run whose
first page reaches back past the anchor time is one request).

An owned account stream re-reads its own posts of the last `refresh_days` days on every
run (engagement grows), so it pages back past the anchor instead of stopping there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors._http import HttpClient
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
    NotFound,
    Page,
    PayloadError,
    Refreshed,
    StreamKeys,
    StreamSpec,
)
from connectors.mastodon import urls
from connectors.mastodon.mapping import is_boost, map_account_stats, map_status, status_mark
from connectors.mastodon.settings import SELECTORS, STREAM_KEYS

log = logging.getLogger("tracker.connectors.mastodon")

OVERLAP = timedelta(hours=2)  # default of the stream's `overlap`
RECENT = 20  # known statuses kept in the cursor: ids that may bound a later run's requests
Mark = tuple[str, datetime]  # (status id, created_at)
# One fetched page: raw statuses, the token of the next older page (None: no more), requests made.
Fetched = tuple[list[Any], str | int | None, int]


@dataclass
class _Run:
    """What one run has seen so far, and the rules that end it."""

    backfill: int
    anchor_time: datetime | None  # read back to here: the newest stored time less the overlap
    refresh_after: datetime | None  # owned re-read: page back until posts older than this
    kind: str
    now: datetime
    known_ids: set[str] = field(default_factory=set)  # re-read overlap: not counted against backfill
    yielded: int = 0
    passed_anchor: bool = False
    truncated: bool = False  # a new status was left unread because of the cap
    seen: set[str] = field(default_factory=set)
    marks: list[Mark] = field(default_factory=list)

    def page(self, raws: list[Any], requests: int) -> Page:
        """Map a page's statuses: boosts skipped, broken ones reported, the cap applied."""
        page = Page(requests=requests)
        for raw, item in readable(raws, self._read, self.now, page, label=_label):
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

    def _read(self, raw: Any) -> Item | None:
        return None if isinstance(raw, dict) and is_boost(raw) else map_status(raw, kind=self.kind)

    def finish(self, raws: list[Any], has_next: bool) -> tuple[bool, bool] | None:
        """(complete, capped) when the run ends after this page, else None."""
        marks = [m for m in map(status_mark, raws) if m is not None]
        if self.anchor_time is not None and any(at <= self.anchor_time for _, at in marks):
            self.passed_anchor = True
        reached = self.passed_anchor and self.refresh_after is None
        if not self.truncated and (not has_next or reached or self._refresh_done(marks)):
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
        """The newest stored time, and the newest RECENT known statuses, newest first."""
        merged = dict(self.marks)
        for status_id, at in known:
            if status_id:
                merged.setdefault(status_id, at)
        recent = sorted(merged.items(), key=lambda m: m[1], reverse=True)[:RECENT]
        cursor: Cursor = {"recent": [{"id": i, "at": _iso(at)} for i, at in recent]}
        newest = max([at for _, at in self.marks] + [at for _, at in known], default=None)
        if newest is not None:
            cursor["newest"] = _iso(newest)
        return cursor


class MastodonConnector:
    """One Mastodon stream (see the module docstring for the paging and cursor)."""

    platform: ClassVar[str] = "mastodon"
    stream_keys: ClassVar[StreamKeys] = STREAM_KEYS

    def __init__(self, spec: StreamSpec, http: HttpClient) -> None:
        self.spec = spec
        self.http = http
        self.base = urls.base_url(spec.base_url)
        self.selector, self.value = _selector(spec)
        token = spec.secrets.get("token")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._account: dict[str, Any] | None = None
        self._batch_route = True  # GET /api/v1/statuses?id[]= until the server shows it has none

    # -- the Connector protocol ------------------------------------------------------------

    async def pages(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Yield the run's pages newest-first; the last one is final and carries the cursor."""
        if self.selector == "query" and not self.headers:
            raise AuthRequired("mastodon search (query) needs a token: set token_env")
        known = _known(cursor)
        overlap = self.spec.overlap if self.spec.overlap is not None else OVERLAP
        anchor_time = known[0][1] - overlap if known else None
        refresh = self.spec.owned and self.selector == "account" and anchor_time is not None
        run = _Run(
            backfill=self.spec.backfill,
            anchor_time=anchor_time,
            refresh_after=self.http.now() - timedelta(days=self.spec.refresh_days) if refresh else None,
            kind="own" if self.spec.owned and self.selector == "account" else "mention",
            now=self.http.now(),
            known_ids={status_id for status_id, _ in known},
        )
        # A first run asks for no more than it may keep; later runs re-read the overlap.
        limit = urls.LIMIT if known else max(1, min(urls.LIMIT, self.spec.backfill))
        fetch = self._fetcher(limit, None)
        position: str | int | None = None  # max_id of the next older timeline page, or search offset
        while True:
            raws, next_position, requests = await fetch(position)
            warning = None
            if position is None and not raws and self.selector == "hashtag":
                warning = await self._restricted_tags()
                requests += 1
            page = run.page(raws, requests)
            page.warning = warning
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

    async def refresh(self, known: Sequence[Known]) -> AsyncIterator[Refreshed]:
        """Read known statuses again, 20 per GET /api/v1/statuses?id[]= (Mastodon 4.3+), one by
        one (GET /api/v1/statuses/:id) on older servers; a status the server no longer has is deleted.

        The local id is the one stored in the raw payload, i.e. the id on the instance that
        served it: a status stored from another instance's stream is not this server's to read.
        """
        by_id = {local: k for k in known if (local := _local_id(k)) is not None}
        ids = list(by_id)
        for start in range(0, len(ids), urls.STATUSES_BATCH):
            chunk = ids[start : start + urls.STATUSES_BATCH]
            raws = await self._statuses(chunk) if self._batch_route else None
            if raws is None:
                yield await self._one_by_one(chunk, by_id)
                continue
            refreshed = self._readings(raws, by_id)
            # Left out of the answer: deleted (or no longer visible to us, which counts the same).
            returned = {raw.get("id") for raw in raws if isinstance(raw, dict)}
            refreshed.deleted = [by_id[i].external_id for i in chunk if i not in returned]
            yield refreshed

    async def _statuses(self, ids: list[str]) -> list[Any] | None:
        """The batch answer, or None when this server has no batch route (before 4.3: 404)."""
        url = urls.statuses(self.base)
        try:
            data, _ = await self.http.get_json(
                url, params=urls.statuses_params(ids), headers=self.headers, errors=self._errors()
            )
        except NotFound:
            self._batch_route = False
            return None
        except ConnectorError as exc:
            if exc.status != 422:  # a server with a smaller batch limit: read one by one
                raise
            self._batch_route = False
            return None
        if not isinstance(data, list):
            raise PayloadError(f"{url}: expected a list of statuses, got {type(data).__name__}")
        return data

    async def _one_by_one(self, ids: list[str], by_id: Mapping[str, Known]) -> Refreshed:
        raws: list[Any] = []
        gone: list[str] = []
        for status_id in ids:
            try:
                data, _ = await self.http.get_json(
                    urls.status(self.base, status_id), headers=self.headers, errors=self._errors()
                )
            except NotFound:
                gone.append(by_id[status_id].external_id)
                continue
            raws.append(data)
        refreshed = self._readings(raws, by_id)
        refreshed.deleted, refreshed.requests = gone, len(ids)
        return refreshed

    def _readings(self, raws: list[Any], by_id: Mapping[str, Known]) -> Refreshed:
        """Map the statuses that are the known ones (same uri): others are not these items."""
        wanted = {k.external_id for k in by_id.values()}
        kind = "own" if self.spec.owned and self.selector == "account" else "mention"
        found = Refreshed()
        for index, raw in enumerate(raws):
            try:
                item = map_status(raw, kind=kind)
            except MappingError as exc:
                found.rejected.append(f"item {index}{_id_hint(raw)}: {exc}")
                continue
            if item.external_id in wanted:
                found.items.append(item)
        return found

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
        if not data:
            next_max_id = None  # only an empty page ends a timeline: a short one may be filtered
        return data, next_max_id, requests + 1

    async def _search_page(self, limit: int, offset: int, min_id: str | None) -> Fetched:
        """A statuses search page; Mastodon 4.x sorts results newest first."""
        url = urls.search(self.base)
        params = urls.search_params(self.value, limit, offset=offset, min_id=min_id)
        data, _ = await self.http.get_json(url, params=params, headers=self.headers, errors=self._errors())
        statuses = data.get("statuses") if isinstance(data, dict) else None
        if not isinstance(statuses, list):
            raise PayloadError(f"{url}: expected an object with a list of statuses")
        # Search has no Link header, and removes filtered statuses after applying the limit:
        # a short page is not the last one, only an empty page is.
        return statuses, (offset + limit if statuses else None), 1

    async def _restricted_tags(self) -> str | None:
        """Why an empty first page of a tag timeline may hide posts, when the server says so.

        Mastodon 4.5 lets a server show hashtag timelines only to logged-in users
        (`configuration.timelines_access.hashtag_feeds` in /api/v2/instance: "public",
        "authenticated" or "disabled"); an anonymous request then sees an empty timeline.
        """
        url = urls.instance(self.base)
        try:
            data, _ = await self.http.get_json(url, headers=self.headers)
        except ConnectorError:
            log.info("%s: the hashtag timeline is empty; %s did not say why", self.spec.name, url)
            return None
        access = data.get("configuration", {}).get("timelines_access", {}) if isinstance(data, dict) else {}
        feeds = access.get("hashtag_feeds") if isinstance(access, dict) else None
        values = {v for v in feeds.values() if isinstance(v, str)} if isinstance(feeds, dict) else set()
        if "disabled" in values:
            return f"{self.base} has disabled hashtag timelines (timelines_access): this stream sees nothing"
        if "authenticated" in values and not self.headers:
            return (f"{self.base} shows hashtag timelines only to logged-in users (timelines_access): "
                    "set token_env to a token of an account there, or this stream sees nothing")  # fmt: skip
        log.info("%s: the hashtag timeline is empty", self.spec.name)
        return None

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


def _local_id(known: Known) -> str | None:
    """The status id on the serving instance, from the stored payload (None: cannot be read again)."""
    value = (known.raw or {}).get("id")
    return value if isinstance(value, str) and value.isdigit() else None


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
    """The cursor's known statuses, newest first; unreadable entries are ignored.

    A cursor's `newest` time (when later than every remembered status) heads the list
    as a mark without an id ("").
    """
    entries = (cursor or {}).get("recent")
    marks: list[Mark] = []
    newest = (cursor or {}).get("newest")
    if isinstance(newest, str):
        with contextlib.suppress(MappingError):
            marks.append(("", parse_time(newest, "newest")))
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            try:
                marks.append((entry["id"], parse_time(entry.get("at"), "at")))
            except MappingError:
                continue
    marks.sort(key=lambda m: m[1], reverse=True)
    if marks and marks[0][0] == "" and len(marks) > 1 and marks[1][1] >= marks[0][1]:
        marks.pop(0)  # `newest` adds nothing a remembered status does not say
    return marks



def _label(index: int, raw: Any) -> str:
    """A status in a rejection: its place on the page (counting from 0) and its id when it has one."""
    return f"item {index}{_id_hint(raw)}"


def _id_hint(raw: Any) -> str:
    status_id = raw.get("id") if isinstance(raw, dict) else None
    return f" (id {status_id})" if isinstance(status_id, str) else ""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
