"""End to end: the project's real connectors collect the sandbox world through its HTTP API.

Every stream is collected once at a moment when a late post is written but not yet visible,
then again at the world's end from the cursor the first run returned: together the two runs
must hold every post the world has for the stream, each run every item once, the second
only what is new plus the connectors' overlap, and the late post must not be skipped.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from connectors._http import HttpClient
from connectors.base import AuthRequired, Item
from connectors.bluesky.connector import SEARCH_NEEDS_LOGIN
from connectors.reddit.connector import ANONYMOUS_REFUSED
from tests.sandbox.conftest import Run, collect, make_connector, spec_for
from tracker.sandbox import SandboxServer, World
from tracker.sandbox.bluesky import post_uri
from tracker.sandbox.hackernews import object_id
from tracker.sandbox.mastodon import status_uri
from tracker.sandbox.reddit import fullname
from tracker.sandbox.rss import entry_id
from tracker.sandbox.world import Post

OVERLAP = timedelta(minutes=30)
STREAMS = ["acme-mastodon", "globex-mastodon", "acme-bluesky", "acme-hn", "acme-reddit", "acme-news", "globex-news",
           "acme-owned-mastodon", "acme-owned-bluesky", "acme-blog"]  # fmt: skip


def external_id(server: SandboxServer, post: Post, stream: str) -> str:
    if post.platform == "mastodon":
        return status_uri(post, server.context)
    if post.platform == "bluesky":
        return post_uri(post)
    if post.platform == "hackernews":
        return object_id(post)
    if post.platform == "reddit":
        return fullname(post)
    url = server.world.stream(stream).selectors["url"]
    return entry_id(post, "atom" if url.endswith(".atom") else "xml")


def expected(server: SandboxServer, stream: str, now: datetime) -> dict[str, Post]:
    """What a complete collection of the stream at `now` holds (a feed: only what it still lists)."""
    posts = server.world.posts_of(stream, now=now)
    if server.world.stream(stream).platform == "rss":
        posts = sorted(posts, key=lambda p: p.created_at)[-server.settings.feed_size :]
    return {external_id(server, p, stream): p for p in posts}


def late_moment(world: World, stream: str) -> tuple[datetime, Post | None]:
    """A moment in the last days when a post of the stream is written but not yet visible."""
    recent = [p for p in world.posts_of(stream) if p.created_at > world.end - timedelta(days=3)]
    late = [p for p in recent if p.visible_at - p.created_at > timedelta(minutes=2)]
    if not late:
        return world.end - timedelta(hours=36), None
    post = late[len(late) // 2]
    return post.created_at + (post.visible_at - post.created_at) / 2, post


def check_fields(server: SandboxServer, item: Item, post: Post, now: datetime) -> None:
    """The item carries the world's post: its text, time, author, language and figures at `now`."""
    world = server.world
    counts = world.engagement(post, now)
    assert item.created_at == post.created_at
    assert item.kind == ("own" if post.own else "mention")
    for part in (post.title, post.text):
        assert part in item.text, (part, item.text)
    if post.says_lang:  # a feed's language is its channel's (en-us)
        assert item.lang is not None and item.lang.split("-")[0] == post.lang
    elif post.platform in ("mastodon", "bluesky"):
        assert item.lang is None
    if post.platform in ("mastodon", "bluesky"):
        assert (item.likes, item.reposts, item.replies, item.quotes) == (
            counts.likes, counts.reposts, counts.replies, counts.quotes)  # fmt: skip
        assert item.author is not None and item.author.split("@")[0] == post.author
    elif post.platform == "hackernews":
        story = post.kind == "story"
        assert (item.likes, item.replies) == (
            (max(1, counts.likes), counts.replies) if story else (None, None)
        )
    elif post.platform == "reddit":
        assert (item.likes, item.replies, item.reposts) == (counts.likes, counts.replies, None)
        assert item.url is not None and item.url.startswith("https://www.reddit.com/r/")
    else:
        assert item.likes is None and item.engagement == 0


