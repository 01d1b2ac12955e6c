"""Reddit: mapping of recorded listings, and paging/OAuth/rate limits against a mock server."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors._http import HttpClient
from connectors.base import (
    AuthRequired,
    ConnectorError,
    MappingError,
    NotFound,
    Page,
    PayloadError,
    StreamSpec,
)
from connectors.reddit.connector import RedditConnector
from connectors.reddit.mapping import map_child

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reddit"
RECORDED = (
    "api_info_single_t3",
    "r_all_new_before_fullname",
    "r_popular_hot_limit100_2026",
    "search_r_all_q_praw_oauth_search",
)
MARGIN = 30 * 60
AGENT = "linux:acme-listening:0.1 (by /u/acme)"
ANONYMOUS_403 = (
    "reddit refused anonymous access (403): Reddit no longer serves anonymous JSON, and new OAuth apps "
    "need its approval (request API access: https://www.reddit.com/wiki/api); with an approved app set "
    "client_id_env and client_secret_env (a script app: also username and password_env)"
)
Handler = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def recorded(name: str) -> httpx.Response:
    """The recorded body with its recorded status, content type and rate-limit headers."""
    meta = json.loads((FIXTURES / f"{name}.headers.json").read_text(encoding="utf-8"))
    keep = {k: v for k, v in meta["response_headers"].items()
            if k.lower() == "content-type" or k.lower().startswith("x-ratelimit-")}  # fmt: skip
    return httpx.Response(meta["status"], content=(FIXTURES / f"{name}.json").read_bytes(), headers=keep)


def post(name: str, created: float, **fields: Any) -> dict[str, Any]:
    """A t3 child shaped like the recorded ones, with its own fullname and time."""
    child = copy.deepcopy(fixture("api_info_single_t3")["data"]["children"][0])
    data = child["data"]
    data.update(name=name, id=name.removeprefix("t3_"), created_utc=created, created=created,
                permalink=f"/r/acme/comments/{name.removeprefix('t3_')}/post/")  # fmt: skip
    data.update(fields)
    return dict(child)


def listing(children: list[Any], after: str | None = None) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": after, "dist": len(children), "modhash": None,
                                       "geo_filter": "", "children": children, "before": None}}  # fmt: skip


def spec(**kwargs: Any) -> StreamSpec:
    selectors = {"query": "acme", "user_agent": AGENT, **kwargs.pop("selectors", {})}
    return StreamSpec(name="acme-reddit", connector="reddit", selectors=selectors, **kwargs)


OAUTH = {"client_id": "the-id", "client_secret": "s3cr3t-value"}


class Clock:
    """Injected time: sleeping only records the wait and moves the clock on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def runs(
    handler: Handler,
    stream: StreamSpec,
    cursors: list[dict[str, Any] | None],
    *,
    clock: Clock | None = None,
    between: Callable[[], None] | None = None,
) -> list[list[Page]]:
    """Several runs of one connector (token state carries over); the client is closed after."""
    clock = clock or Clock()

    async def go() -> list[list[Page]]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            http = HttpClient(client=client, sleep=clock.sleep, clock=clock, jitter=lambda: 0.0)
            connector = RedditConnector(stream, http)
            result = []
            for cursor in cursors:
                result.append([page async for page in connector.pages(cursor)])
                if between:
                    between()
            return result

    return asyncio.run(go())


def collect(handler: Handler, stream: StreamSpec, cursor: dict[str, Any] | None = None) -> list[Page]:
    return runs(handler, stream, [cursor])[0]


def serve(*answers: Any, seen: list[httpx.Request]) -> Handler:
    """Answer listing requests in order (asserting the User-Agent on each), recording them."""
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["User-Agent"] == AGENT
        body = queue.pop(0)
        return body if isinstance(body, httpx.Response) else httpx.Response(200, json=body)

    return handler


def ids(pages: list[Page]) -> list[list[str]]:
    return [[item.external_id for item in page.items] for page in pages]


# -- mapping: every recorded fixture -------------------------------------------------------


