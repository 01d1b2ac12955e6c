"""Bluesky connector: mapping on recorded responses, paging/login against MockTransport handlers."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors._http import HttpClient
from connectors._text import parse_time
from connectors.base import (
    AccountStats,
    AuthRequired,
    ConnectorError,
    MappingError,
    Page,
    PayloadError,
    StreamSpec,
)
from connectors.bluesky import mapping
from connectors.bluesky.connector import SEARCH_NEEDS_LOGIN, SESSION_REFUSED, BlueskyConnector

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bluesky"
PUBLIC = "public.api.bsky.app"
SEARCH_PATH = "/xrpc/app.bsky.feed.searchPosts"
FEED_PATH = "/xrpc/app.bsky.feed.getAuthorFeed"
PROFILE_PATH = "/xrpc/app.bsky.actor.getProfile"
LOGIN_PATH = "/xrpc/com.atproto.server.createSession"
REFRESH_PATH = "/xrpc/com.atproto.server.refreshSession"
PASSWORD = "abcd-efgh-ijkl-mnop"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def search_posts() -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = load("searchPosts_q_redistricting.json")["posts"]
    return posts


def feed_items() -> list[dict[str, Any]]:
    feed: list[dict[str, Any]] = load("getAuthorFeed_chriskenny.json")["feed"]
    return feed


def sort_at(post: dict[str, Any]) -> datetime:
    """The AppView's sortAt, computed independently of the code under test."""
    return min(parse_time(post["record"]["createdAt"]), parse_time(post["indexedAt"]))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_spec(
    *,
    role: str = "brand",
    backfill: int = 200,
    refresh_days: int = 14,
    secrets: dict[str, str] | None = None,
    base_url: str | None = None,
    overlap: timedelta | None = None,
    **selectors: str,
) -> StreamSpec:
    return StreamSpec(
        name="bsky",
        overlap=overlap,
        connector="bluesky",
        role=role,
        base_url=base_url,
        selectors=selectors,
        secrets=secrets or {},
        backfill=backfill,
        refresh_days=refresh_days,
    )


class Server:
    """A MockTransport handler: routes by path, records every request, fails on unknown paths."""

    def __init__(self, **routes: Callable[[httpx.Request], httpx.Response]) -> None:
        self.routes = {"/xrpc/" + name.replace("_", "."): handler for name, handler in routes.items()}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.url.path in self.routes, f"unexpected request {request.method} {request.url}"
        return self.routes[request.url.path](request)

    def calls(self) -> list[tuple[str, str, str, str | None]]:
        return [(r.method, r.url.host, r.url.path, r.headers.get("authorization")) for r in self.requests]


async def no_sleep(seconds: float) -> None:
    raise AssertionError(f"no test here should wait ({seconds}s)")


def run(
    spec: StreamSpec,
    server: Server,
    cursor: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
    stats: bool = False,
    read_pages: bool = True,
) -> tuple[list[Page], AccountStats | None]:
    async def go() -> tuple[list[Page], AccountStats | None]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            clock = {"now": lambda: now} if now is not None else {}
            connector = BlueskyConnector(spec, HttpClient(client=client, sleep=no_sleep, **clock))
            pages = [page async for page in connector.pages(cursor)] if read_pages else []
            return pages, (await connector.account_stats() if stats else None)

    return asyncio.run(go())


def pages_of(spec: StreamSpec, server: Server, cursor: dict[str, Any] | None = None, **kw: Any) -> list[Page]:
    return run(spec, server, cursor, **kw)[0]


def search_handler(
    posts: list[dict[str, Any]], page_size: int = 100, *, honour_since: bool = True, host: str = PUBLIC
) -> Callable[[httpx.Request], httpx.Response]:
    """searchPosts as the AppView answers it: sortAt order, `since` inclusive, offset cursor on full pages."""

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert request.method == "GET" and request.url.host == host
        assert (params["q"], params["sort"], params["limit"]) == ("redistricting", "latest", "100")
        selected = posts
        if honour_since and "since" in params:
            selected = [p for p in posts if sort_at(p) >= parse_time(params["since"])]
        offset = int(params.get("cursor", "0"))
        chunk = selected[offset : offset + page_size]
        body: dict[str, Any] = {"posts": chunk}
        if len(chunk) == page_size:
            body["cursor"] = str(offset + page_size)
        return httpx.Response(200, json=body)

    return handler


