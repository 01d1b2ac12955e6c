"""Each platform's endpoints, shapes and paging, read with plain httpx as any client would."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import feedparser  # type: ignore[import-untyped]
import httpx
import pytest

from tests.sandbox.conftest import ZONE
from tracker.sandbox import SandboxServer, World
from tracker.sandbox.bluesky import post_uri
from tracker.sandbox.hackernews import object_id
from tracker.sandbox.mastodon import status_id
from tracker.sandbox.reddit import fullname
from tracker.sandbox.server import USER_AGENT

MASTODON_STATUS_KEYS = {
    "id", "created_at", "in_reply_to_id", "in_reply_to_account_id", "sensitive", "spoiler_text", "visibility",
    "language", "uri", "url", "replies_count", "reblogs_count", "favourites_count", "quotes_count", "edited_at",
    "content", "reblog", "account", "media_attachments", "mentions", "tags", "emojis", "card", "poll", "quote",
}  # fmt: skip
FIXTURES = "tests/fixtures"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=5) as client:
        yield client


def fixture(path: str) -> Any:
    with open(f"{FIXTURES}/{path}", encoding="utf-8") as handle:
        return json.load(handle)


# -- Mastodon ------------------------------------------------------------------------------------


def test_mastodon_tag_timeline_has_the_real_status_shape(server: SandboxServer, http: httpx.Client) -> None:
    response = http.get(f"{server.base_url('mastodon')}/api/v1/timelines/tag/acme", params={"limit": 5})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    statuses = response.json()
    assert len(statuses) == 5
    real = fixture("mastodon/timeline_tag_limit10_page1.json")[0]
    assert MASTODON_STATUS_KEYS <= set(statuses[0]) <= set(real) | {"application"}
    assert set(statuses[0]["account"]) <= set(real["account"])
    first = statuses[0]
    assert isinstance(first["id"], str) and first["id"].isdigit() and first["reblog"] is None
    assert first["content"].startswith("<p>") and first["content"].endswith("</span></a></p>")
    assert 'class="mention hashtag" rel="tag">#<span>acme</span></a>' in first["content"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["created_at"])
    assert [int(s["id"]) for s in statuses] == sorted((int(s["id"]) for s in statuses), reverse=True)
    assert (
        response.headers["x-ratelimit-limit"] == "300" and response.headers["x-ratelimit-remaining"] == "299"
    )
    assert response.headers["x-ratelimit-reset"].endswith("Z")


def test_mastodon_link_header_pages_through_everything_and_ends_without_link(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    url: str | None = f"{server.base_url('mastodon')}/api/v1/timelines/tag/acme?limit=40"
    seen: list[str] = []
    while url:
        response = http.get(url)
        seen += [s["id"] for s in response.json()]
        url = response.links.get("next", {}).get("url")
        if response.json():
            assert response.links["prev"]["url"].endswith(f"min_id={response.json()[0]['id']}")
    last = http.get(f"{server.base_url('mastodon')}/api/v1/timelines/tag/acme", params={"max_id": seen[-1]})
    assert last.json() == [] and "link" not in last.headers  # past the oldest: empty, no Link header
    expected = [status_id(p) for p in reversed(world.posts_of("acme-mastodon"))]
    assert seen == sorted(expected, key=int, reverse=True)


def test_mastodon_since_id_and_min_id(server: SandboxServer, world: World, http: httpx.Client) -> None:
    ids = [int(status_id(p)) for p in world.posts_of("acme-mastodon")]  # oldest first
    anchor = str(ids[-12])
    url = f"{server.base_url('mastodon')}/api/v1/timelines/tag/acme"
    since = http.get(url, params={"since_id": anchor, "limit": 5}).json()
    assert [int(s["id"]) for s in since] == ids[-1:-6:-1]  # the newest five, newest first
    after = http.get(url, params={"min_id": anchor, "limit": 5}).json()
    assert [int(s["id"]) for s in after] == ids[-7:-12:-1]  # the five right after the anchor, newest first
    assert len(http.get(url, params={"limit": 99}).json()) == 40


def test_mastodon_account_lookup_statuses_and_404(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    base = server.base_url("mastodon")
    for acct in ("acme", "@acme@mastodon.example", world.accounts.mastodon_acct):
        account = http.get(f"{base}/api/v1/accounts/lookup", params={"acct": acct}).json()
        assert account["id"] == world.accounts.mastodon_id and account["acct"] == "acme"
    assert set(account) <= set(fixture("mastodon/account_lookup.json"))
    assert account["followers_count"] == world.followers("mastodon", server.now)
    missing = http.get(f"{base}/api/v1/accounts/lookup", params={"acct": "nobody@nowhere.example"})
    assert missing.status_code == 404 and missing.json() == {"error": "Record not found"}
    statuses_url = f"{base}/api/v1/accounts/{account['id']}/statuses"
    everything = http.get(statuses_url, params={"limit": 40}).json()
    assert any(s["reblog"] is not None for s in everything)  # boosts are in the account's timeline
    boost = next(s for s in everything if s["reblog"] is not None)
    assert boost["content"] == "" and boost["url"] is None and boost["uri"].endswith("/activity")
    own = http.get(statuses_url, params={"limit": 40, "exclude_reblogs": "true"}).json()
    assert own and all(s["reblog"] is None and s["account"]["acct"] == "acme" for s in own)
    reply = next(s for s in http.get(statuses_url, params={"limit": 40, "max_id": own[-1]["id"]}).json() + own
                 if s["in_reply_to_id"])  # fmt: skip
    assert reply["mentions"] and '<a href="https://' in reply["content"]
    assert http.get(f"{base}/api/v1/accounts/123/statuses").status_code == 404


def test_mastodon_search_needs_the_token(server: SandboxServer, world: World, http: httpx.Client) -> None:
    url = f"{server.base_url('mastodon')}/api/v2/search"
    params = {"q": "globex", "type": "statuses", "limit": "40"}
    assert http.get(url, params=params).status_code == 401
    headers = {"Authorization": f"Bearer {world.accounts.mastodon_token}"}
    found = http.get(url, params=params, headers=headers).json()
    assert set(found) == {"accounts", "statuses", "hashtags"} and len(found["statuses"]) == 40
    more = http.get(url, params=params | {"offset": "40"}, headers=headers).json()["statuses"]
    assert not {s["id"] for s in more} & {s["id"] for s in found["statuses"]}


# -- Bluesky -------------------------------------------------------------------------------------


def login(server: SandboxServer, http: httpx.Client) -> dict[str, Any]:
    accounts = server.world.accounts
    body = {"identifier": accounts.bluesky_handle, "password": accounts.bluesky_password}
    response = http.post(f"{server.auth_url('bluesky')}/xrpc/com.atproto.server.createSession", json=body)
    assert response.status_code == 200
    session: dict[str, Any] = response.json()
    return session


def test_bluesky_anonymous_search_is_refused_like_the_public_appview(
    server: SandboxServer, http: httpx.Client
) -> None:
    url = f"{server.base_url('bluesky')}/xrpc/app.bsky.feed.searchPosts"
    refused = http.get(url, params={"q": "acme"})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    with SandboxServer(server.world, require_bluesky_login=False) as open_one:
        allowed = http.get(
            f"{open_one.base_url('bluesky')}/xrpc/app.bsky.feed.searchPosts", params={"q": "acme"}
        )
    assert allowed.status_code == 200 and len(allowed.json()["posts"]) == 25


def test_bluesky_login_search_paging_and_shape(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    session = login(server, http)
    assert {"accessJwt", "refreshJwt", "did", "handle", "active"} <= set(session)
    assert session["did"] == world.accounts.bluesky_did and session["accessJwt"].count(".") == 2
    headers = {"Authorization": f"Bearer {session['accessJwt']}"}
    url = f"{server.auth_url('bluesky')}/xrpc/app.bsky.feed.searchPosts"
    assert http.get(url, params={"q": "acme"}).json() == {
        "error": "AuthMissing",
        "message": "Authentication Required",
    }
    uris: list[str] = []
    cursor = None
    while True:
        params = {"q": "acme", "sort": "latest", "limit": "100"} | ({"cursor": cursor} if cursor else {})
        body = http.get(url, params=params, headers=headers).json()
        uris += [p["uri"] for p in body["posts"]]
        cursor = body.get("cursor")
        if not cursor:
            break
    assert uris == [post_uri(p) for p in reversed(world.posts_of("acme-bluesky"))]
    real = fixture("bluesky/searchPosts_q_redistricting.json")["posts"][0]
    post = http.get(url, params={"q": "acme", "limit": "1"}, headers=headers).json()["posts"][0]
    assert set(post) == set(real) and set(post["author"]) == set(real["author"])
    assert post["record"]["$type"] == "app.bsky.feed.post" and post["uri"].startswith("at://did:plc:")
    assert http.get(url, params={"q": "acme", "limit": "101"}, headers=headers).status_code == 400


def test_bluesky_since_and_until_filter_on_sort_time(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    headers = {"Authorization": f"Bearer {login(server, http)['accessJwt']}"}
    url = f"{server.auth_url('bluesky')}/xrpc/app.bsky.feed.searchPosts"
    posts = world.posts_of("acme-bluesky")
    since, until = posts[-30].created_at, posts[-10].created_at
    params = {"q": "acme", "limit": "100", "since": since.isoformat(), "until": until.isoformat()}
    found = http.get(url, params=params, headers=headers).json()["posts"]
    assert [p["uri"] for p in found] == [post_uri(p) for p in reversed(posts[-30:-10])]


def test_bluesky_tokens_expire_and_refresh(server: SandboxServer, http: httpx.Client) -> None:
    session = login(server, http)
    url = f"{server.auth_url('bluesky')}/xrpc/app.bsky.feed.searchPosts"
    server.expire_sessions("bluesky")
    expired = http.get(url, params={"q": "acme"}, headers={"Authorization": f"Bearer {session['accessJwt']}"})
    assert expired.status_code == 400 and expired.json()["error"] == "ExpiredToken"
    refresh_url = f"{server.auth_url('bluesky')}/xrpc/com.atproto.server.refreshSession"
    renewed = http.post(refresh_url, headers={"Authorization": f"Bearer {session['refreshJwt']}"}).json()
    assert renewed["accessJwt"] != session["accessJwt"]
    again = http.get(url, params={"q": "acme"}, headers={"Authorization": f"Bearer {renewed['accessJwt']}"})
    assert again.status_code == 200
    reused = http.post(refresh_url, headers={"Authorization": f"Bearer {session['refreshJwt']}"})
    assert reused.status_code == 400 and reused.json()["error"] == "InvalidToken"  # refresh tokens rotate
    wrong = http.post(f"{server.auth_url('bluesky')}/xrpc/com.atproto.server.createSession",
                      json={"identifier": "acme.example", "password": "nope"})  # fmt: skip
    assert wrong.status_code == 401 and wrong.json()["error"] == "AuthenticationRequired"


def test_bluesky_author_feed_profile_and_rate_headers(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    base = server.base_url("bluesky")
    handle = world.accounts.bluesky_handle
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"actor": handle, "limit": "50"} | ({"cursor": cursor} if cursor else {})
        response = http.get(f"{base}/xrpc/app.bsky.feed.getAuthorFeed", params=params)
        items += response.json()["feed"]
        cursor = response.json().get("cursor")
        if not cursor:
            break
    reposts = [i for i in items if i.get("reason", {}).get("$type") == "app.bsky.feed.defs#reasonRepost"]
    own = [i["post"]["uri"] for i in items if "reason" not in i]
    assert reposts and all(i["post"]["author"]["handle"] != handle for i in reposts)
    assert own == [post_uri(p) for p in reversed(world.posts_of("acme-owned-bluesky"))]
    assert any("reply" in i for i in items)
    real = fixture("bluesky/getAuthorFeed_chriskenny.json")["feed"][0]
    assert set(items[0]["post"]) == set(real["post"])
    profile = http.get(f"{base}/xrpc/app.bsky.actor.getProfile", params={"actor": handle})
    assert profile.json()["followersCount"] == world.followers("bluesky", server.now)
    assert profile.json()["did"] == world.accounts.bluesky_did
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy"} <= set(
        profile.headers
    )
    unknown = http.get(f"{base}/xrpc/app.bsky.actor.getProfile", params={"actor": "nobody.example"})
    assert unknown.status_code == 400 and unknown.json()["message"] == "Profile not found"


# -- Hacker News ---------------------------------------------------------------------------------


def test_hackernews_hits_pages_and_shapes(server: SandboxServer, world: World, http: httpx.Client) -> None:
    url = f"{server.base_url('hackernews')}/api/v1/search_by_date"
    first = http.get(url, params={"query": "acme", "tags": "(story,comment)", "hitsPerPage": 100}).json()
    expected = [object_id(p) for p in reversed(world.posts_of("acme-hn"))]
    assert first["nbHits"] == len(expected) and first["nbPages"] == -(-len(expected) // 100)
    ids = [h["objectID"] for page in range(first["nbPages"])
           for h in http.get(url, params={"query": "acme", "hitsPerPage": 100, "page": page}).json()["hits"]]  # fmt: skip
    assert ids == expected
    assert {"exhaustive", "processingTimingsMS", "serverTimeMS", "params", "query"} <= set(first)
    story = next(h for h in first["hits"] if "story" in h["_tags"] and "url" in h)
    comment = next(h for h in first["hits"] if "comment" in h["_tags"])
    assert {"title", "url", "points", "num_comments", "children", "updated_at", "story_id"} <= set(story)
    assert "points" not in comment and {"comment_text", "story_id", "story_title", "parent_id"} <= set(
        comment
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", story["created_at"])
    assert "<em>" in json.dumps(story["_highlightResult"])
    stories = http.get(url, params={"query": "acme", "tags": "story", "hitsPerPage": 1000}).json()["hits"]
    assert stories and all("story" in h["_tags"] for h in stories)


def test_hackernews_numeric_filters_and_the_hit_cap(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    url = f"{server.base_url('hackernews')}/api/v1/search_by_date"
    posts = world.posts_of("acme-hn")
    low, high = int(posts[10].created_at.timestamp()), int(posts[20].created_at.timestamp())
    filters = f"created_at_i>{low},created_at_i<={high}"
    hits = http.get(url, params={"query": "acme", "numericFilters": filters, "hitsPerPage": 100}).json()[
        "hits"
    ]
    assert [h["objectID"] for h in hits] == [object_id(p) for p in reversed(posts[11:21])]
    assert http.get(url, params={"numericFilters": "created_at_i>>1"}).status_code == 400
    with SandboxServer(world, hn_max_hits=50) as capped:
        body = http.get(f"{capped.base_url('hackernews')}/api/v1/search_by_date",
                        params={"query": "acme", "hitsPerPage": 20, "page": 2}).json()  # fmt: skip
    assert body["nbHits"] == len(posts) and body["nbPages"] == 3 and len(body["hits"]) == 10


# -- Reddit --------------------------------------------------------------------------------------


def test_reddit_listing_shape_and_after_paging(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    url = f"{server.base_url('reddit')}/search.json"
    names: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"q": "acme", "sort": "new", "limit": 100, "raw_json": 1, "type": "link"}
        listing = http.get(url, params=params | ({"after": after} if after else {})).json()
        assert listing["kind"] == "Listing" and listing["data"]["dist"] == len(listing["data"]["children"])
        names += [c["data"]["name"] for c in listing["data"]["children"]]
        after = listing["data"]["after"]
        if not after:
            break
    assert names == [fullname(p) for p in reversed(world.posts_of("acme-reddit"))]
    real = fixture("reddit/r_popular_hot_limit100_2026.json")["data"]["children"][1]["data"]
    child = http.get(url, params={"q": "acme", "sort": "new", "limit": 1}).json()["data"]["children"][0]
    assert child["kind"] == "t3" and set(child["data"]) <= set(real) and len(child["data"]) > 90
    assert {"x-ratelimit-used", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(
        http.get(url, params={"q": "acme"}).headers
    )


def test_reddit_before_restrict_sr_and_raw_json(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    base = server.base_url("reddit")
    posts = list(reversed(world.posts_of("acme-reddit")))
    newer = http.get(f"{base}/search.json", params={"q": "acme", "sort": "new", "limit": 3,
                                                    "before": fullname(posts[10])}).json()["data"]  # fmt: skip
    assert [c["data"]["name"] for c in newer["children"]] == [fullname(p) for p in posts[7:10]]
    sub = posts[0].extra["subreddit"]
    inside = http.get(
        f"{base}/r/{sub}/search.json", params={"q": "acme", "restrict_sr": 1, "limit": 100}
    ).json()
    assert {c["data"]["subreddit"] for c in inside["data"]["children"]} == {sub}
    amp = next(p for p in posts if "&" in p.title)
    around: dict[str, Any] = {
        "q": "acme",
        "sort": "new",
        "limit": 1,
        "after": fullname(posts[posts.index(amp) - 1]),
    }
    escaped = http.get(f"{base}/search.json", params=around).json()["data"]["children"][0]["data"]
    raw = http.get(f"{base}/search.json", params=around | {"raw_json": 1}).json()["data"]["children"][0][
        "data"
    ]
    assert raw["title"] == amp.title and escaped["title"] == amp.title.replace("&", "&amp;")
    assert http.get(f"{base}/r/nosuchsub/search.json", params={"q": "acme"}).status_code == 404
    page = http.get(f"{base}/search", params={"q": "acme"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def test_reddit_throttles_generic_user_agents_and_can_block_anonymous(world: World) -> None:
    with SandboxServer(world, block_anonymous_reddit=True) as blocked, httpx.Client() as client:
        url = f"{blocked.base_url('reddit')}/search.json"
        assert client.get(url, params={"q": "acme"}).status_code == 429  # python-httpx/x.y
        refused = client.get(url, params={"q": "acme"}, headers={"User-Agent": USER_AGENT})
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")


def test_reddit_oauth_token_and_bearer_requests(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    token_url = f"{server.auth_url('reddit')}/api/v1/access_token"
    accounts = world.accounts
    good = (accounts.reddit_client_id, accounts.reddit_client_secret)
    assert (
        http.post(token_url, auth=(good[0], "wrong"), data={"grant_type": "client_credentials"}).status_code
        == 401
    )
    # a script app's password grant needs its account's username and password (issue 15)
    assert http.post(token_url, auth=good, data={"grant_type": "password"}).json() == {"error": "invalid_grant"}
    assert http.post(token_url, auth=good, data={"grant_type": "authorization_code"}).json() == {
        "error": "unsupported_grant_type"
    }
    token = http.post(token_url, auth=good, data={"grant_type": "client_credentials"}).json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 86400 and token["scope"] == "*"
    url = f"{server.base_url('reddit-oauth')}/r/sysadmin/search"
    params: dict[str, Any] = {"q": "acme", "restrict_sr": 1, "sort": "new"}
    assert http.get(url, params=params).status_code == 401
    listing = http.get(url, params=params, headers={"Authorization": f"bearer {token['access_token']}"})
    assert listing.status_code == 200 and listing.json()["data"]["children"]
    used = int(listing.headers["x-ratelimit-used"])
    assert float(listing.headers["x-ratelimit-remaining"]) == 1000.0 - used and used == 2


def test_rate_limits_are_enforced(world: World, http: httpx.Client) -> None:
    with SandboxServer(world, rate_limits={"reddit": (2, 60.0)}) as limited:
        url = f"{limited.base_url('reddit')}/search.json"
        answers = [http.get(url, params={"q": "acme"}) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert (
            answers[1].headers["x-ratelimit-remaining"] == "0.0"
            and int(answers[1].headers["x-ratelimit-reset"]) == 60
        )
        assert (
            "x-ratelimit-used"
            not in http.get(f"{limited.base_url('mastodon')}/api/v1/timelines/tag/acme").headers
        )


# -- RSS / Atom ----------------------------------------------------------------------------------


def test_feeds_parse_hold_the_newest_entries_and_answer_304(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    atom = http.get(server.feed_url("acme.atom"))
    assert atom.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(atom.content)
    assert parsed.version == "atom10" and len(parsed.entries) == 50
    assert parsed.entries[0].link.startswith("https://www.google.com/url?")
    rss = feedparser.parse(http.get(server.feed_url("acme.xml")).content)
    assert rss.version == "rss20"
    assert [e.title for e in rss.entries] == [
        e.title.replace("<b>", "").replace("</b>", "") for e in parsed.entries
    ]
    etag, modified = atom.headers["etag"], atom.headers["last-modified"]
    assert http.get(server.feed_url("acme.atom"), headers={"If-None-Match": etag}).status_code == 304
    assert http.get(server.feed_url("acme.atom"), headers={"If-Modified-Since": modified}).status_code == 304
    server.set_now(server.now - timedelta(days=3))
    older = http.get(server.feed_url("acme.atom"), headers={"If-None-Match": etag})
    assert older.status_code == 200 and older.headers["etag"] != etag
    blog = feedparser.parse(http.get(server.feed_url("blog.xml")).content)
    assert blog.entries and blog.feed.language == "en-us"
    assert http.get(server.feed_url("nothing.xml")).status_code == 404


# -- control endpoint and request log ----------------------------------------------------------


def test_control_endpoint_sets_faults_time_and_lists_the_world(
    server: SandboxServer, http: httpx.Client
) -> None:
    info = http.get(f"{server.url}/_sandbox").json()
    assert info["seed"] == server.world.seed and info["base_urls"]["mastodon"] == server.base_url("mastodon")
    assert {e["truth"] for e in info["experiments"]} == {"effect", "none"}
    fault = {"path": "/hn/", "kind": "503", "count": 1}
    assert http.post(f"{server.url}/_sandbox/faults", json=fault).status_code == 201
    url = f"{server.base_url('hackernews')}/api/v1/search_by_date"
    assert [http.get(url).status_code for _ in range(2)] == [503, 200]
    assert http.post(f"{server.url}/_sandbox/faults", json={"path": "/x", "kind": "nope"}).status_code == 400
    moved = http.post(f"{server.url}/_sandbox/now", json={"advance": -3600}).json()
    assert moved["now"] == (server.world.end - timedelta(hours=1)).isoformat() == server.now.isoformat()
    log = http.get(f"{server.url}/_sandbox/requests").json()
    assert [r["status"] for r in log] == [503, 200] and log[0]["fault"] == "503"


def test_request_log_redacts_authorization(server: SandboxServer, http: httpx.Client) -> None:
    basic = base64.b64encode(b"id:secret").decode()
    http.get(f"{server.base_url('mastodon')}/api/v1/timelines/tag/acme", params={"limit": 1},
             headers={"Authorization": "Bearer s3cr3t-token", "X-Other": "kept"})  # fmt: skip
    http.post(f"{server.auth_url('reddit')}/api/v1/access_token", headers={"Authorization": f"Basic {basic}"})
    first, second = server.requests
    assert first.headers["authorization"] == "Bearer <redacted>" and first.headers["x-other"] == "kept"
    assert (
        first.arg("limit") == "1"
        and first.status == 200
        and first.path == "/mastodon/api/v1/timelines/tag/acme"
    )
    assert second.headers["authorization"] == "Basic <redacted>" and second.status == 401
    assert "s3cr3t" not in repr(server.requests) and "secret" not in repr(server.requests)


def test_now_is_the_worlds_end_and_hides_what_is_not_yet_visible(
    server: SandboxServer, world: World, http: httpx.Client
) -> None:
    assert server.now == world.end
    post = next(
        p
        for p in reversed(world.posts_of("acme-mastodon"))
        if p.visible_at > p.created_at + timedelta(minutes=1)
    )
    server.set_now(post.created_at + (post.visible_at - post.created_at) / 2)
    url = f"{server.base_url('mastodon')}/api/v1/timelines/tag/acme"
    ids = {
        s["id"] for s in http.get(url, params={"limit": 40, "max_id": str(int(status_id(post)) + 1)}).json()
    }
    assert status_id(post) not in ids
    server.set_now(post.visible_at)
    ids = {
        s["id"] for s in http.get(url, params={"limit": 40, "max_id": str(int(status_id(post)) + 1)}).json()
    }
    assert status_id(post) in ids
    assert server.now.tzinfo is not None and server.now.astimezone(ZONE)