@pytest.mark.parametrize("stream", STREAMS)
def test_first_run_then_incremental_run_collect_everything_once(server: SandboxServer, stream: str) -> None:
    world = server.world
    first_now, late = late_moment(world, stream)
    spec = spec_for(server, stream)
    server.set_now(first_now)
    first = collect(server, spec, stats=spec.owned)
    wanted = expected(server, stream, first_now)
    assert len(first.ids) == len(set(first.ids)) and set(first.ids) == set(wanted)
    # A feed's first read covers only its window, so it is never "complete"; the APIs' first runs are.
    feed = world.stream(stream).platform == "rss"
    assert first.final.complete is not feed and not first.final.capped and not any(p.rejected for p in first.pages)
    for item in first.items:
        check_fields(server, item, wanted[item.external_id], first_now)
    if late is not None:
        assert external_id(server, late, stream) not in first.ids  # written, not visible yet

    server.set_now(world.end)
    second = collect(server, spec, first.final.cursor)
    now_wanted = expected(server, stream, world.end)
    assert len(second.ids) == len(set(second.ids)) and second.final.complete
    new = set(now_wanted) - set(first.ids)
    assert new <= set(second.ids)
    if late is not None:
        assert external_id(server, late, stream) in second.ids  # the late post was not skipped
    if world.stream(stream).platform != "rss":
        assert set(first.ids) | set(second.ids) == set(now_wanted)
    again = [i for i in second.items if i.external_id in set(first.ids)]
    newest_known = max(i.created_at for i in first.items)
    if spec.owned and world.stream(stream).platform != "rss":
        # The re-read reaches back refresh_days, to the end of the page that crosses it.
        refresh_floor = world.end - timedelta(days=spec.refresh_days)
        assert min(i.created_at for i in again) < refresh_floor + timedelta(days=1)
        assert sum(i.created_at < refresh_floor for i in again) <= 100
        grown = [(i, next(j for j in first.items if j.external_id == i.external_id)) for i in again]
        assert any(i.engagement > j.engagement for i, j in grown)  # re-reads see engagement grow
        assert all(i.engagement >= j.engagement for i, j in grown)
        assert first.stats is not None and first.stats.followers == world.followers(
            world.stream(stream).platform, first_now
        )
    elif world.stream(stream).platform != "rss":
        assert all(i.created_at >= newest_known - OVERLAP - timedelta(seconds=1) for i in again)
    for item in second.items:
        check_fields(server, item, now_wanted[item.external_id], world.end)


@pytest.mark.parametrize("stream", ["acme-mastodon", "acme-bluesky", "acme-hn", "acme-reddit"])
def test_backfill_caps_a_first_run_at_the_newest_items(server: SandboxServer, stream: str) -> None:
    """Mastodon and Bluesky stop at exactly `backfill`; HN and Reddit keep the whole last page."""
    run = collect(server, spec_for(server, stream, backfill=30))
    newest = [external_id(server, p, stream) for p in reversed(server.world.posts_of(stream))]
    exact = stream in ("acme-mastodon", "acme-bluesky")
    assert run.ids == newest[: 30 if exact else 100]
    assert run.final.capped and not run.final.complete


def test_hackernews_past_the_hit_window_restarts_and_still_collects_everything(world: World) -> None:
    # Algolia serves 1000 hits of a query, ten pages of the connector's 100; here 200, two pages.
    with SandboxServer(world, hn_max_hits=200) as server:
        run = collect(server, spec_for(server, "acme-hn"))
        assert len(run.ids) == len(set(run.ids)) == len(world.posts_of("acme-hn")) > 200
        filters = [r.arg("numericFilters") for r in server.requests]
        assert any(f and "created_at_i<=" in f for f in filters)


def test_mastodon_search_with_a_token(server: SandboxServer) -> None:
    spec = spec_for(server, "globex-mastodon")
    spec = type(spec)(name="globex-search", connector="mastodon", base_url=spec.base_url,
                      selectors={"query": "globex"}, secrets={"token": server.world.accounts.mastodon_token},
                      backfill=5000)  # fmt: skip
    run = collect(server, spec)
    assert set(run.ids) == set(expected(server, "globex-mastodon", server.now)) and len(run.ids) == len(
        set(run.ids)
    )
    assert all(r.headers["authorization"] == "Bearer <redacted>" for r in server.requests)


# -- logging in ----------------------------------------------------------------------------------


def test_bluesky_search_logs_in_at_the_entryway_and_refreshes_an_expired_session(
    server: SandboxServer,
) -> None:
    spec = spec_for(server, "acme-bluesky")
    assert spec.selectors["auth_url"] == server.auth_url("bluesky") and spec.secrets["app_password"]

    async def two_runs() -> tuple[Run, Run]:
        http = HttpClient.create()
        try:
            connector = make_connector(server, spec, http)
            first = collect_with(connector)
            return await first, await run_after_expiry(connector)
        finally:
            await http.aclose()

    async def collect_with(connector: Any, cursor: dict[str, Any] | None = None) -> Run:
        run = Run()
        async for page in connector.pages(cursor):
            run.pages.append(page)
        return run

    async def run_after_expiry(connector: Any) -> Run:
        server.expire_sessions("bluesky")
        server.clear_requests()
        return await collect_with(connector)

    first, second = asyncio.run(two_runs())
    assert set(first.ids) == set(second.ids) == set(expected(server, "acme-bluesky", server.now))
    calls = [(r.path.rsplit("/", 1)[1], r.status) for r in server.requests]
    assert calls[:3] == [("app.bsky.feed.searchPosts", 400), ("com.atproto.server.refreshSession", 200),
                         ("app.bsky.feed.searchPosts", 200)]  # fmt: skip
    assert all(r.path.startswith("/bluesky-pds/") for r in server.requests)
    assert all(r.headers.get("authorization") == "Bearer <redacted>" for r in server.requests)