def feed_handler(pages: dict[str | None, dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """getAuthorFeed serving the given bodies by request cursor."""

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert request.method == "GET"
        assert (params["actor"], params["limit"]) == ("chriskenny.bsky.social", "100")
        assert "includePins" not in params and "filter" not in params
        return httpx.Response(200, json=pages[params.get("cursor")])

    return handler


# -- mapping on the recorded responses ---------------------------------------------------------


def test_search_fixture_maps_every_post() -> None:
    posts = search_posts()
    items = [mapping.map_post(post) for post in posts]
    assert len(items) == 25 and len({i.external_id for i in items}) == 25
    first = items[0]
    assert first.platform == "bluesky" and first.kind == "mention" and first.streams == ()
    assert first.external_id == "at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.post/3lpk2u6qo222m"
    assert first.url == "https://bsky.app/profile/socpaperbot.bsky.social/post/3lpk2u6qo222m"
    assert first.author == "socpaperbot.bsky.social"
    assert first.text.startswith("Ends Versus Means: Public Opinion on Congressional Redistricting https://")
    assert first.lang is None  # no record.langs: the tracker detects it later
    assert first.created_at == datetime(2025, 5, 19, 17, 10, 9, 561858, tzinfo=UTC)
    assert (first.likes, first.reposts, first.replies, first.quotes) == (
        0,
        0,
        0,
        0,
    )  # reported zeros, not None
    assert first.raw is posts[0]
    nyhan = items[10]
    assert nyhan.author == "brendannyhan.bsky.social" and nyhan.lang == "en"
    assert (nyhan.likes, nyhan.reposts, nyhan.replies, nyhan.quotes, nyhan.engagement) == (20, 5, 2, 1, 28)
    offset = items[22]  # createdAt written with "+00:00" and microseconds
    assert offset.created_at == datetime(2025, 5, 19, 2, 3, 20, 286393, tzinfo=UTC)
    assert "\r\n\r\n\r\n118." in offset.text  # the platform's plain text, kept as written
    for item, post in zip(items, posts, strict=True):
        assert (
            item.url
            == f"https://bsky.app/profile/{post['author']['handle']}/post/{post['uri'].rsplit('/', 1)[1]}"
        )
        assert item.created_at.tzinfo is UTC


def test_author_feed_fixture_posts_and_reposts() -> None:
    feed = feed_items()
    assert all(mapping.map_post(entry["post"], kind="own").kind == "own" for entry in feed)
    own = [mapping.account_post(entry, "chriskenny.bsky.social") for entry in feed]
    reposts = [e for e, post in zip(feed, own, strict=True) if post is None]
    assert len(reposts) == 7
    assert all(e["reason"]["$type"] == "app.bsky.feed.defs#reasonRepost" for e in reposts)
    assert all(post["author"]["handle"] == "chriskenny.bsky.social" for post in own if post is not None)
    reply = mapping.map_post(
        feed[0]["post"], kind="own"
    )  # a reply: its parent is in `reply`, by someone else
    assert feed[0]["reply"]["parent"]["author"]["handle"] != "chriskenny.bsky.social"
    assert reply.external_id == "at://did:plc:wpe35pganb6d4pg4ekmfy6u5/app.bsky.feed.post/3lof7sovfok2h"
    assert reply.url == "https://bsky.app/profile/chriskenny.bsky.social/post/3lof7sovfok2h"
    assert (reply.likes, reply.reposts, reply.replies, reply.quotes) == (0, 0, 1, 0)
    no_langs = mapping.map_post(feed[47]["post"])
    assert no_langs.lang is None
    assert no_langs.created_at == datetime(2024, 6, 5, 21, 1, 56, 189717, tzinfo=UTC)
    # the account may be given as a DID or in another case
    assert mapping.account_post(feed[1], "did:plc:wpe35pganb6d4pg4ekmfy6u5") is feed[1]["post"]
    assert mapping.account_post(feed[1], "ChrisKenny.bsky.social") is feed[1]["post"]


def test_pinned_and_foreign_feed_items_are_not_the_accounts() -> None:
    entry = feed_items()[1]
    pinned = {**entry, "reason": {"$type": "app.bsky.feed.defs#reasonPin"}}
    assert mapping.account_post(pinned, "chriskenny.bsky.social") is None
    assert mapping.account_post(entry, "someone.else.social") is None
    with pytest.raises(MappingError, match="post: missing"):
        mapping.account_post({"reply": entry.get("reply")}, "chriskenny.bsky.social")
    with pytest.raises(MappingError, match="feed item object"):
        mapping.account_post("x", "chriskenny.bsky.social")


def test_get_posts_fixture() -> None:
    item = mapping.map_post(load("getPosts_single.json")["posts"][0])
    assert item.external_id == "at://did:plc:ic6zqvuw5ulmfpjiwnhsr2ns/app.bsky.feed.post/3k7qmjev5lr2s"
    assert item.url == "https://bsky.app/profile/soubhikbarari.bsky.social/post/3k7qmjev5lr2s"
    assert item.author == "soubhikbarari.bsky.social" and item.lang == "en"
    assert item.text.startswith("Excited to be a speaker for the \n@rstatsai conf") and "📈" in item.text
    assert item.created_at == datetime(2023, 9, 19, 11, 32, 54, 574000, tzinfo=UTC)
    assert (item.likes, item.reposts, item.replies, item.quotes) == (4, 0, 0, 0)


def test_thread_fixture_quote_with_media_and_no_quote_count() -> None:
    item = mapping.map_post(load("getPostThread_with_embed_media.json")["thread"]["post"])
    assert item.url == "https://bsky.app/profile/test.marshal.dev/post/3kaheyt6vpc22"
    assert item.text == ""  # a quote post with only an image: still a mention
    assert item.lang == "en"
    assert (item.likes, item.reposts, item.replies) == (0, 0, 0)
    assert item.quotes is None  # older views carry no quoteCount: unknown, not 0


def _broken(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    post = copy.deepcopy(search_posts()[1])
    change(post)
    return post


@pytest.mark.parametrize(
    ("post", "message"),
    [
        (_broken(lambda p: p.pop("uri")), "uri: missing"),
        (_broken(lambda p: p.update(uri="https://example.com/x")), "uri: not an at:// record URI"),
        (_broken(lambda p: p.update(uri="at://did:plc:abc")), "uri: not an at:// record URI"),
        (_broken(lambda p: p.pop("author")), "author: missing"),
        (_broken(lambda p: p["author"].pop("handle")), "author.handle: missing"),
        (_broken(lambda p: p.pop("record")), "record: missing"),
        (_broken(lambda p: p["record"].update(text=7)), "record.text: expected text"),
        (_broken(lambda p: p.update(likeCount="4")), "likeCount: expected a whole number"),
        (_broken(lambda p: (p["record"].pop("createdAt"), p.pop("indexedAt"))), "created_at: missing"),
        (["not", "a", "post"], "expected a post object"),
    ],
)
def test_broken_posts_raise_mapping_error(post: Any, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        mapping.map_post(post)


def test_created_at_falls_back_to_indexed_at() -> None:
    missing = _broken(lambda p: p["record"].pop("createdAt"))
    garbage = _broken(lambda p: p["record"].update(createdAt="0000-00-00T00:00:00Z"))
    for post in (missing, garbage):
        assert mapping.map_post(post).created_at == datetime(2025, 5, 19, 17, 8, 30, 414000, tzinfo=UTC)


def test_sort_time_is_the_earlier_of_created_and_indexed() -> None:
    future = _broken(lambda p: p["record"].update(createdAt="2031-01-01T00:00:00Z"))
    item = mapping.map_post(future)
    assert item.created_at.year == 2031  # the platform's claim is kept on the item
    assert mapping.sort_time(future, item.created_at) == parse_time(future["indexedAt"])
    backdated = _broken(lambda p: p["record"].update(createdAt="2020-01-01T00:00:00Z"))
    assert mapping.sort_time(backdated, mapping.created_at(backdated)) == datetime(2020, 1, 1, tzinfo=UTC)


def test_lang_and_invalid_handle() -> None:
    multi = _broken(lambda p: p["record"].update(langs=["pt-BR", "en"]))
    assert mapping.map_post(multi).lang == "pt-BR"
    assert mapping.map_post(_broken(lambda p: p["record"].update(langs=[]))).lang is None
    invalid = _broken(lambda p: p["author"].update(handle="handle.invalid"))
    item = mapping.map_post(invalid)
    assert item.author == "handle.invalid"
    assert item.url == "https://bsky.app/profile/did:plc:s7savtl25cqhm3ddqc7jeljx/post/3lpk2r5h5ec2j"


def test_map_profile() -> None:
    raw = {"did": "did:plc:x", "handle": "brand.bsky.social", "followersCount": 1200, "followsCount": 0}
    assert mapping.map_profile(raw, "brand.bsky.social") == AccountStats("brand.bsky.social", 1200, 0, None)
    with pytest.raises(MappingError, match="followersCount"):
        mapping.map_profile({**raw, "followersCount": "1.2K"}, "brand.bsky.social")


# -- search paging ----------------------------------------------------------------------------


def test_search_first_run_pages_back_to_the_end() -> None:
    posts = search_posts()
    server = Server(app_bsky_feed_searchPosts=search_handler(posts, page_size=10))
    pages = pages_of(make_spec(query="redistricting"), server)
    assert [len(p.items) for p in pages] == [10, 10, 5]
    assert [p.final for p in pages] == [False, False, True]
    assert [p.cursor for p in pages[:2]] == [None, None]
    assert pages[-1].complete and not pages[-1].capped
    assert pages[-1].cursor == {"newest": "2025-05-19T17:10:09.561858Z"}
    assert [p.requests for p in pages] == [1, 1, 1]
    assert [r.url.params.get("cursor") for r in server.requests] == [None, "10", "20"]
    assert all("since" not in r.url.params for r in server.requests)
    assert all("authorization" not in r.headers for r in server.requests)
    assert [i.external_id for p in pages for i in p.items] == [p["uri"] for p in posts]


@pytest.mark.parametrize(("backfill", "sizes", "requests"), [(15, [10, 5], 2), (10, [10], 1), (3, [3], 1)])
def test_search_first_run_capped_by_backfill(backfill: int, sizes: list[int], requests: int) -> None:
    posts = search_posts()
    server = Server(app_bsky_feed_searchPosts=search_handler(posts, page_size=10))
    pages = pages_of(make_spec(query="redistricting", backfill=backfill), server)
    assert [len(p.items) for p in pages] == sizes
    assert len(server.requests) == requests  # a full cap asks for no page only to drop it
    final = pages[-1]
    assert final.final and final.capped and not final.complete
    assert final.cursor == {"newest": iso(sort_at(posts[0]))}
    assert [i.external_id for p in pages for i in p.items] == [p["uri"] for p in posts[:backfill]]


THIRTY = timedelta(minutes=30)  # the overlap these tests were written for; the default is 2 h


def test_search_overlap_defaults_to_two_hours() -> None:
    posts = search_posts()
    server = Server(app_bsky_feed_searchPosts=search_handler(posts))
    pages_of(make_spec(query="redistricting"), server, {"newest": "2025-05-19T17:10:09.561Z"})
    assert server.requests[0].url.params["since"] == "2025-05-19T15:10:09.561Z"


def test_search_second_run_with_nothing_new_makes_one_request() -> None:
    posts = search_posts()
    known = sort_at(posts[0])
    server = Server(app_bsky_feed_searchPosts=search_handler(posts))
    pages = pages_of(make_spec(query="redistricting", overlap=THIRTY), server, {"newest": iso(known)})
    assert len(server.requests) == 1
    assert server.requests[0].url.params["since"] == "2025-05-19T16:40:09.561Z"  # newest less 30 minutes
    assert len(pages) == 1 and pages[0].final and pages[0].complete and not pages[0].capped
    # the overlap window is read again (late-indexed posts land there); nothing older
    assert [i.external_id for i in pages[0].items] == [p["uri"] for p in posts[:3]]
    assert pages[0].cursor == {"newest": iso(known)}


def test_search_overlap_margin_keeps_late_indexed_posts() -> None:
    posts = search_posts()
    known = sort_at(posts[0])
    new = _post_at(
        posts[1], "3new", created=known + timedelta(minutes=5), indexed=known + timedelta(minutes=5)
    )
    # written 10 minutes before the last run's newest post, indexed after that run
    late = _post_at(
        posts[2], "3late", created=known - timedelta(minutes=10), indexed=known + timedelta(minutes=2)
    )
    stale = _post_at(
        posts[3], "3old", created=known - timedelta(minutes=40), indexed=known - timedelta(minutes=40)
    )
    # a server that ignores `since` still cannot make the run re-read old ground
    server = Server(
        app_bsky_feed_searchPosts=search_handler(
            [new, *posts[:2], late, posts[2], stale, *posts[3:]], honour_since=False
        )
    )
    pages = pages_of(make_spec(query="redistricting", overlap=THIRTY), server, {"newest": iso(known)})
    assert len(server.requests) == 1
    rkeys = [i.external_id.rsplit("/", 1)[1] for i in pages[0].items]
    assert rkeys == ["3new", "3lpk2u6qo222m", "3lpk2r5h5ec2j", "3late", "3lpjzka2pzc2l"]
    assert pages[0].complete and pages[0].cursor == {"newest": iso(known + timedelta(minutes=5))}


def _post_at(template: dict[str, Any], rkey: str, *, created: datetime, indexed: datetime) -> dict[str, Any]:
    post = copy.deepcopy(template)
    post["uri"] = post["uri"].rsplit("/", 1)[0] + "/" + rkey
    post["record"]["createdAt"] = iso(created)
    post["indexedAt"] = iso(indexed)
    return post


def test_search_second_run_stops_at_known_items_when_since_is_ignored() -> None:
    posts = search_posts()
    known = sort_at(posts[5])  # 14:09; its margin reaches back to 13:39
    server = Server(app_bsky_feed_searchPosts=search_handler(posts, page_size=10, honour_since=False))
    pages = pages_of(make_spec(query="redistricting", overlap=THIRTY), server, {"newest": iso(known)})
    assert len(server.requests) == 2  # the second page starts with a 13:08 post: known ground
    assert [len(p.items) for p in pages] == [10, 0]
    assert pages[-1].complete and pages[-1].cursor == {"newest": iso(sort_at(posts[0]))}


def test_broken_items_are_rejected_and_the_rest_kept() -> None:
    posts = search_posts()
    page_posts = [
        posts[0],
        _broken(lambda p: p.pop("uri")),
        _broken(lambda p: p.update(likeCount="4")),
        "not a post",
        posts[4],
    ]
    server = Server(app_bsky_feed_searchPosts=lambda r: httpx.Response(200, json={"posts": page_posts}))
    (page,) = pages_of(make_spec(query="redistricting"), server)
    assert [i.external_id for i in page.items] == [posts[0]["uri"], posts[4]["uri"]]
    assert page.rejected == [
        "item 1: uri: missing",
        "item 2: likeCount: expected a whole number, got str",
        "item 3: expected a post object, got str",
    ]
    assert page.final and page.complete


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, html="<html><body>Bad gateway</body></html>"), "HTML page instead of JSON"),
        (
            httpx.Response(200, content=b'{"posts": [', headers={"content-type": "application/json"}),
            "invalid JSON",
        ),
        (httpx.Response(200, json=[]), "a JSON list, not an object"),
        (httpx.Response(200, json={"feed": []}), "without a `posts` list"),
        (httpx.Response(200, json={"posts": {}}), "without a `posts` list"),
        (httpx.Response(200, json={"posts": [], "cursor": 25}), "int cursor"),
    ],
)
def test_unusable_answers_raise_payload_error(response: httpx.Response, message: str) -> None:
    server = Server(app_bsky_feed_searchPosts=lambda r: response)
    with pytest.raises(PayloadError, match=message):
        pages_of(make_spec(query="redistricting"), server)


