"""Independent client libraries, set up as their users would, accept the sandbox.

Mastodon.py, the atproto SDK (its response models validated strictly, string formats too),
PRAW and feedparser each talk to `SandboxServer` and read what a real server would give
them: the version check and instance, the token's account, searches, threads, batch reads,
media and quote posts, feeds with their validators. These are test-only dependencies
(pyproject's `test` extra).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import atproto  # type: ignore[import-untyped]
import feedparser
import httpx
import mastodon  # type: ignore[import-untyped]
import praw  # type: ignore[import-untyped]

from tracker.sandbox import SandboxServer, World


def test_mastodon_py_finds_the_server_version_and_reads_statuses(server: SandboxServer, world: World) -> None:
    client = mastodon.Mastodon(
        api_base_url=server.base_url("mastodon"),
        access_token=world.accounts.mastodon_token,
        request_timeout=5,
    )
    assert client.verify_minimum_version("4.3.0", cached=True)
    assert client.account_verify_credentials().acct == world.accounts.mastodon_username
    server.clear_requests()
    found = client.search_v2("acme", result_type="statuses")
    assert len(found.statuses) == 20 and len(server.requests) <= 2  # no loop on the version check
    page = client.timeline_hashtag("acme", limit=40)
    older = client.fetch_next(page)
    assert len(page) == 40 and older and older[0].id < page[-1].id
    statuses = client.statuses([s.id for s in page[:20]])
    assert [s.uri for s in statuses] == [s.uri for s in page[:20]]
    assert client.status(page[0].id).uri == page[0].uri
    dressed = [s for s in page + older if s.media_attachments or s.card or s.edited_at or s.poll]
    assert dressed, "some statuses carry media, cards, polls or edits"
    assert all(isinstance(s.created_at, datetime) for s in page)


def test_the_atproto_sdk_logs_in_and_validates_every_answer(server: SandboxServer, world: World) -> None:
    client = atproto.Client(base_url=server.base_url("bluesky-pds") + "/xrpc")
    try:
        check_atproto(client, server, world)
    finally:
        client.request.close()


def check_atproto(client: Any, server: SandboxServer, world: World) -> None:
    from atproto_client import models
    from atproto_client.models.utils import get_model_as_dict, get_or_create

    profile = client.login(world.accounts.bluesky_handle, world.accounts.bluesky_password)
    assert profile.handle == world.accounts.bluesky_handle
    session = client._session
    assert session is not None and session.pds_endpoint == server.base_url("bluesky-pds")
    assert session.access_jwt_payload.exp > datetime.now(UTC).timestamp()
    found = client.app.bsky.feed.search_posts({"q": "acme", "limit": 100})
    posts = found.posts
    assert len(posts) == 100
    # Strict models (the SDK's default) and strict string formats: DIDs, handles, at-uris, CIDs, times.
    get_or_create(get_model_as_dict(found), models.AppBskyFeedSearchPosts.Response, strict_string_format=True)
    kinds = {p.embed.py_type for p in posts if p.embed is not None}
    assert kinds == {
        "app.bsky.embed.images#view",
        "app.bsky.embed.external#view",
        "app.bsky.embed.record#view",
    }
    assert all(p.record.embed is not None for p in posts if p.embed is not None)  # the record's own embed
    assert sum(1 for p in posts if p.record.reply is not None) > 20, "replies among search results"
    assert any(p.record.facets for p in posts) and any(p.labels for p in posts)
    thread = client.get_post_thread(posts[0].uri)
    assert thread.thread.post.uri == posts[0].uri
    again = client.get_posts([p.uri for p in posts[:25]])
    assert [p.uri for p in again.posts] == [p.uri for p in posts[:25]]
    feed = client.get_author_feed(world.accounts.bluesky_handle, limit=50)
    assert feed.feed and feed.cursor


def test_praw_reads_search_info_and_a_submission(server: SandboxServer, world: World) -> None:
    reddit = praw.Reddit(
        client_id=world.accounts.reddit_client_id,
        client_secret=world.accounts.reddit_client_secret,
        user_agent="sandbox-test/1.0 (by /u/acme)",
        oauth_url=server.url,  # PRAW joins its paths onto the host: the sandbox serves Reddit's at its root
        reddit_url=server.url,
        check_for_updates=False,
    )
    posts = list(reddit.subreddit("all").search("acme", sort="new", limit=100))
    assert len(posts) == 100 and posts[0].created_utc >= posts[-1].created_utc
    info = list(reddit.info(fullnames=[p.fullname for p in posts]))
    assert [p.fullname for p in info] == [p.fullname for p in posts]
    submission = reddit.submission(id=posts[0].id)
    assert submission.title == posts[0].title and submission.comments.list() == []
    assert any(p.edited for p in posts) and any(
        getattr(p, "is_gallery", False) or getattr(p, "post_hint", "") == "image" for p in posts
    )


def test_feedparser_reads_every_feed_and_its_validators(server: SandboxServer) -> None:
    for name in ("acme.atom", "acme.xml", "blog.xml", "globex.xml"):
        url = server.feed_url(name)
        feed = feedparser.parse(httpx.get(url).content)
        assert not feed.bozo, (name, feed.get("bozo_exception"))
        assert feed.entries and all(
            e.get("id") and e.get("title") and e.get("published_parsed") for e in feed.entries
        )
        first = httpx.get(url)
        again = httpx.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