@pytest.mark.parametrize("name", RECORDED)
def test_every_recorded_post_maps(name: str) -> None:
    children = fixture(name)["data"]["children"]
    assert children
    for child in children:
        data = child["data"]
        item = map_child(child)
        assert item.platform == "reddit"
        assert item.external_id == data["name"] and item.external_id.startswith("t3_")
        assert item.url == "https://www.reddit.com" + data["permalink"]
        assert item.author == data["author"]
        assert item.text.startswith(data["title"].strip())
        assert item.likes == data["score"]
        assert item.replies == data["num_comments"]
        assert (item.reposts, item.quotes, item.lang, item.kind) == (None, None, None, "mention")
        assert item.created_at == datetime.fromtimestamp(data["created_utc"], UTC)
        assert item.created_at.tzinfo is UTC
        assert item.raw is child


def test_post_without_selftext_is_its_title() -> None:
    item = map_child(fixture("api_info_single_t3")["data"]["children"][0])
    assert item.external_id == "t3_uflrmv"
    assert item.url == "https://www.reddit.com/r/<TEST_SUBREDDIT>/comments/uflrmv/test_post/"
    assert item.author == "Lil_SpazTest"
    assert item.text == "Test post"
    assert item.created_at == datetime(2022, 4, 30, 22, 33, 31, tzinfo=UTC)
    assert (item.likes, item.replies) == (1, 1)


def test_link_posts_keep_zero_comments() -> None:
    children = fixture("r_all_new_before_fullname")["data"]["children"]
    items = [map_child(child) for child in children]
    assert [i.external_id for i in items][:2] == ["t3_kzj68x", "t3_kzj68v"]
    assert {i.created_at for i in items} == {datetime(2021, 1, 18, 0, 44, 30, tzinfo=UTC)}
    first = items[0]
    assert first.author == "UggolyBird"
    assert first.text.startswith("We\u2019re all grateful for Sid/Ovi") and "\n" not in first.text
    assert (first.likes, first.replies) == (1, 0)  # 0 comments stays 0


def test_self_post_joins_title_and_selftext() -> None:
    child = fixture("search_r_all_q_praw_oauth_search")["data"]["children"][0]
    item = map_child(child)
    assert item.external_id == "t3_6ganxe"
    assert item.url == (
        "https://www.reddit.com/r/learnpython/comments/6ganxe/how_to_check_if_a_username_is_available_on_reddit/"
    )
    title, body = item.text.split("\n\n", 1)
    assert title == "How to check if a username is available on Reddit?"
    assert body == child["data"]["selftext"].strip()
    assert body.startswith("I need to check the availability of a username on Reddit.")
    assert (item.author, item.likes, item.replies) == ("cheesycow5", 3, 24)


def test_2026_link_post_with_text_keeps_both() -> None:
    child = fixture("r_popular_hot_limit100_2026")["data"]["children"][0]
    item = map_child(child)
    assert item.external_id == "t3_1skjxta"
    assert child["data"]["is_self"] is False  # a link post may still carry text
    assert item.text.endswith("\n\nhttps://x.com/arielhelwani/status/2043757261882044451")
    assert (item.likes, item.replies) == (546, 495)
    assert item.created_at == datetime.fromtimestamp(1776105848, UTC)


def test_comment_maps_with_negative_score_and_no_reply_count() -> None:
    child = {"kind": "t1", "data": {"name": "t1_abc", "id": "abc", "author": "someone",
             "body": "Acme broke my build &amp; my heart", "score": -3, "created_utc": 1700000000.0,
             "permalink": "/r/acme/comments/xyz/post/abc/", "link_id": "t3_xyz", "replies": ""}}  # fmt: skip
    item = map_child(child)
    assert item.external_id == "t1_abc"
    assert item.url == "https://www.reddit.com/r/acme/comments/xyz/post/abc/"
    assert item.text == "Acme broke my build & my heart"  # escaped when fetched without raw_json
    assert (item.likes, item.replies) == (-3, None)
    assert item.created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_crosspost_is_a_post_of_its_own() -> None:
    parent = post("t3_parent", 1700000000.0)["data"]
    child = post("t3_xpost", 1700000100.0, title="Seen in r/acme", selftext="",
                 crosspost_parent="t3_parent", crosspost_parent_list=[parent])  # fmt: skip
    item = map_child(child)
    assert (item.external_id, item.text, item.kind) == ("t3_xpost", "Seen in r/acme", "mention")


