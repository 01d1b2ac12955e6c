"""Hacker News mentions through the HN Search API (Algolia `search_by_date`).

The first run pages back (`page` = 0, 1, ... up to `nbPages`) until `backfill` hits or
the end of the results. Later runs ask only for hits created after the cursor's
high-water mark less a 30-minute overlap (`numericFilters=created_at_i>N`), so the
server itself stops at the known point and posts indexed late are still seen; a run
with nothing new costs one request. Algolia serves at most 1000 hits per query
(`nbPages` stops there while `nbHits` goes on): past that window the run starts again at
page 0 with `created_at_i<=` the oldest hit seen, so a long catch-up is not cut short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from connectors._http import HttpClient
from connectors._paging import readable
from connectors.base import (
    AccountStats,
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
from connectors.hackernews import urls
from connectors.hackernews.mapping import map_hit
from connectors.hackernews.settings import STREAM_KEYS
from connectors.hackernews.urls import HITS_PER_PAGE, search_by_date_url, search_params

OVERLAP_SECONDS = 30 * 60  # search-index lag seen on HN is seconds to minutes
DAY_SECONDS = 24 * 60 * 60
ERRORS = {
    400: "the HN search API rejected the request: check the stream's query and tags",
    404: "no HN search API at this address: check base_url",
}


@dataclass
class _Results:
    """The parts of one search_by_date answer that paging needs."""

    hits: list[Any]
    nb_pages: int
    nb_hits: int | None
    per_page: int


@dataclass
class _Run:
    """What one run has seen so far."""

    newest: int | None
    fresh_after: int | None  # hits after this time are new and count toward backfill (None: all)
    seen: set[str] = field(default_factory=set)
    fresh: int = 0


class HackerNewsConnector:
    """Stories and comments matching a stream's `query` (and optional `tags`), newest first."""

    platform: ClassVar[str] = "hackernews"
    stream_keys: ClassVar[StreamKeys] = STREAM_KEYS

    def __init__(self, spec: StreamSpec, http: HttpClient) -> None:
        self.spec = spec
        self.http = http

    async def account_stats(self) -> AccountStats | None:
        """HN streams follow a search, not an account: there is no follower count."""
        return None

    async def pages(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Newest-first pages; the final one carries {"newest": Unix time of the newest hit}."""
        query = self.spec.selectors.get("query")
        if not query:
            raise ConnectorError("the hackernews connector needs a query")
        known = _known_newest(cursor)
        run = _Run(newest=known, fresh_after=known)  # the overlap re-reads, it does not catch up
        after = self._lower_bound(known)
        page, until = 0, None
        while True:
            params = search_params(query, tags=self.spec.selectors.get("tags"), page=page,
                                   after=after, until=until)  # fmt: skip
            data, _ = await self.http.get_json(
                search_by_date_url(self.spec.base_url), params=params, errors=ERRORS
            )
            results = _results(data)
            items, rejected, poison = _map_page(results.hits, run, self.http.now())
            more = bool(results.hits) and page + 1 < results.nb_pages
            oldest = min((_epoch(item) for item in items), default=None)
            restart = not more and _window_full(results, page) and oldest is not None
            if run.fresh >= self.spec.backfill and (more or restart):
                yield self._final(items, rejected, poison, run, complete=False, capped=True)
                return
            if not (more or restart):
                yield self._final(items, rejected, poison, run, complete=not _window_full(results, page))
                return
            yield Page(items=items, rejected=rejected, poison=poison)
            if more:
                page += 1
            else:  # "<=": hits sharing that second are read again, then dropped as seen
                page, until = 0, oldest

    async def refresh(self, known: Sequence[Known]) -> AsyncIterator[Refreshed]:
        """Read known stories again, 50 per search on `story_<id>` tags; a story the index no longer
        has (deleted, or killed as flagged) is deleted.

        Comments are not read again: HN reports no figures for them (no points, no reply count).
        """
        ids = [k.external_id for k in known if _is_story(k)]
        for start in range(0, len(ids), urls.STORIES_BATCH):
            chunk = ids[start : start + urls.STORIES_BATCH]
            data, _ = await self.http.get_json(
                urls.search_url(self.spec.base_url), params=urls.stories_params(chunk), errors=ERRORS
            )
            batch = Refreshed()
            for number, hit in enumerate(_results(data).hits, start=1):
                try:
                    item = map_hit(hit)
                except MappingError as exc:
                    batch.rejected.append(f"item {number}: {exc}")
                    continue
                if item.external_id in chunk:
                    batch.items.append(item)
            read = {item.external_id for item in batch.items}
            unreadable = len(batch.rejected) > 0  # a broken hit may be one of ours: do not call it gone
            batch.deleted = [] if unreadable else [oid for oid in chunk if oid not in read]
            yield batch

    def _lower_bound(self, known: int | None) -> int | None:
        """created_at_i>N for later runs; owned streams reach back refresh_days as well."""
        if known is None:
            return None
        overlap = self.spec.overlap.total_seconds() if self.spec.overlap is not None else OVERLAP_SECONDS
        after = known - int(overlap)
        if self.spec.owned:
            after = min(after, int(self.http.now().timestamp()) - self.spec.refresh_days * DAY_SECONDS)
        return after

    @staticmethod
    def _final(
        items: list[Item], rejected: list[str], poison: list[str], run: _Run, *, complete: bool,
        capped: bool = False,
    ) -> Page:
        return Page(items=items, rejected=rejected, poison=poison, cursor={"newest": run.newest},
                    final=True, complete=complete, capped=capped)  # fmt: skip


def _is_story(known: Known) -> bool:
    """A stored story (its raw hit is tagged "story"); imported items without a payload are skipped."""
    tags = (known.raw or {}).get("_tags")
    return isinstance(tags, list) and "story" in tags and known.external_id.isdigit()


def _known_newest(cursor: Cursor | None) -> int | None:
    value = (cursor or {}).get("newest")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _results(data: Any) -> _Results:
    """The hits and paging fields, or PayloadError when the answer is not a search result."""
    if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
        raise PayloadError("the HN search API answered without a list of hits")
    nb_pages, nb_hits, per_page = data.get("nbPages"), data.get("nbHits"), data.get("hitsPerPage")
    return _Results(
        hits=data["hits"],
        nb_pages=nb_pages if isinstance(nb_pages, int) else 0,  # unknown: this page is the last
        nb_hits=nb_hits if isinstance(nb_hits, int) else None,
        per_page=per_page if isinstance(per_page, int) and per_page > 0 else HITS_PER_PAGE,
    )


def _map_page(hits: list[Any], run: _Run, now: datetime) -> tuple[list[Item], list[str], list[str]]:
    """Map each hit on its own: broken ones become reasons, hits seen earlier this run are dropped.

    Hits no reading can fix (an impossible time, a date more than a day ahead) are poison:
    reported, never stored, and never moving the cursor.
    """
    page = Page()
    for _, item in readable(hits, map_hit, now, page):
        if item.external_id in run.seen:
            continue  # new hits arriving while paging shift older ones onto the next page
        run.seen.add(item.external_id)
        page.items.append(item)
        moment = _epoch(item)
        run.newest = moment if run.newest is None else max(run.newest, moment)
        if run.fresh_after is None or moment > run.fresh_after:
            run.fresh += 1
    run.fresh += len(page.rejected)
    return page.items, page.rejected, page.poison


def _epoch(item: Item) -> int:
    return int(item.created_at.timestamp())


def _window_full(results: _Results, page: int) -> bool:
    """True when Algolia stopped serving pages although more hits match (its 1000-hit cap)."""
    if not results.hits or results.nb_hits is None:
        return False
    return page + 1 >= results.nb_pages and results.nb_hits > (page + 1) * results.per_page
