"""Each connector's batched refresh of known items, over MockTransport and real recorded payloads.

What the request asks for (batch endpoints and sizes), what comes back as a reading, and
what is reported deleted (404, left out of a batch answer, "[deleted]"/"[removed]"); and the
payload shapes a refresh meets: image-only posts, quote posts and edited posts.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors._http import HttpClient
from connectors.base import Known, Refreshed, StreamSpec
from connectors.bluesky.connector import BlueskyConnector
from connectors.hackernews.connector import HackerNewsConnector
from connectors.mastodon.connector import MastodonConnector
from connectors.reddit.connector import RedditConnector
from connectors.reddit.mapping import is_gone
from connectors.rss.connector import RssConnector

FIXTURES = Path(__file__).parent.parent / "fixtures"
T = datetime(2026, 8, 1, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


def load(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


def reply(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def run(connector_cls: Any, spec: StreamSpec, handler: Handler, known: list[Known]) -> list[Refreshed]:
    async def go() -> list[Refreshed]:
        async def no_wait(_: float) -> None:
            return None

        http = HttpClient.create(transport=httpx.MockTransport(handler), sleep=no_wait)
        try:
            connector = connector_cls(spec, http)
            return [batch async for batch in connector.refresh(known)]
        finally:
            await http.aclose()

    return asyncio.run(go())


# -- Mastodon ------------------------------------------------------------------------------------

STATUS = load("mastodon/status_mastodon_social_110446223051565765.json")
MASTODON = StreamSpec(
    name="m", connector="mastodon", base_url="https://m.example", selectors={"hashtag": "acme"}
)


def mastodon_status(n: int) -> dict[str, Any]:
    raw = copy.deepcopy(STATUS)
    raw["id"], raw["uri"] = f"1104462230515{n:05d}", f"https://m.example/users/a/statuses/{n}"
    raw["favourites_count"] = 10 + n
    return raw


def test_mastodon_reads_twenty_ids_per_request_and_calls_the_left_out_deleted() -> None:
    statuses = [mastodon_status(n) for n in range(25)]
    known = [Known(s["uri"], T, {"id": s["id"]}) for s in statuses]
    asked: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/statuses"
        ids = request.url.params.get_list("id[]")
        asked.append(ids)
        return reply([s for s in statuses if s["id"] in ids and s["id"] != statuses[3]["id"]])

    batches = run(MastodonConnector, MASTODON, handler, known)
    assert [len(a) for a in asked] == [20, 5]
    assert [b.deleted for b in batches] == [[statuses[3]["uri"]], []]
    likes = {i.external_id: i.likes for b in batches for i in b.items}
    assert len(likes) == 24 and likes[statuses[24]["uri"]] == 34


def test_mastodon_before_4_3_reads_one_by_one_and_a_404_is_deleted() -> None:
    statuses = [mastodon_status(n) for n in range(3)]
    known = [Known(s["uri"], T, {"id": s["id"]}) for s in statuses]
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/api/v1/statuses":
            return reply({"error": "Record not found"}, 404)  # no batch route on this server
        wanted = request.url.path.rsplit("/", 1)[1]
        found = [s for s in statuses if s["id"] == wanted and s is not statuses[1]]
        return reply(found[0]) if found else reply({"error": "Record not found"}, 404)

    [batch] = run(MastodonConnector, MASTODON, handler, known)
    assert paths[0] == "/api/v1/statuses" and len(paths) == 4
    assert batch.deleted == [statuses[1]["uri"]] and batch.requests == 3
    assert {i.external_id for i in batch.items} == {statuses[0]["uri"], statuses[2]["uri"]}


def test_mastodon_edited_image_only_and_quote_statuses_map() -> None:
    edited = mastodon_status(1) | {
        "edited_at": "2026-08-01T10:00:00.000Z",
        "content": "<p>fixed typo: acme</p>",
        "spoiler_text": "",
    }
    image_only = mastodon_status(2) | {"content": "", "spoiler_text": ""}
    image_only["media_attachments"] = [{"id": "1", "type": "image", "url": "https://m.example/a.png",
                                        "description": "a chart", "meta": {}, "blurhash": None}]  # fmt: skip
    quote = mastodon_status(3) | {"quote": {"state": "accepted", "quoted_status": mastodon_status(4)}}
    statuses = [edited, image_only, quote]
    known = [Known(s["uri"], T, {"id": s["id"]}) for s in statuses]
    [batch] = run(MastodonConnector, MASTODON, lambda r: reply(statuses), known)
    texts = {i.external_id: i.text for i in batch.items}
    assert texts[edited["uri"]] == "fixed typo: acme"  # the edit's text replaces the old one
    assert texts[image_only["uri"]] == ""
    assert quote["uri"] in texts and batch.deleted == [] and batch.rejected == []


# -- Bluesky -------------------------------------------------------------------------------------

POSTS = load("bluesky/getPosts_single.json")["posts"]
THREAD_POST = load("bluesky/getPostThread_with_embed_media.json")["thread"]["post"]
BLUESKY = StreamSpec(
    name="b", connector="bluesky", base_url="https://appview.example", selectors={"query": "acme"}
)


def bluesky_post(n: int, template: dict[str, Any] | None = None) -> dict[str, Any]:
    post = copy.deepcopy(template or POSTS[0])
    post["uri"] = f"at://did:plc:ic6zqvuw5ulmfpjiwnhsr2ns/app.bsky.feed.post/3k7qmjev5l{n:03d}"
    post["likeCount"] = n
    return post


def test_bluesky_reads_25_uris_per_get_posts_and_calls_the_left_out_deleted() -> None:
    posts = [bluesky_post(n) for n in range(30)]
    posts[7] = bluesky_post(7, THREAD_POST)  # an image-only quote post (recordWithMedia), text ""
    known = [Known(p["uri"], T) for p in posts]
    asked: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/xrpc/app.bsky.feed.getPosts"
        uris = request.url.params.get_list("uris")
        asked.append(uris)
        return reply({"posts": [p for p in posts if p["uri"] in uris and p is not posts[26]]})

    batches = run(BlueskyConnector, BLUESKY, handler, known)
    assert [len(a) for a in asked] == [25, 5]
    assert batches[0].deleted == [] and batches[1].deleted == [posts[26]["uri"]]
    items = {i.external_id: i for b in batches for i in b.items}
    assert len(items) == 29 and items[posts[7]["uri"]].text == "" and items[posts[12]["uri"]].likes == 12


# -- Reddit --------------------------------------------------------------------------------------

INFO = load("reddit/api_info_single_t3.json")
REDDIT = StreamSpec(
    name="r",
    connector="reddit",
    base_url="https://oauth.example",
    selectors={"query": "acme", "user_agent": "test/1.0 (by /u/acme)", "auth_url": "https://www.example"},
    secrets={"client_id": "id", "client_secret": "secret"},
)


def reddit_child(n: int, **changes: Any) -> dict[str, Any]:
    child = copy.deepcopy(INFO["data"]["children"][0])
    child["data"] |= {"name": f"t3_abc{n:03d}", "id": f"abc{n:03d}", "score": n} | changes
    return child


def test_reddit_reads_100_fullnames_per_api_info_and_finds_deleted_and_removed() -> None:
    children = [reddit_child(n) for n in range(120)]
    children[5] = reddit_child(5, author="[deleted]", selftext="[deleted]", removed_by_category="deleted")
    children[6] = reddit_child(6, selftext="[removed]", removed_by_category="moderator")
    children[7] = reddit_child(7, edited=1754006400.0, selftext="edited: acme works now")
    children[8] = reddit_child(8, author="[deleted]")  # only the account is gone: the post stays
    known = [Known(c["data"]["name"], T) for c in children]
    asked: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/access_token":
            return reply({"access_token": "t", "token_type": "bearer", "expires_in": 86400})
        assert request.url.path == "/api/info" and request.url.params["raw_json"] == "1"
        names = request.url.params["id"].split(",")
        asked.append(names)
        return reply({"kind": "Listing", "data": {"children": [c for c in children if c["data"]["name"] in names
                                                               and c is not children[110]]}})  # fmt: skip

    batches = run(RedditConnector, REDDIT, handler, known)
    assert [len(a) for a in asked] == [100, 20]
    assert batches[0].deleted == ["t3_abc005", "t3_abc006"] and batches[1].deleted == ["t3_abc110"]
    items = {i.external_id: i for b in batches for i in b.items}
    assert "edited: acme works now" in items["t3_abc007"].text and "t3_abc008" in items
    assert batches[0].requests == 2  # the token, then the batch


def test_reddit_gone_reads_the_body_and_the_removal_category() -> None:
    assert is_gone(reddit_child(1, removed_by_category="reddit"))
    assert is_gone({"kind": "t1", "data": {"body": "[removed]"}})
    assert not is_gone(reddit_child(1, author="[deleted]"))
    assert not is_gone(reddit_child(1))


# -- Hacker News and RSS -------------------------------------------------------------------------

HIT = load("hackernews/search_by_date_tags_story.json")["hits"][0]


def story(n: int) -> dict[str, Any]:
    hit = copy.deepcopy(HIT)
    hit["objectID"], hit["story_id"], hit["points"] = str(7919424 + n), 7919424 + n, 10 + n
    hit["_tags"] = ["story", f"author_{hit['author']}", f"story_{hit['objectID']}"]
    return hit


HN = StreamSpec(name="h", connector="hackernews", base_url="https://hn.example", selectors={"query": "acme"})


def test_hackernews_reads_stories_by_their_story_tags_and_skips_comments() -> None:
    stories = [story(n) for n in range(3)]
    known = [Known(h["objectID"], T, h) for h in stories]
    known.append(Known("999", T, {"_tags": ["comment", "story_1"]}))  # no figures to read again
    asked: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return reply({"hits": stories[:2], "nbHits": 2, "nbPages": 1, "hitsPerPage": 3, "page": 0})

    [batch] = run(HackerNewsConnector, HN, handler, known)
    [request] = asked
    assert request.url.path == "/api/v1/search"
    ids = [h["objectID"] for h in stories]
    assert request.url.params["tags"] == "story,(" + ",".join(f"story_{i}" for i in ids) + ")"
    assert batch.deleted == [ids[2]] and {i.external_id for i in batch.items} == set(ids[:2])


def test_rss_has_no_refresh() -> None:
    assert not hasattr(RssConnector, "refresh")


@pytest.mark.parametrize("cls", [MastodonConnector, BlueskyConnector, RedditConnector, HackerNewsConnector])
def test_nothing_known_sends_nothing(cls: Any) -> None:
    spec = {MastodonConnector: MASTODON, BlueskyConnector: BLUESKY, RedditConnector: REDDIT,
            HackerNewsConnector: HN}[cls]  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    assert run(cls, spec, handler, []) == []