def test_selftext_entities_are_decoded() -> None:
    item = map_child(post("t3_e", 1.0, title="Q &amp; A", selftext="a &lt;b&gt; c"))
    assert item.text == "Q & A\n\na <b> c"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"created_utc": None}, "created_utc: missing"),
        ({"created_utc": "1700000000"}, "created_utc: expected Unix seconds"),
        ({"name": None, "id": None}, "name: missing"),
        ({"name": "t1_abc"}, "is not a t3 fullname"),
        ({"permalink": None}, "permalink: missing"),
        ({"title": ""}, "title: empty"),
        ({"score": 1.5}, "score: expected a whole number"),
    ],
)
def test_broken_posts_name_the_field(change: dict[str, Any], reason: str) -> None:
    child = post("t3_a", 1700000000.0)
    child["data"].update(change)
    with pytest.raises(MappingError, match=reason):
        map_child(child)


def test_fullname_from_id_when_name_is_absent() -> None:
    child = post("t3_a", 1700000000.0)
    del child["data"]["name"]
    assert map_child(child).external_id == "t3_a"


def test_other_kinds_are_not_mentions() -> None:
    with pytest.raises(MappingError, match="kind: expected t3 or t1, got 't5'"):
        map_child({"kind": "t5", "data": {"display_name": "acme"}})


# -- connector: paging and cursors --------------------------------------------------------------


def test_first_run_pages_recorded_listings_anonymously() -> None:
    seen: list[httpx.Request] = []
    clock = Clock()
    handler = serve(recorded("r_popular_hot_limit100_2026"), recorded("search_r_all_q_praw_oauth_search"),
                    seen=seen)  # fmt: skip
    pages = runs(handler, spec(), [None], clock=clock)[0]
    assert [str(r.url.copy_with(query=None)) for r in seen] == ["https://www.reddit.com/search.json"] * 2
    assert dict(seen[0].url.params) == {"q": "acme", "sort": "new", "limit": "100", "raw_json": "1",
                                        "type": "link"}  # fmt: skip
    assert seen[1].url.params["after"] == "t3_1skbyfv"
    assert all("Authorization" not in r.headers for r in seen)
    assert [len(p) for p in ids(pages)] == [100, 31]
    assert [(p.final, p.cursor, p.requests) for p in pages] == [
        (False, None, 1), (True, {"newest": 1776110847.0}, 1)
    ]  # fmt: skip
    assert pages[-1].complete and not pages[-1].capped
    assert clock.sleeps == []  # recorded budgets (997 and 151 left) need no waiting


def test_subreddit_search_is_restricted() -> None:
    seen: list[httpx.Request] = []
    stream = spec(selectors={"subreddit": "/r/acme/"}, base_url="http://127.0.0.1:9000/")
    collect(serve(recorded("r_all_new_before_fullname"), seen=seen), stream)
    assert seen[0].url.path == "/r/acme/search.json"
    assert seen[0].url.host == "127.0.0.1"
    assert seen[0].url.params["restrict_sr"] == "1"


def test_first_run_stops_at_backfill() -> None:
    seen: list[httpx.Request] = []
    pages = collect(serve(recorded("r_popular_hot_limit100_2026"), seen=seen), spec(backfill=50))
    assert len(seen) == 1
    assert len(pages) == 1 and pages[0].final and pages[0].capped and not pages[0].complete
    assert len(pages[0].items) == 100  # the whole page is kept
    assert pages[0].cursor == {"newest": 1776110847.0}


def test_second_run_with_nothing_new_is_one_request() -> None:
    known = 1_700_000_000.0
    seen: list[httpx.Request] = []
    page1 = listing([post("t3_c", known), post("t3_b", known - 100), post("t3_a", known - MARGIN - 1)],
                    after="t3_a")  # fmt: skip
    pages = collect(serve(page1, seen=seen), spec(), {"newest": known})
    assert len(seen) == 1 and "after" not in seen[0].url.params
    assert len(pages) == 1
    page = pages[0]
    assert page.final and page.complete and not page.capped
    assert ids(pages) == [["t3_c", "t3_b"]]  # re-read inside the overlap; t3_a is before it
    assert page.cursor == {"newest": known}