@pytest.mark.parametrize("status", [401, 403])
def test_anonymous_search_refused_needs_login(status: int) -> None:
    body = {"error": "Forbidden", "message": "search requires auth"}
    server = Server(app_bsky_feed_searchPosts=lambda r: httpx.Response(status, json=body))
    with pytest.raises(AuthRequired, match=re.escape(SEARCH_NEEDS_LOGIN)):
        pages_of(make_spec(query="redistricting"), server)
    assert len(server.requests) == 1  # a 4xx is not retried


def test_empty_result_is_one_final_page_and_base_url_is_used() -> None:
    server = Server(
        app_bsky_feed_searchPosts=search_handler([], host="localhost"),
    )
    spec = make_spec(query="redistricting", base_url="http://localhost:8080/")
    (first,) = pages_of(spec, server)
    assert first.final and first.complete and first.items == [] and first.cursor == {"newest": None}
    (later,) = pages_of(spec, server, {"newest": "2025-05-19T17:10:09.561858Z"})
    assert later.cursor == {"newest": "2025-05-19T17:10:09.561858Z"}  # nothing seen: the mark stays
    assert str(server.requests[0].url).startswith("http://localhost:8080/xrpc/app.bsky.feed.searchPosts?")


# -- account feeds ----------------------------------------------------------------------------


