"""RSS/Atom connector: one conditional GET per run, the feed's entries newest-first.

A feed has no paging and no "since" parameter: each run reads the whole feed (or
nothing, when the server answers 304 to the ETag / Last-Modified of the last run)
and yields its entries, newest first, at most `backfill` of them. Entries already
stored are yielded again (the store's upsert is idempotent); what the cursor's
known point is for is telling whether the feed still reaches back to the last run
(`complete`) or rolled over more entries than it holds since then (a gap).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from connectors._http import HttpClient
from connectors.base import AccountStats, ConnectorError, Cursor, Item, Page, StreamKeys, StreamSpec
from connectors.rss import mapping, urls
from connectors.rss.settings import STREAM_KEYS

# Entries dated up to this long before the newest stored one may still be new: feeds
# backdate (scheduled posts, aggregators such as Google Alerts index late).
OVERLAP = timedelta(minutes=30)
SEEN_LIMIT = 250  # ids kept in the cursor: more than any feed holds at once

ERRORS = {
    401: "the feed wants credentials; the rss connector sends none, so use a public or keyed feed url",
    403: "the feed refused access; check that the url is the feed's address and still shared",
    404: "no feed at this url; check the stream's url (a deleted Google Alert gives this)",
    410: "the feed was removed (410 Gone); update or remove the stream",
}


@dataclass(frozen=True)
class Known:
    """What the previous runs stored: the newest entry time and the recent entry ids."""

    newest: datetime | None
    seen: frozenset[str]
    overlap: timedelta = OVERLAP

    @classmethod
    def load(cls, cursor: Mapping[str, Any] | None, overlap: timedelta | None = None) -> Known | None:
        """The known point of a cursor; None when there is none (first run)."""
        if not cursor:
            return None
        newest = _time(cursor.get("newest"))
        seen = frozenset(_ids(cursor.get("seen")))
        if newest is None and not seen:
            return None
        return cls(newest, seen, OVERLAP if overlap is None else overlap)

    def covers(self, item: Item) -> bool:
        """Stored before: a known id, or older than the high-water mark less the overlap."""
        if item.external_id in self.seen:
            return True
        return self.newest is not None and item.created_at <= self.newest - self.overlap


class RssConnector:
    """RSS 0.9x/1.0/2.0 and Atom feeds (selector `url`), Google Alerts links unwrapped."""

    platform: ClassVar[str] = "rss"
    stream_keys: ClassVar[StreamKeys] = STREAM_KEYS

    def __init__(self, spec: StreamSpec, http: HttpClient) -> None:
        self.spec = spec
        self.http = http

    async def pages(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        """One final page: the feed's entries newest-first, capped at `backfill`."""
        url = urls.feed_url(self.spec.selectors)
        response = await self.http.request("GET", url, headers=urls.request_headers(cursor), errors=ERRORS)
        if response.status_code == 304:  # unchanged since the validators in the cursor
            yield Page(cursor=_validators(dict(cursor or {}), response), final=True, complete=True)
            return
        if not 200 <= response.status_code < 300:  # a redirect the client did not follow
            raise ConnectorError(f"HTTP {response.status_code} from {_where(response)}: not a feed answer")
        # In a worker thread: a large feed takes seconds to parse, and the run's deadline must
        # still end the run on time (the thread finishes on its own; the body is capped).
        feed = await asyncio.to_thread(
            mapping.parse_feed,
            response.content,
            where=_where(response),
            content_type=response.headers.get("content-type", ""),
            location=str(response.url),
        )
        kind = "own" if self.spec.owned else "mention"
        poison: list[str] = []
        items, rejected = mapping.map_entries(
            feed["entries"], feed_lang=mapping.feed_language(feed["feed"]), kind=kind, now=self.http.now(),
            poison=poison,
        )  # fmt: skip
        known = Known.load(cursor, self.spec.overlap)
        kept, complete, capped = select(items, known, self.spec.backfill)
        yield Page(
            items=kept,
            rejected=rejected,
            poison=poison,
            cursor=_validators(next_cursor(cursor, kept), response),
            final=True,
            complete=complete,
            capped=capped,
        )

    async def account_stats(self) -> AccountStats | None:
        """Feeds have no followers to count."""
        return None


def select(items: list[Item], known: Known | None, backfill: int) -> tuple[list[Item], bool, bool]:
    """(items to yield, complete, capped) for the entries of one feed read.

    The newest `backfill` distinct entries are kept. `capped` when the cap dropped an
    entry not known before; `complete` when nothing was dropped and the feed reaches
    back to a known entry. A first read of a non-empty feed is never complete: a feed
    lists only its latest entries, so it says nothing of the time before its oldest one.
    """
    unique: dict[str, Item] = {}
    for item in items:
        unique.setdefault(item.external_id, item)  # a feed repeating an id: its first copy wins
    # Feeds are not always newest-first; equal times keep the feed's order (sort is stable).
    ordered = sorted(unique.values(), key=lambda item: item.created_at, reverse=True)
    kept, dropped = ordered[:backfill], ordered[backfill:]
    if known is None:
        return kept, not ordered, bool(dropped)
    capped = any(not known.covers(item) for item in dropped)
    reached = not ordered or any(known.covers(item) for item in ordered)
    return kept, reached and not capped, capped


def next_cursor(cursor: Mapping[str, Any] | None, kept: list[Item]) -> Cursor:
    """The high-water time and recent ids, merged with the previous cursor's."""
    previous = Known.load(cursor)
    times = [item.created_at for item in kept if not item.date_estimated]  # first-seen times say nothing
    if previous is not None and previous.newest is not None:
        times.append(previous.newest)
    ids = [item.external_id for item in kept] + _ids(cursor.get("seen") if cursor else None)
    newest = max(times) if times else None
    return {
        "newest": newest.isoformat().replace("+00:00", "Z") if newest else None,
        "seen": list(dict.fromkeys(ids))[:SEEN_LIMIT],
    }


def _validators(cursor: Cursor, response: httpx.Response) -> Cursor:
    """Keep the answer's ETag / Last-Modified for the next run's conditional GET.

    A 304 may leave them out (then the old ones stay); a 200 without them clears them.
    """
    etag = response.headers.get("etag") or None
    modified = response.headers.get("last-modified") or None
    if response.status_code == 304:
        etag = etag or cursor.get("etag")
        modified = modified or cursor.get("last_modified")
    return {**cursor, "etag": etag, "last_modified": modified}


def _where(response: httpx.Response) -> str:
    # Host and path only: a private feed's key may sit in its query.
    return f"{response.request.url.host}{response.request.url.path}"


def _ids(value: Any) -> list[str]:
    return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