def test_second_run_pages_back_to_the_known_point_with_overlap() -> None:
    known = 1_700_000_000.0
    seen: list[httpx.Request] = []
    handler = serve(
        listing([post("t3_new2", known + 500), post("t3_new1", known + 400)], after="t3_new1"),
        listing([post("t3_known", known), post("t3_late", known - 1000), post("t3_old", known - 2000)],
                after="t3_old"),
        seen=seen,
    )  # fmt: skip
    pages = collect(handler, spec(backfill=3), {"newest": known})
    assert [r.url.params.get("after") for r in seen] == [None, "t3_new1"]
    # t3_late was indexed late: older than the known point, inside the 30-minute overlap.
    assert ids(pages) == [["t3_new2", "t3_new1"], ["t3_known", "t3_late"]]
    last = pages[-1]
    assert last.final and last.complete and not last.capped
    assert last.cursor == {"newest": known + 500}


def test_owned_stream_rereads_refresh_days() -> None:
    known = 1_700_000_000.0
    seen: list[httpx.Request] = []
    stream = spec(role="owned", refresh_days=2)
    handler = serve(
        listing([post("t3_1", known - 3600), post("t3_2", known - 86400)], after="t3_2"),
        listing([post("t3_3", known - 3 * 86400)], after="t3_3"),
        seen=seen,
    )

    async def go() -> list[Page]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            connector = RedditConnector(
                stream, HttpClient(client=client, now=lambda: datetime.fromtimestamp(known + 60, UTC))
            )
            assert await connector.account_stats() is None
            return [page async for page in connector.pages({"newest": known})]

    pages = asyncio.run(go())
    assert ids(pages) == [["t3_1", "t3_2"], []]
    assert pages[-1].complete and len(seen) == 2


def test_broken_children_are_rejected_and_the_others_kept() -> None:
    broken = post("t3_bad", 1.0)
    del broken["data"]["created_utc"]
    children = [post("t3_ok1", 2_000.0), broken, {"kind": "more", "data": {}}, post("t3_ok2", 1_000.0)]
    pages = collect(serve(listing(children), seen=[]), spec())
    assert ids(pages) == [["t3_ok1", "t3_ok2"]]
    assert pages[0].rejected == [
        "item 2: created_utc: missing",
        "item 3: kind: expected t3 or t1, got 'more'",
    ]
    assert pages[0].cursor == {"newest": 2_000.0}


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(
            200, text="<!doctype html><title>Blocked</title>", headers={"content-type": "text/html"}
        ),
        httpx.Response(200, json=[]),
        httpx.Response(200, json={"kind": "Listing", "data": {"children": None}}),
        httpx.Response(200, json={"kind": "t3", "data": {}}),
    ],
)
def test_unusable_answer_is_a_payload_error(response: httpx.Response) -> None:
    with pytest.raises(PayloadError):
        collect(serve(response, seen=[]), spec())


# -- connector: access, errors, rate limits -------------------------------------------------


def test_anonymous_403_points_to_oauth() -> None:
    seen: list[httpx.Request] = []
    blocked = httpx.Response(403, text="<html>blocked</html>", headers={"content-type": "text/html"})
    with pytest.raises(AuthRequired) as caught:
        collect(serve(blocked, seen=seen), spec())
    assert ANONYMOUS_403 in str(caught.value)
    assert len(seen) == 1  # not retried


def test_missing_subreddit_is_not_found() -> None:
    stream = spec(selectors={"subreddit": "nosuchplace"})
    with pytest.raises(NotFound, match="r/nosuchplace not found"):
        collect(serve(httpx.Response(404, json={"message": "Not Found", "error": 404}), seen=[]), stream)


