"""Poison through each real connector with httpx.MockTransport: real recorded answers whose
first item is made hostile (tracker/sandbox/poison.py). The item is stored cleaned or named
as poison; poison never holds the cursor, and a date in 2100 never moves it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors._clean import MAX_TEXT, clean_item
from connectors._http import HttpClient
from connectors.base import Page, StreamSpec
from connectors.bluesky.connector import BlueskyConnector
from connectors.hackernews.connector import HackerNewsConnector
from connectors.mastodon.connector import MastodonConnector
from connectors.reddit.connector import RedditConnector
from tracker import mentions
from tracker.sandbox.poison import KINDS, poison_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
CASES: dict[str, tuple[str, Any, dict[str, str]]] = {
    "mastodon": ("mastodon/timeline_tag_limit10_page1.json", MastodonConnector, {"hashtag": "acme"}),
    "bluesky": ("bluesky/searchPosts_q_redistricting.json", BlueskyConnector, {"query": "acme"}),
    "hackernews": ("hackernews/search_by_date_tags_story.json", HackerNewsConnector, {"query": "acme"}),
    "reddit": ("reddit/search_r_all_q_praw_oauth_search.json", RedditConnector,
               {"query": "acme", "user_agent": "test/1.0 (by u/test)"}),
}  # fmt: skip


def run(platform: str, what: str) -> list[Page]:
    path, cls, selectors = CASES[platform]
    body = poison_json((FIXTURES / path).read_bytes(), what)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") or request.url.params.get("page") not in (None, "0") or \
                request.url.params.get("after") or request.url.params.get("max_id"):  # fmt: skip
            empty = {"mastodon": [], "bluesky": {"posts": []}, "hackernews": {"hits": [], "nbPages": 1},
                     "reddit": {"kind": "Listing", "data": {"children": [], "after": None}}}[platform]  # fmt: skip
            return httpx.Response(200, json=empty)
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    async def go() -> list[Page]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            spec = StreamSpec(name="s", connector=platform, selectors=selectors, backfill=1000)
            connector = cls(spec, HttpClient(client=client, now=lambda: NOW))
            return [page async for page in connector.pages(None)]

    return asyncio.run(go())


def test_the_text_cap_is_the_import_limit() -> None:
    assert MAX_TEXT == mentions.MAX_TEXT


@pytest.mark.parametrize("platform", sorted(CASES))
@pytest.mark.parametrize("what", KINDS)
def test_poisoned_first_item_is_cleaned_or_named_and_never_moves_the_cursor(platform: str, what: str) -> None:
    pages = run(platform, what)
    items = [clean_item(item) for page in pages for item in page.items]
    poison = [reason for page in pages for reason in page.poison]
    assert not any(page.rejected for page in pages)  # nothing that would hold the cursor back
    final = pages[-1]
    assert final.final and final.cursor is not None
    assert "2100" not in json.dumps(final.cursor) and "10000" not in json.dumps(final.cursor)
    if what in ("year_10000", "far_future"):
        assert len(poison) == 1 and any(w in poison[0] for w in ("year", "future", "possible"))
    else:
        assert not poison
    for item in items:
        assert "\x00" not in item.text and "\ud800" not in item.text and len(item.text) <= MAX_TEXT
        assert item.author is None or "\ud800" not in item.author
        assert all(f is None or abs(f) <= 10**12 for f in (item.likes, item.reposts, item.replies, item.quotes))
        json.dumps(item.raw, ensure_ascii=False).encode("utf-8")  # storable: no lone surrogate left
        assert "\\u0000" not in json.dumps(item.raw)
    if what == "big_int":
        assert any(item.likes is None for item in items)


def test_a_feed_date_in_year_2147483648_is_poison_not_an_overflow() -> None:
    from connectors._clean import ImpossibleValue
    from connectors.rss.mapping import entry_to_item, map_entries

    entry = {"id": "e1", "title": "Acme", "published": "x", "published_parsed": [2147483648, 1, 1, 0, 0, 0, 0, 1, 0]}
    with pytest.raises(ImpossibleValue, match="2147483648"):
        entry_to_item(entry)
    poison: list[str] = []
    items, rejected = map_entries([entry, {**entry, "id": "e2", "published_parsed": [2026, 1, 1, 0, 0, 0, 0, 1, 0]}],
                                  now=NOW, poison=poison)  # fmt: skip
    assert [i.external_id for i in items] == ["e2"] and rejected == [] and len(poison) == 1