def _feed_pages(feed: list[dict[str, Any]], *cuts: int) -> dict[str | None, dict[str, Any]]:
    """The feed cut into pages at the given indices; each page's cursor names the next."""
    bounds = [0, *cuts, len(feed)]
    pages: dict[str | None, dict[str, Any]] = {}
    for n, (start, end) in enumerate(itertools.pairwise(bounds)):
        body: dict[str, Any] = {"feed": feed[start:end]}
        if end < len(feed):
            body["cursor"] = f"c{n + 1}"
        pages[f"c{n}" if n else None] = body
    return pages


def test_account_feed_skips_reposts_and_foreign_posts_across_pages() -> None:
    feed = feed_items()
    stranger = copy.deepcopy(feed[2])
    stranger["post"]["author"] = feed[0]["reply"]["parent"]["author"]
    stranger["post"]["uri"] = "at://did:plc:z4cp3uwgxiioi7uaxn2boq47/app.bsky.feed.post/3stranger"
    feed.insert(3, stranger)
    server = Server(app_bsky_feed_getAuthorFeed=feed_handler(_feed_pages(feed, 25)))
    pages = pages_of(make_spec(account="@ChrisKenny.bsky.social"), server)
    assert [r.url.params.get("cursor") for r in server.requests] == [None, "c1"]
    assert all(r.url.host == PUBLIC and "authorization" not in r.headers for r in server.requests)
    items = [i for p in pages for i in p.items]
    assert len(items) == 43  # 50 less 7 reposts; the stranger's post is not the account's
    assert {i.author for i in items} == {"chriskenny.bsky.social"}
    assert {i.kind for i in items} == {"mention"}  # not an owned stream
    reposted = {e["post"]["uri"] for e in feed if "reason" in e}
    assert not reposted & {i.external_id for i in items}
    assert pages[-1].final and pages[-1].complete and pages[-1].rejected == []
    assert pages[-1].cursor == {"newest": "2025-05-05T01:30:17.912000Z"}