def test_user_agent_is_required() -> None:
    stream = StreamSpec(name="x", connector="reddit", selectors={"query": "acme"})
    with pytest.raises(ConnectorError, match="needs a user_agent"):
        collect(serve(seen=[]), stream)


def test_spent_rate_limit_waits_for_reset() -> None:
    clock = Clock()
    spent = httpx.Response(200, json=listing([post("t3_b", 2_000.0)], after="t3_b"),
                           headers={"X-Ratelimit-Used": "600", "X-Ratelimit-Remaining": "0",
                                    "X-Ratelimit-Reset": "30"})  # fmt: skip
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(clock.now)
        return spent if len(times) == 1 else httpx.Response(200, json=listing([post("t3_a", 1_000.0)]))

    pages = runs(handler, spec(), [None], clock=clock)[0]
    assert clock.sleeps == [30.0]
    assert times == [1000.0, 1030.0]  # the second page was asked for only after the reset
    assert ids(pages) == [["t3_b"], ["t3_a"]]


def test_429_is_retried_after_retry_after() -> None:
    clock = Clock()
    seen: list[httpx.Request] = []
    handler = serve(
        httpx.Response(429, headers={"Retry-After": "7"}), listing([post("t3_a", 1.0)]), seen=seen
    )
    pages = runs(handler, spec(), [None], clock=clock)[0]
    assert clock.sleeps == [7.0] and len(seen) == 2
    assert ids(pages) == [["t3_a"]]


class OAuthServer:
    """Token endpoint plus search API; tokens are tok1, tok2, ...; `revoked` ones get 401."""

    def __init__(self, *listings: dict[str, Any], expires_in: int = 3600) -> None:
        self.listings = list(listings)
        self.expires_in = expires_in
        self.issued = 0
        self.revoked: set[str] = set()
        self.log: list[tuple[str, str]] = []  # (kind, detail)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["User-Agent"] == AGENT
        if request.url.path == "/api/v1/access_token":
            return self.token(request)
        auth = request.headers.get("Authorization", "")
        self.log.append(("get", auth))
        assert request.url.path == "/search"  # the OAuth API needs no .json suffix
        if auth.removeprefix("bearer ") in self.revoked:
            return httpx.Response(401, json={"message": "Unauthorized", "error": 401})
        return httpx.Response(200, json=self.listings.pop(0) if len(self.listings) > 1 else self.listings[0])

    def token(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        expected = base64.b64encode(b"the-id:s3cr3t-value").decode()
        assert request.headers["Authorization"] == f"Basic {expected}"
        assert parse_qs(request.content.decode()) == {"grant_type": ["client_credentials"]}
        self.issued += 1
        self.log.append(("token", str(request.url)))
        body = {"access_token": f"tok{self.issued}", "token_type": "bearer",
                "expires_in": self.expires_in, "scope": "*"}  # fmt: skip
        return httpx.Response(200, json=body)


def test_oauth_gets_a_token_then_sends_bearer_requests_to_oauth_host() -> None:
    server = OAuthServer(listing([post("t3_b", 2.0)], after="t3_b"), listing([post("t3_a", 1.0)]))
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.copy_with(query=None)))
        return server(request)

    pages = collect(handler, spec(secrets=OAUTH))
    assert seen == ["https://www.reddit.com/api/v1/access_token", "https://oauth.reddit.com/search",
                    "https://oauth.reddit.com/search"]  # fmt: skip
    assert [kind_auth for kind_auth in server.log if kind_auth[0] == "get"] == [("get", "bearer tok1")] * 2
    assert [p.requests for p in pages] == [2, 1]  # the token request counts on the first page
    assert ids(pages) == [["t3_b"], ["t3_a"]]


def test_oauth_uses_auth_url_and_base_url_from_the_stream() -> None:
    server = OAuthServer(listing([]))
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.copy_with(query=None)))
        return server(request)

    stream = spec(secrets=OAUTH, base_url="http://127.0.0.1:9000",
                  selectors={"auth_url": "http://127.0.0.1:9001/"})  # fmt: skip
    pages = collect(handler, stream)
    assert seen == ["http://127.0.0.1:9001/api/v1/access_token", "http://127.0.0.1:9000/search"]
    assert pages[-1].final and pages[-1].complete and pages[-1].items == []
    assert pages[-1].cursor == {"newest": None}