def test_bluesky_anonymous_search_is_told_to_log_in_and_a_wrong_password_is_refused(
    server: SandboxServer,
) -> None:
    anonymous = spec_for(server, "acme-bluesky")
    anonymous = type(anonymous)(name="anon", connector="bluesky", base_url=server.base_url("bluesky"),
                                selectors={"query": "acme"})  # fmt: skip
    with pytest.raises(AuthRequired, match=re.escape(SEARCH_NEEDS_LOGIN)):
        collect(server, anonymous)
    wrong = spec_for(server, "acme-bluesky")
    wrong = type(wrong)(name="wrong", connector="bluesky", base_url=wrong.base_url, selectors=wrong.selectors,
                        secrets={"app_password": "not-it"})  # fmt: skip
    with pytest.raises(AuthRequired, match="bluesky login refused"):
        collect(server, wrong)


def test_reddit_oauth_gets_a_token_and_renews_a_revoked_one(world: World) -> None:
    with SandboxServer(world, block_anonymous_reddit=True) as server:
        spec = spec_for(server, "acme-reddit")
        assert spec.base_url == server.base_url("reddit-oauth") and spec.secrets["client_id"]
        run = collect(server, spec)
        assert set(run.ids) == set(expected(server, "acme-reddit", server.now))
        token_call, *searches = server.requests
        assert (
            token_call.path == "/reddit/api/v1/access_token"
            and token_call.headers["authorization"] == "Basic <redacted>"
        )
        assert all(
            r.path == "/reddit-oauth/search" and r.headers["authorization"] == "bearer <redacted>"
            for r in searches
        )
        assert all(r.headers["user-agent"] == spec.selectors["user_agent"] for r in server.requests)

        async def renewed() -> list[str]:
            http = HttpClient.create()
            try:
                connector = make_connector(server, spec, http)
                async for _ in connector.pages({"newest": server.now.timestamp()}):
                    pass
                server.expire_sessions("reddit")
                server.clear_requests()
                async for _ in connector.pages({"newest": server.now.timestamp()}):
                    pass
                return [f"{r.path} {r.status}" for r in server.requests]
            finally:
                await http.aclose()

        assert asyncio.run(renewed()) == ["/reddit-oauth/search 401", "/reddit/api/v1/access_token 200",
                                          "/reddit-oauth/search 200"]  # fmt: skip


def test_reddit_anonymous_blocked_and_a_wrong_secret_are_reported(world: World) -> None:
    with SandboxServer(world, block_anonymous_reddit=True) as server:
        anonymous = spec_for(server, "acme-reddit")
        anonymous = type(anonymous)(name="anon", connector="reddit", base_url=server.base_url("reddit"),
                                    selectors={"query": "acme", "user_agent": "tests/1.0 (by /u/tests)"})  # fmt: skip
        with pytest.raises(AuthRequired, match=re.escape(ANONYMOUS_REFUSED.format(status=403))):
            collect(server, anonymous)
        wrong = spec_for(server, "acme-reddit")
        wrong = type(wrong)(name="wrong", connector="reddit", base_url=wrong.base_url, selectors=wrong.selectors,
                            secrets={"client_id": "x", "client_secret": "y"})  # fmt: skip
        with pytest.raises(AuthRequired, match="rejected the OAuth client"):
            collect(server, wrong)


# -- feeds ----------------------------------------------------------------------------------------


def test_an_unchanged_feed_costs_a_304_and_keeps_the_cursor(server: SandboxServer) -> None:
    spec = spec_for(server, "acme-news")
    first = collect(server, spec)
    assert first.final.cursor is not None and first.final.cursor["etag"]
    second = collect(server, spec, first.final.cursor)
    assert [r.status for r in server.requests] == [200, 304]
    assert second.items == [] and second.final.complete and second.final.cursor is not None
    assert second.final.cursor["etag"] == first.final.cursor["etag"]
    assert server.requests[1].headers["if-none-match"] == first.final.cursor["etag"]


def test_google_alert_links_are_unwrapped(server: SandboxServer) -> None:
    run = collect(server, spec_for(server, "acme-news"))
    assert all(i.url and i.url.startswith("https://") and "google.com" not in i.url for i in run.items)
    assert all("<b>" not in i.text for i in run.items)


def test_owned_account_stats_come_from_the_sandbox(server: SandboxServer) -> None:
    for name, platform in (("acme-owned-mastodon", "mastodon"), ("acme-owned-bluesky", "bluesky")):
        run = collect(server, spec_for(server, name), stats=True)
        assert run.stats is not None and run.stats.followers == server.world.followers(platform, server.now)
        assert run.stats.posts is not None and run.stats.posts >= len(run.items)


@pytest.mark.slow
def test_the_demo_collects_twelve_weeks_of_every_stream_in_one_run_each(big_world: World) -> None:
    """stream_configs() as the demo writes them, the real rate limits on: everything, quickly."""
    started = time.monotonic()
    with SandboxServer(big_world) as server:
        for config in server.stream_configs():
            run = collect(server, spec_for(server, config["name"]))
            assert run.final.complete or config["connector"] == "rss"  # a feed's first read: its window
            assert set(run.ids) == set(expected(server, config["name"], server.now))
        assert all(r.status == 200 for r in server.requests)  # no budget ran out, nothing was refused
    assert time.monotonic() - started < 15