def test_owned_account_first_run_capped_kind_own() -> None:
    server = Server(app_bsky_feed_getAuthorFeed=feed_handler(_feed_pages(feed_items(), 25)))
    (page,) = pages_of(make_spec(account="chriskenny.bsky.social", role="owned", backfill=10), server)
    assert len(page.items) == 10 and {i.kind for i in page.items} == {"own"}
    assert page.final and page.capped and not page.complete and len(server.requests) == 1


def test_account_second_run_with_nothing_new_makes_one_request() -> None:
    feed = feed_items()
    known = sort_at(feed[0]["post"])
    server = Server(app_bsky_feed_getAuthorFeed=feed_handler(_feed_pages(feed, 25)))
    (page,) = pages_of(make_spec(account="chriskenny.bsky.social"), server, {"newest": iso(known)})
    assert len(server.requests) == 1
    assert [i.external_id for i in page.items] == [feed[0]["post"]["uri"]]  # only the overlap
    assert page.complete and page.cursor == {"newest": iso(known)}


def test_account_second_run_stops_at_known_items() -> None:
    feed = feed_items()
    known = sort_at(feed[4]["post"])
    server = Server(app_bsky_feed_getAuthorFeed=feed_handler(_feed_pages(feed, 10, 30)))
    (page,) = pages_of(make_spec(account="chriskenny.bsky.social"), server, {"newest": iso(known)})
    assert len(server.requests) == 1
    assert [i.external_id for i in page.items] == [e["post"]["uri"] for e in feed[:5]]
    assert page.complete and page.cursor == {"newest": iso(sort_at(feed[0]["post"]))}