def test_oauth_token_is_reused_until_it_expires() -> None:
    server = OAuthServer(listing([]), expires_in=3600)
    clock = Clock()
    steps = iter([0.0, 3600.0, 0.0, 0.0])

    def advance() -> None:
        clock.now += next(steps)

    runs(server, spec(secrets=OAUTH), [None, None, None, None], clock=clock, between=advance)
    kinds = [kind for kind, _ in server.log]
    # run 1: token + get; run 2: get (same token); run 3: expired -> token + get; run 4: get
    assert kinds == ["token", "get", "get", "token", "get", "get"]
    assert [auth for kind, auth in server.log if kind == "get"] == [
        "bearer tok1", "bearer tok1", "bearer tok2", "bearer tok2"
    ]  # fmt: skip


def test_oauth_401_renews_the_token_once() -> None:
    server = OAuthServer(listing([post("t3_a", 1.0)]))
    server.revoked.add("tok1")
    pages = collect(server, spec(secrets=OAUTH))
    assert [kind for kind, _ in server.log] == ["token", "get", "token", "get"]
    assert server.log[-1] == ("get", "bearer tok2")
    assert pages[0].requests == 4 and ids(pages) == [["t3_a"]]


def test_oauth_401_twice_is_an_auth_error() -> None:
    server = OAuthServer(listing([]))
    server.revoked.update({"tok1", "tok2"})
    with pytest.raises(AuthRequired, match="rejected the OAuth token"):
        collect(server, spec(secrets=OAUTH))
    assert [kind for kind, _ in server.log] == ["token", "get", "token", "get"]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(401, json={"message": "Unauthorized", "error": 401}), "check client_id_env"),
        (httpx.Response(200, json={"error": "invalid_grant"}), r"refused an OAuth token \(invalid_grant\)"),
    ],
)
def test_rejected_client_credentials(response: httpx.Response, message: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response

    with pytest.raises(AuthRequired, match=message) as caught:
        collect(handler, spec(secrets=OAUTH))
    assert "s3cr3t-value" not in str(caught.value) and "the-id" not in str(caught.value)
    assert [r.url.path for r in seen] == ["/api/v1/access_token"]


def test_oauth_403_names_the_subreddit() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/access_token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 86400})
        return httpx.Response(403, json={"reason": "private", "message": "Forbidden", "error": 403})

    with pytest.raises(AuthRequired, match=r"r/secret.*private, quarantined or banned"):
        collect(handler, spec(secrets=OAUTH, selectors={"subreddit": "secret"}))


# -- the listing cap (issue 15) ----------------------------------------------------------------


def test_a_listing_that_ends_before_the_known_point_is_a_gap() -> None:
    known = 1_760_000_000.0
    newer = [post(f"t3_n{i}", known + 10_000 - i) for i in range(6)]  # all after the known point
    handler = serve(listing(newer[:3], after="t3_n2"), listing(newer[3:], after=None), seen=[])
    pages = collect(handler, spec(), {"newest": known})
    final = pages[-1]
    assert final.final and not final.complete and not final.capped
    assert final.gap is not None and "about 1,000" in final.gap and "coverage gap" in final.gap


def test_a_listing_that_reaches_the_known_point_is_no_gap() -> None:
    known = 1_760_000_000.0
    children = [post("t3_new", known + 100), post("t3_old", known - 10)]  # the known point is reached
    pages = collect(serve(listing(children, after=None), seen=[]), spec(), {"newest": known})
    assert pages[-1].complete and pages[-1].gap is None
    first = collect(serve(listing(children, after=None), seen=[]), spec())  # a first run: nothing known
    assert first[-1].complete and first[-1].gap is None


def test_deleted_author_and_removed_body() -> None:
    child = post("t3_gone", 1_760_000_000.0, author="[deleted]", selftext="[removed]", title="Acme outage")
    (page,) = collect(serve(listing([child]), seen=[]), spec())
    (item,) = page.items
    assert item.author is None and item.text == "Acme outage"