@pytest.mark.parametrize(("known_at", "backfill"), [(0, 5), (2, 2)])
def test_owned_account_rereads_its_refresh_window(known_at: int, backfill: int) -> None:
    feed = feed_items()
    known = sort_at(feed[known_at]["post"])
    server = Server(app_bsky_feed_getAuthorFeed=feed_handler(_feed_pages(feed, 10, 30)))
    spec = make_spec(account="chriskenny.bsky.social", role="owned", backfill=backfill, refresh_days=60)
    pages = pages_of(spec, server, {"newest": iso(known)}, now=datetime(2025, 5, 6, tzinfo=UTC))
    # back past known items to 2025-03-07; the third page is never asked for
    assert [r.url.params.get("cursor") for r in server.requests] == [None, "c1"]
    assert [len(p.items) for p in pages] == [9, 11]
    assert min(i.created_at for p in pages for i in p.items) == datetime(2025, 3, 20, 20, 20, 50, 590000, UTC)
    assert {i.kind for p in pages for i in p.items} == {"own"}
    final = pages[-1]
    # re-reads do not count against backfill, even when the new posts filled it exactly
    assert final.complete and not final.capped
    assert final.cursor == {"newest": iso(sort_at(feed[0]["post"]))}


def test_account_stats_of_owned_account() -> None:
    def profile(request: httpx.Request) -> httpx.Response:
        assert request.url.params["actor"] == "chriskenny.bsky.social"
        body = {
            "handle": "chriskenny.bsky.social",
            "followersCount": 1234,
            "followsCount": 56,
            "postsCount": 789,
        }
        return httpx.Response(200, json=body)

    server = Server(
        app_bsky_feed_getAuthorFeed=feed_handler({None: {"feed": []}}), app_bsky_actor_getProfile=profile
    )
    _, stats = run(make_spec(account="chriskenny.bsky.social", role="owned"), server, stats=True)
    assert stats == AccountStats("chriskenny.bsky.social", followers=1234, following=56, posts=789)
    server.requests.clear()
    assert run(make_spec(account="chriskenny.bsky.social"), server, stats=True)[1] is None
    assert (
        run(make_spec(query="redistricting", role="owned"), Server(), stats=True, read_pages=False)[1] is None
    )
    assert [r.url.path for r in server.requests] == [FEED_PATH]  # no profile request for non-owned streams


def test_unknown_account_is_reported_clearly() -> None:
    body = {"error": "InvalidRequest", "message": "Profile not found"}
    server = Server(app_bsky_feed_getAuthorFeed=lambda r: httpx.Response(400, json=body))
    with pytest.raises(ConnectorError, match="no such handle"):
        pages_of(make_spec(account="nobody.bsky.social"), server)
    assert len(server.requests) == 1


# -- login, bearer tokens and their refresh ------------------------------------------------------


def _session(n: int) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "accessJwt": f"access-{n}",
            "refreshJwt": f"refresh-{n}",
            "did": "did:plc:brand",
            "handle": "brand.bsky.social",
            "didDoc": {
                "service": [{"id": "#atproto_pds", "serviceEndpoint": "https://shard.host.bsky.network"}]
            },
        },
    )


def _login_handler(*answers: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and "authorization" not in request.headers
        assert json.loads(request.content) == {"identifier": "brand.bsky.social", "password": PASSWORD}
        return queue.pop(0)

    return handler


def _logged_in(role: str = "brand", **selectors: str) -> StreamSpec:
    spec = make_spec(role=role, secrets={"app_password": PASSWORD})
    logins = {"identifier": "brand.bsky.social", "auth_url": "https://pds.example"}
    return dataclasses.replace(spec, selectors={**logins, **selectors})


def test_login_sends_every_request_to_the_entryway_with_the_token() -> None:
    profile = {"handle": "chriskenny.bsky.social", "followersCount": 3}
    server = Server(
        com_atproto_server_createSession=_login_handler(_session(1), _session(1)),  # one per run
        app_bsky_feed_searchPosts=search_handler(search_posts(), page_size=10, host="pds.example"),
        app_bsky_actor_getProfile=lambda r: httpx.Response(200, json=profile),
    )
    pages = pages_of(_logged_in(query="redistricting"), server)
    assert [p.requests for p in pages] == [2, 1, 1]  # the login counts on the first page
    assert server.calls()[0] == ("POST", "pds.example", LOGIN_PATH, None)
    assert {c[1:] for c in server.calls()[1:]} == {("pds.example", SEARCH_PATH, "Bearer access-1")}
    assert sum(len(p.items) for p in pages) == 25
    server.requests.clear()
    spec = _logged_in(account="chriskenny.bsky.social", role="owned")
    server.routes[FEED_PATH] = feed_handler({None: {"feed": []}})
    _, stats = run(spec, server, stats=True)
    assert stats is not None and stats.followers == 3
    assert [c[2:] for c in server.calls()] == [
        (LOGIN_PATH, None),
        (FEED_PATH, "Bearer access-1"),
        (PROFILE_PATH, "Bearer access-1"),  # the same session, the same host
    ]
    assert {c[1] for c in server.calls()} == {"pds.example"}


def test_expired_token_is_refreshed_and_the_request_retried_once(caplog: pytest.LogCaptureFixture) -> None:
    expired = httpx.Response(400, json={"error": "ExpiredToken", "message": "Token has expired"})
    searches = iter([expired, httpx.Response(200, json={"posts": search_posts()[:2]})])

    def refresh(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.headers["authorization"] == "Bearer refresh-1"
        return _session(2)

    server = Server(
        com_atproto_server_createSession=_login_handler(_session(1)),
        com_atproto_server_refreshSession=refresh,
        app_bsky_feed_searchPosts=lambda r: next(searches),
    )
    with caplog.at_level(logging.DEBUG):
        (page,) = pages_of(_logged_in(query="redistricting"), server)
    assert [c[2:] for c in server.calls()] == [
        (LOGIN_PATH, None),
        (SEARCH_PATH, "Bearer access-1"),
        (REFRESH_PATH, "Bearer refresh-1"),
        (SEARCH_PATH, "Bearer access-2"),
    ]
    assert page.requests == 4 and len(page.items) == 2
    assert not any(secret in caplog.text for secret in (PASSWORD, "access-", "refresh-1", "refresh-2"))


def test_refused_refresh_logs_in_again() -> None:
    searches = iter(
        [httpx.Response(401, json={"error": "InvalidToken"}), httpx.Response(200, json={"posts": []})]
    )
    server = Server(
        com_atproto_server_createSession=_login_handler(_session(1), _session(3)),
        com_atproto_server_refreshSession=lambda r: httpx.Response(400, json={"error": "ExpiredToken"}),
        app_bsky_feed_searchPosts=lambda r: next(searches),
    )
    (page,) = pages_of(_logged_in(query="redistricting"), server)
    assert [c[2:] for c in server.calls()] == [
        (LOGIN_PATH, None),
        (SEARCH_PATH, "Bearer access-1"),
        (REFRESH_PATH, "Bearer refresh-1"),
        (LOGIN_PATH, None),
        (SEARCH_PATH, "Bearer access-3"),
    ]
    assert page.final and page.complete


def test_session_refused_twice_is_raised_without_secrets() -> None:
    server = Server(
        com_atproto_server_createSession=_login_handler(_session(1)),
        com_atproto_server_refreshSession=lambda r: _session(2),
        app_bsky_feed_searchPosts=lambda r: httpx.Response(403, json={"error": "Forbidden"}),
    )
    with pytest.raises(AuthRequired, match=re.escape(SESSION_REFUSED)) as raised:
        pages_of(_logged_in(query="redistricting"), server)
    assert len(server.requests) == 4  # login, search, refresh, one retry: no loop
    assert not any(s in str(raised.value) for s in (PASSWORD, "access-", "refresh-"))


def test_login_refused_names_the_settings_not_the_password() -> None:
    refused = httpx.Response(
        401, json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
    )
    server = Server(com_atproto_server_createSession=_login_handler(refused))
    spec = _logged_in(query="redistricting")
    with pytest.raises(AuthRequired, match="check identifier and app_password_env") as raised:
        pages_of(spec, server)
    assert PASSWORD not in str(raised.value) and PASSWORD not in repr(spec)
    assert len(server.requests) == 1


def test_identifier_without_app_password_fails_before_any_request() -> None:
    server = Server()
    spec = make_spec(query="redistricting", identifier="brand.bsky.social")
    with pytest.raises(AuthRequired, match="app_password_env"):
        pages_of(spec, server)
    assert server.requests == []


def test_stream_without_selector_is_an_error() -> None:
    with pytest.raises(ConnectorError, match="needs a query or an account"):
        pages_of(make_spec(), Server())


# -- empty pages and the result-set cap (issue 15) -----------------------------------------------


def test_an_empty_page_with_a_cursor_is_not_the_end() -> None:
    posts = search_posts()[:20]

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor is None:
            return httpx.Response(200, json={"posts": posts[:10], "cursor": "p1"})
        if cursor == "p1":
            return httpx.Response(200, json={"posts": [], "cursor": "p2"})  # every hit dropped after search
        return httpx.Response(200, json={"posts": posts[10:]})

    pages = pages_of(make_spec(query="redistricting"), Server(app_bsky_feed_searchPosts=handler))
    assert [len(p.items) for p in pages] == [10, 0, 10] and pages[-1].complete


def test_past_the_result_cap_the_search_goes_on_with_until() -> None:
    posts = sorted(search_posts(), key=sort_at, reverse=True)
    untils: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        until = request.url.params.get("until")
        untils.append(until)
        below = [p for p in posts if until is None or sort_at(p) < parse_time(until)]
        return httpx.Response(200, json={"posts": below[:10]})  # a capped result set: no cursor

    async def go() -> list[Page]:
        server = Server(app_bsky_feed_searchPosts=handler)
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            connector = BlueskyConnector(make_spec(query="redistricting"), HttpClient(client=client, sleep=no_sleep))
            connector.search_cap = 10  # Bluesky's is about 10,000
            return [page async for page in connector.pages(None)]

    pages = asyncio.run(go())
    ids = [i.external_id for p in pages for i in p.items]
    assert len(ids) == len(set(ids)) == len(posts)  # everything, each once
    assert untils[0] is None and all(untils[1:]) and pages[-1].complete
