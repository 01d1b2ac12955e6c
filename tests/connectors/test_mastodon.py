"""Mastodon connector: mapping on recorded responses, paging and cursors over MockTransport."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors._http import HttpClient
from connectors.base import AccountStats, AuthRequired, MappingError, NotFound, Page, PayloadError, StreamSpec
from connectors.mastodon import urls
from connectors.mastodon.connector import OVERLAP, RECENT, MastodonConnector, _known
from connectors.mastodon.mapping import is_boost, map_account_stats, map_status

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mastodon"
BASE = "http://localhost:3000"
TAG = "fgiztsshwiaqqiztpmmjbtvmescsculuvmgjgopwoeidbcrixp"
TAG_PATH = f"/api/v1/timelines/tag/{TAG}"
ACCOUNT_ID = "117020565966271181"
STATUSES_PATH = f"/api/v1/accounts/{ACCOUNT_ID}/statuses"
# The fixture statuses were posted on 2026-08-01 around 13:52 UTC.
NOW = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def recorded(name: str) -> httpx.Response:
    """The recorded body with its status, content type and Link / rate-limit headers."""
    meta = load(name.replace(".json", ".headers.json"))
    keep = {"content-type", "link", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}
    headers = {k: v for k, v in meta["response_headers"].items() if k.lower() in keep}
    return httpx.Response(meta["status"], content=(FIXTURES / name).read_bytes(), headers=headers)


def answer(
    body: Any, *, status: int = 200, next_max_id: str | None = None, path: str = TAG_PATH
) -> httpx.Response:
    headers = {"content-type": "application/json; charset=utf-8"}
    if next_max_id is not None:
        headers["link"] = f'<{BASE}{path}?limit=40&max_id={next_max_id}>; rel="next"'
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


TAG_PAGE1 = load("timeline_tag_limit10_page1.json")
TAG_PAGE2 = load("timeline_tag_limit10_page2_max_id.json")
ACCOUNT_PAGE = load("account_statuses_limit5.json")


def status(n: int, at: datetime, *, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """A synthetic status built from a recorded one, with its own id, uri and time."""
    raw = copy.deepcopy(template or TAG_PAGE1[0])
    raw["id"] = f"1170205{n:011d}"
    raw["uri"] = f"{BASE}/ap/users/1/statuses/{raw['id']}"
    raw["url"] = f"{BASE}/@someone/{raw['id']}"
    raw["created_at"] = at.isoformat().replace("+00:00", "Z")
    raw["content"] = f"<p>post {n}</p>"
    return raw


class Script:
    """A MockTransport handler serving one scripted answer per request, in order.

    Each step is (path, params, response); the request must match path and query exactly.
    """

    def __init__(self, *steps: tuple[str, dict[str, str], httpx.Response], token: str | None = None):
        self.steps = list(steps)
        self.token = token
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert self.steps, f"unexpected request {request.url}"
        path, params, response = self.steps.pop(0)
        self.seen.append(request)
        assert request.method == "GET"
        assert request.url.path == path
        assert dict(request.url.params) == params
        if self.token is None:
            assert "authorization" not in request.headers
        else:
            assert request.headers["authorization"] == f"Bearer {self.token}"
        return response

    def done(self) -> None:
        assert not self.steps, f"{len(self.steps)} scripted answers were not asked for"


async def fake_sleep(seconds: float) -> None:
    return None


def spec(**kw: Any) -> StreamSpec:
    selectors = kw.pop("selectors", {"hashtag": f"#{TAG}"})
    return StreamSpec(name="s", connector="mastodon", base_url=BASE, selectors=selectors, **kw)


def collect(
    handler: Callable[[httpx.Request], httpx.Response],
    stream: StreamSpec,
    cursor: dict[str, Any] | None = None,
    *,
    now: datetime = NOW,
    stats: bool = False,
) -> tuple[list[Page], AccountStats | None]:
    async def go() -> tuple[list[Page], AccountStats | None]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            connector = MastodonConnector(
                stream, HttpClient(client=client, sleep=fake_sleep, now=lambda: now)
            )
            pages = [page async for page in connector.pages(cursor)]
            return pages, (await connector.account_stats() if stats else None)

    return asyncio.run(go())


def items(pages: list[Page]) -> list[Any]:
    return [item for page in pages for item in page.items]


# -- mapping on recorded responses ------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["timeline_tag_limit10_page1.json", "timeline_tag_limit10_page2_max_id.json"]
)
def test_map_tag_timeline_statuses(name: str) -> None:
    for raw in load(name):
        item = map_status(raw)
        number = raw["content"].split("Toot number ")[1].split("!")[0]
        assert item.platform == "mastodon"
        assert item.external_id == raw["uri"]
        assert item.external_id.startswith(f"{BASE}/ap/users/117020566092212359/statuses/")
        assert item.url == f"{BASE}/@mastodonpy_test_2/{raw['id']}"
        assert item.author == "mastodonpy_test_2"
        assert item.text == f"Toot number {number}! #{TAG}"
        assert item.lang == "ja"
        assert item.kind == "mention"
        # Reported zeros stay zeros (not None); quotes_count is sent by 4.5+ servers.
        assert (item.likes, item.reposts, item.replies, item.quotes) == (0, 0, 0, 0)
        assert item.created_at.tzinfo is UTC
        assert item.created_at.date().isoformat() == "2026-08-01"
        assert item.raw is raw and item.streams == ()
    first = map_status(TAG_PAGE1[0])
    assert first.created_at == datetime(2026, 8, 1, 13, 52, 47, 767000, tzinfo=UTC)


@pytest.mark.parametrize("name", ["account_statuses_limit5.json", "account_statuses_limit5_min_id.json"])
def test_map_account_statuses(name: str) -> None:
    page = load(name)
    mapped = [map_status(raw, kind="own") for raw in page]
    assert [i.text for i in mapped] == [f"Toot number {n}!" for n in (9, 8, 7, 6, 5)]
    assert {i.author for i in mapped} == {"mastodonpy_test"}
    assert {i.kind for i in mapped} == {"own"}
    assert {i.lang for i in mapped} == {"en"}
    assert mapped[0].external_id == f"{BASE}/ap/users/{ACCOUNT_ID}/statuses/117020580518794573"
    assert mapped[0].url == f"{BASE}/@mastodonpy_test/117020580518794573"
    assert mapped[0].created_at == datetime(2026, 8, 1, 13, 52, 34, 108000, tzinfo=UTC)
    assert not any(is_boost(raw) for raw in page)


def test_map_real_mastodon_social_status_with_content_warning() -> None:
    raw = load("status_mastodon_social_110446223051565765.json")
    item = map_status(raw)
    assert item.external_id == "https://icosahedron.website/users/halcy/statuses/110446222386355655"
    assert item.url == "https://icosahedron.website/@halcy/110446222386355655"
    assert item.author == "halcy@icosahedron.website"
    # spoiler_text (the content warning) comes first; HTML stripped, the apostrophe kept.
    assert item.text == (
        "test post for mastodon.py stuff\n\n"
        "@halcy you're a doo-doo head\n\n"
        "edit: editing this to have the maximum amount of fields filled :trans_heart: #ThisIsAHashtag"
    )
    assert item.lang == "de"
    assert item.created_at == datetime(2023, 5, 28, 12, 6, 50, tzinfo=UTC)
    assert (item.likes, item.reposts, item.replies, item.quotes) == (1, 0, 0, 0)
    assert item.engagement == 1


def test_map_real_search_statuses() -> None:
    first, second = (map_status(raw) for raw in load("search_v2_mastodon_social_q_halcy.json")["statuses"])
    assert first.external_id == "https://icosahedron.website/users/greg/statuses/116388148912635764"
    assert first.author == "greg@icosahedron.website"
    assert first.text.startswith("@cancel @halcy not only is this the classic hip-hop / funk sample")
    # The link's "invisible" spans are plain text too: the full URL survives.
    assert first.text.endswith("Come On My Selector https://www.youtube.com/watch?v=MWCSw_cNxKc")
    assert (first.likes, first.reposts, first.replies, first.quotes) == (0, 0, 1, 0)
    assert first.created_at == datetime(2026, 4, 11, 21, 16, 53, tzinfo=UTC)
    assert second.author == "Jo@social.sublingual.xyz"
    assert second.url == "https://social.sublingual.xyz/@Jo/116388107097123650"
    assert second.text == "@halcy me when im riding my horse in stop and go traffic"
    assert (second.likes, second.reposts, second.replies, second.quotes) == (4, 1, 0, 0)
    assert second.lang == "en"


def test_map_null_url_language_and_missing_quotes_count() -> None:
    raw = copy.deepcopy(TAG_PAGE1[0])
    raw["url"] = None
    raw["language"] = None
    del raw["quotes_count"]  # servers before 4.5
    item = map_status(raw)
    assert item.url == raw["uri"]
    assert item.lang is None
    assert item.quotes is None and item.likes == 0
    assert item.engagement == 0


def test_map_spoiler_only_and_empty_content() -> None:
    raw = copy.deepcopy(TAG_PAGE1[0])
    raw["spoiler_text"], raw["content"] = "CW: spoilers &amp; more", ""
    assert map_status(raw).text == "CW: spoilers &amp; more"  # spoiler_text is plain text, not HTML
    raw["spoiler_text"] = ""
    assert map_status(raw).text == ""


def test_boost_is_recognised() -> None:
    boost = copy.deepcopy(ACCOUNT_PAGE[0])
    boost["reblog"] = copy.deepcopy(TAG_PAGE1[0])
    assert is_boost(boost)
    assert not is_boost(TAG_PAGE1[0])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"uri": None}, "uri: missing"),
        ({"uri": 7}, "uri: expected text"),
        ({"id": None}, "id: missing"),
        ({"created_at": None}, "created_at"),
        ({"created_at": "yesterday"}, "created_at: not an ISO 8601"),
        ({"favourites_count": "3"}, "favourites_count: expected a whole number"),
        ({"quotes_count": True}, "quotes_count: expected a whole number"),
        ({"account": None}, "account: missing"),
        ({"account": {"username": "x"}}, "account.acct: missing"),
        ({"content": None}, "content: missing"),
    ],
)
def test_map_rejects_missing_or_mistyped_fields(change: dict[str, Any], reason: str) -> None:
    raw = {**copy.deepcopy(TAG_PAGE1[0]), **change}
    with pytest.raises(MappingError, match=reason):
        map_status(raw)


def test_map_rejects_non_object() -> None:
    with pytest.raises(MappingError, match="status: expected an object"):
        map_status(["not", "a", "status"])


def test_map_account_stats_from_lookup() -> None:
    stats = map_account_stats(load("account_lookup.json"))
    assert stats == AccountStats(account="mastodonpy_test", followers=0, following=0, posts=0)


# -- url builders ------------------------------------------------------------------------------


def test_urls() -> None:
    assert urls.base_url(None) == "https://mastodon.social"
    assert urls.base_url("https://example.social/") == "https://example.social"
    assert urls.tag_timeline("https://m.s", "#Café tag") == "https://m.s/api/v1/timelines/tag/Caf%C3%A9%20tag"
    assert urls.acct_name("@brand@example.social") == "brand@example.social"
    link = load("timeline_tag_limit10_page1.headers.json")["response_headers"]["link"]
    assert urls.max_id_of(httpx.Response(200, headers={"link": link}).links["next"]["url"]) == (
        "117020581339834938"
    )
    assert urls.max_id_of(None) is None
    assert urls.search_params("brand", 40, offset=80, min_id="5") == {
        "q": "brand",
        "type": "statuses",
        "limit": "40",
        "offset": "80",
        "min_id": "5",
    }


# -- connector: hashtag timeline ------------------------------------------------------------


def test_hashtag_first_run_pages_through_link_next_until_the_empty_page() -> None:
    script = Script(
        (TAG_PATH, {"limit": "40"}, recorded("timeline_tag_limit10_page1.json")),
        (
            TAG_PATH,
            {"limit": "40", "max_id": "117020581339834938"},
            recorded("timeline_tag_limit10_page2_max_id.json"),
        ),
        # The end of the timeline: [] and no Link header.
        (
            TAG_PATH,
            {"limit": "40", "max_id": "117020581259486622"},
            recorded("timeline_tag_limit10_last_page_empty.json"),
        ),
    )
    pages, _ = collect(script, spec())
    script.done()
    assert [len(p.items) for p in pages] == [10, 10, 0]
    assert [p.final for p in pages] == [False, False, True]
    assert [p.cursor is None for p in pages] == [True, True, False]
    assert pages[-1].complete and not pages[-1].capped
    assert [p.requests for p in pages] == [1, 1, 1]
    texts = [i.text.split("!")[0] for i in items(pages)]
    assert texts == [f"Toot number {n}" for n in range(29, 9, -1)]  # newest first
    cursor = pages[-1].cursor
    assert cursor is not None
    assert len(cursor["recent"]) == RECENT
    assert cursor["recent"][0] == {"id": "117020581413876942", "at": "2026-08-01T13:52:47.767000Z"}
    json.dumps(cursor)  # stored as JSON


def test_hashtag_first_run_capped_by_backfill() -> None:
    script = Script(
        (TAG_PATH, {"limit": "15"}, recorded("timeline_tag_limit10_page1.json")),
        (
            TAG_PATH,
            {"limit": "15", "max_id": "117020581339834938"},
            recorded("timeline_tag_limit10_page2_max_id.json"),
        ),
    )
    pages, _ = collect(script, spec(backfill=15))
    script.done()
    assert [len(p.items) for p in pages] == [10, 5]
    last = pages[-1]
    assert last.final and last.capped and not last.complete
    assert items(pages)[-1].text.startswith("Toot number 15!")


def test_hashtag_cap_on_the_last_page_is_still_capped() -> None:
    # The platform has no more pages, but the cap left 5 statuses of this page unread.
    script = Script((TAG_PATH, {"limit": "5"}, answer(TAG_PAGE1)))
    pages, _ = collect(script, spec(backfill=5))
    assert len(pages) == 1 and len(pages[0].items) == 5
    assert pages[0].capped and not pages[0].complete


def first_run_cursor() -> dict[str, Any]:
    script = Script(
        (TAG_PATH, {"limit": "40"}, answer(TAG_PAGE1, next_max_id=TAG_PAGE1[-1]["id"])),
        (TAG_PATH, {"limit": "40", "max_id": TAG_PAGE1[-1]["id"]}, answer(TAG_PAGE2)),
    )
    pages, _ = collect(script, spec())
    cursor = pages[-1].cursor
    assert cursor is not None
    return cursor


def test_hashtag_idle_run_reads_back_the_overlap_in_one_request() -> None:
    t0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
    known = [status(n, t0 - timedelta(minutes=10 * n)) for n in range(20)]  # 12:00 back to 8:50
    cursor = {"recent": [{"id": s["id"], "at": s["created_at"]} for s in known]}
    # No since_id: the first page reaches back past 10:00 (the newest less the 2 h overlap).
    script = Script((TAG_PATH, {"limit": "40"}, answer(known, next_max_id=known[-1]["id"])))
    pages, _ = collect(script, spec(), cursor)
    script.done()
    assert len(pages) == 1 and pages[0].final and pages[0].complete and not pages[0].capped
    assert len(pages[0].items) == 20  # re-read overlap: upserted again, not counted as new
    assert pages[0].cursor is not None and pages[0].cursor["newest"] == "2026-08-01T12:00:00Z"


def test_hashtag_second_run_pages_back_to_the_anchor_time() -> None:
    t0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
    known = [status(n, t0 - timedelta(minutes=40 * n)) for n in range(5)]  # 12:00, 11:20 ... 9:20
    cursor = {"recent": [{"id": s["id"], "at": s["created_at"]} for s in known]}
    new = [status(100 + n, t0 + timedelta(minutes=45 - n)) for n in range(45)]
    page1, page2 = new[:40], new[40:] + known
    script = Script(
        (TAG_PATH, {"limit": "40"}, answer(page1, next_max_id=page1[-1]["id"])),
        (TAG_PATH, {"limit": "40", "max_id": page1[-1]["id"]}, answer(page2, next_max_id=page2[-1]["id"])),
    )
    pages, _ = collect(script, spec(), cursor)
    script.done()
    assert [len(p.items) for p in pages] == [40, 10]
    assert pages[-1].final and pages[-1].complete and not pages[-1].capped
    recent = pages[-1].cursor["recent"]  # type: ignore[index]
    assert recent[0]["id"] == new[0]["id"] and len(recent) == RECENT


def test_a_short_page_is_not_the_end_of_a_timeline() -> None:
    # Mastodon removes filtered statuses after applying the limit and links rel="next" on
    # any non-empty page: a page of 3 may have 40 more behind it.
    t0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
    first, rest = [status(n, t0 - timedelta(minutes=n)) for n in range(3)], []
    rest = [status(10 + n, t0 - timedelta(minutes=10 + n)) for n in range(5)]
    script = Script(
        (TAG_PATH, {"limit": "40"}, answer(first, next_max_id=first[-1]["id"])),
        (TAG_PATH, {"limit": "40", "max_id": first[-1]["id"]}, answer(rest, next_max_id=rest[-1]["id"])),
        (TAG_PATH, {"limit": "40", "max_id": rest[-1]["id"]}, answer([])),
    )
    pages, _ = collect(script, spec())
    script.done()
    assert [len(p.items) for p in pages] == [3, 5, 0] and pages[-1].complete


def test_overlap_is_a_time_from_the_newest_known_and_configurable() -> None:
    t0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
    entries = [("a", t0), ("b", t0 - timedelta(minutes=10)), ("c", t0 - OVERLAP - timedelta(minutes=1)),
               ("d", t0 - timedelta(hours=5))]  # fmt: skip
    cursor = {"recent": [{"id": i, "at": at.isoformat()} for i, at in reversed(entries)]}
    assert _known(cursor) == entries  # newest first whatever the stored order
    assert timedelta(hours=2) == OVERLAP
    assert _known({"recent": [{"id": 5}, "junk", {"id": "x", "at": "soon"}]}) == []
    late = status(7, t0 - timedelta(minutes=100))  # federated 100 minutes late: sorts into the past
    old = status(8, t0 - timedelta(hours=2, minutes=30))
    script = Script((TAG_PATH, {"limit": "40"}, answer([late, old], next_max_id=old["id"])))
    pages, _ = collect(script, spec(), cursor)
    script.done()
    assert pages[-1].complete and [i.external_id for i in pages[-1].items] == [late["uri"], old["uri"]]
    # With overlap = 1 h the same page still ends the run (old is past 11:00), and a cursor
    # that only says `newest` (no ids remembered) is enough.
    short = Script((TAG_PATH, {"limit": "40"}, answer([late, old], next_max_id=old["id"])))
    pages, _ = collect(short, spec(overlap=timedelta(hours=1)), {"newest": "2026-08-01T12:00:00Z"})
    assert pages[-1].complete and pages[-1].cursor["newest"] == "2026-08-01T12:00:00Z"  # type: ignore[index]


def test_hashtag_second_run_after_an_outage_is_capped() -> None:
    known = status(1, datetime(2026, 7, 1, tzinfo=UTC))
    cursor = {"recent": [{"id": known["id"], "at": known["created_at"]}]}
    t0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
    new = [status(100 + n, t0 - timedelta(minutes=n)) for n in range(40)]
    script = Script((TAG_PATH, {"limit": "40"}, answer(new, next_max_id=new[-1]["id"])))
    pages, _ = collect(script, spec(backfill=30), cursor)
    script.done()
    assert len(pages[0].items) == 30 and pages[0].capped and not pages[0].complete


def test_broken_items_are_rejected_and_the_rest_kept() -> None:
    page = copy.deepcopy(TAG_PAGE1)
    del page[3]["created_at"]
    page[5]["favourites_count"] = "many"
    page[7] = "garbage"
    broken_newest = page[0]
    broken_newest["uri"] = None
    script = Script((TAG_PATH, {"limit": "40"}, answer(page)))
    pages, _ = collect(script, spec())
    (only,) = pages
    assert len(only.items) == 6
    assert only.rejected == [
        "item 0 (id 117020581413876942): uri: missing",
        "item 3 (id 117020581388105621): created_at: expected an ISO 8601 timestamp, got NoneType",
        "item 5 (id 117020581372219401): favourites_count: expected a whole number, got str",
        "item 7: status: expected an object, got str",
    ]
    # The cursor only holds stored statuses: the broken newest one will be read again.
    assert only.cursor is not None
    assert only.cursor["recent"][0]["id"] == page[1]["id"]
    assert broken_newest["id"] not in {e["id"] for e in only.cursor["recent"]}


INSTANCE_PATH = "/api/v2/instance"


def instance(hashtags: str) -> httpx.Response:
    feeds = {"local": hashtags, "remote": hashtags}
    return answer({"domain": "m.example", "configuration": {"timelines_access": {"hashtag_feeds": feeds}}})


def test_empty_or_disabled_hashtag_timeline_yields_one_final_page() -> None:
    script = Script(
        (TAG_PATH, {"limit": "40"}, recorded("timeline_tag_limit10_last_page_empty.json")),
        (INSTANCE_PATH, {}, answer({"error": "Record not found"}, status=404)),  # an older server
    )
    pages, _ = collect(script, spec())
    assert len(pages) == 1
    assert pages[0].final and pages[0].complete and pages[0].items == []
    assert pages[0].cursor == {"recent": []} and pages[0].warning is None


@pytest.mark.parametrize(("access", "warned"), [("public", None), ("authenticated", "set token_env"),
                                                ("disabled", "disabled hashtag timelines")])  # fmt: skip
def test_an_empty_tag_timeline_of_a_restricting_server_is_a_warning(access: str, warned: str | None) -> None:
    script = Script((TAG_PATH, {"limit": "40"}, answer([])), (INSTANCE_PATH, {}, instance(access)))
    pages, _ = collect(script, spec())
    script.done()
    warning = pages[-1].warning
    assert (warning is None) if warned is None else (warning is not None and warned in warning)


def test_hashtag_needing_login_says_set_token_env() -> None:
    body = {"error": "This method requires an authenticated user"}
    script = Script((TAG_PATH, {"limit": "40"}, answer(body, status=401)))
    with pytest.raises(AuthRequired, match="needs a token: set token_env"):
        collect(script, spec())


def test_token_goes_as_bearer_and_a_refused_token_never_shows() -> None:
    script = Script((TAG_PATH, {"limit": "40"}, answer({"error": "The access token is invalid"}, status=401)),
                    token="s3cret-token")  # fmt: skip
    with pytest.raises(AuthRequired, match="refused the token") as caught:
        collect(script, spec(secrets={"token": "s3cret-token"}))
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in repr(spec(secrets={"token": "s3cret-token"}))


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (answer({"error": "nope"}), "expected a list of statuses"),
        (
            httpx.Response(200, content=b"<html>maintenance</html>", headers={"content-type": "text/html"}),
            "HTML",
        ),
        (httpx.Response(200, content=b"[{", headers={"content-type": "application/json"}), "invalid JSON"),
    ],
)
def test_unusable_answers_raise_payload_error(response: httpx.Response, message: str) -> None:
    script = Script((TAG_PATH, {"limit": "40"}, response))
    with pytest.raises(PayloadError, match=message):
        collect(script, spec())


def test_server_errors_are_retried_by_the_http_client() -> None:
    script = Script(
        (TAG_PATH, {"limit": "40"}, httpx.Response(503)),
        (TAG_PATH, {"limit": "40"}, answer(TAG_PAGE2)),
    )
    pages, _ = collect(script, spec())
    script.done()
    assert len(pages[0].items) == 10


# -- connector: owned account ---------------------------------------------------------------

LOOKUP = ("/api/v1/accounts/lookup", {"acct": "mastodonpy_test"})
ACCOUNT_PARAMS = {"limit": "40", "exclude_reblogs": "true"}


def owned(**kw: Any) -> StreamSpec:
    return spec(selectors={"account": "@mastodonpy_test"}, role="owned", **kw)


def test_owned_account_first_run_and_follower_counts() -> None:
    boost = copy.deepcopy(ACCOUNT_PAGE[1])
    boost["id"], boost["reblog"] = "117020580511453999", copy.deepcopy(TAG_PAGE1[0])
    page = [ACCOUNT_PAGE[0], boost, *ACCOUNT_PAGE[1:]]
    script = Script(
        (*LOOKUP, recorded("account_lookup.json")),
        (STATUSES_PATH, ACCOUNT_PARAMS, answer(page, next_max_id="117020580489281910", path=STATUSES_PATH)),
        (STATUSES_PATH, {**ACCOUNT_PARAMS, "max_id": "117020580489281910"}, answer([])),
        token="tok",
    )
    pages, stats = collect(script, owned(secrets={"token": "tok"}), stats=True)
    script.done()  # one lookup serves both the paging and account_stats
    assert [p.requests for p in pages] == [2, 1]
    assert [i.text for i in items(pages)] == [f"Toot number {n}!" for n in (9, 8, 7, 6, 5)]  # boost skipped
    assert {i.kind for i in items(pages)} == {"own"}
    assert pages[0].rejected == []
    assert pages[-1].complete
    assert stats == AccountStats(account="mastodonpy_test", followers=0, following=0, posts=0)


def test_owned_account_later_run_rereads_the_last_refresh_days() -> None:
    days = [1, 3, 5, 10, 16, 20]
    posts = [status(n, NOW - timedelta(days=d), template=ACCOUNT_PAGE[0]) for n, d in enumerate(days)]
    cursor = {"recent": [{"id": posts[2]["id"], "at": posts[2]["created_at"]}]}  # known up to 5 days ago
    script = Script(
        (*LOOKUP, recorded("account_lookup.json")),
        (STATUSES_PATH, ACCOUNT_PARAMS, answer(posts[:3], next_max_id=posts[2]["id"], path=STATUSES_PATH)),
        (
            STATUSES_PATH,
            {**ACCOUNT_PARAMS, "max_id": posts[2]["id"]},
            answer(posts[3:5], next_max_id=posts[4]["id"], path=STATUSES_PATH),
        ),
    )
    pages, _ = collect(script, owned(refresh_days=14), cursor)
    script.done()  # no since_id: it pages past the known point down to posts older than 14 days
    assert [i.text for i in items(pages)] == ["post 0", "post 1", "post 2", "post 3", "post 4"]
    assert {i.kind for i in items(pages)} == {"own"}
    assert pages[-1].final and pages[-1].complete and not pages[-1].capped
    assert pages[-1].cursor["recent"][0]["id"] == posts[0]["id"]  # type: ignore[index]


def test_non_owned_account_stream_is_mentions_and_has_no_stats() -> None:
    script = Script(
        (*LOOKUP, recorded("account_lookup.json")),
        (STATUSES_PATH, ACCOUNT_PARAMS, answer(ACCOUNT_PAGE)),
    )
    pages, stats = collect(script, spec(selectors={"account": "mastodonpy_test"}), stats=True)
    script.done()
    assert {i.kind for i in items(pages)} == {"mention"}
    assert stats is None


def test_unknown_account_is_not_found() -> None:
    script = Script(
        ("/api/v1/accounts/lookup", {"acct": "nobody@example.social"}, recorded("account_lookup_404.json"))
    )
    with pytest.raises(
        NotFound, match=re.escape("no account 'nobody@example.social' is known to this server")
    ):
        collect(script, spec(selectors={"account": "nobody@example.social"}))


# -- connector: search ----------------------------------------------------------------------

SEARCH_PATH = "/api/v2/search"
SEARCH_PARAMS = {"q": "halcy", "type": "statuses", "limit": "40"}


def searching(**kw: Any) -> StreamSpec:
    return spec(selectors={"query": "halcy"}, secrets={"token": "tok"}, **kw)


def test_search_without_token_fails_before_any_request() -> None:
    script = Script()
    with pytest.raises(AuthRequired, match="needs a token: set token_env"):
        collect(script, spec(selectors={"query": "halcy"}))
    assert script.seen == []


def test_search_first_run_pages_on_after_a_short_page() -> None:
    # Search removes filtered statuses after applying the limit: only an empty page ends it.
    script = Script(
        (SEARCH_PATH, SEARCH_PARAMS, recorded("search_v2_mastodon_social_q_halcy.json")),
        (SEARCH_PATH, {**SEARCH_PARAMS, "offset": "40"}, answer(body([]))),
        token="tok",
    )
    pages, _ = collect(script, searching())
    script.done()
    assert len(pages) == 2 and pages[-1].complete
    assert [i.author for i in pages[0].items] == ["greg@icosahedron.website", "Jo@social.sublingual.xyz"]
    assert pages[-1].cursor["recent"][0]["id"] == "116388149027005349"  # type: ignore[index]


def body(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"accounts": [], "statuses": statuses, "hashtags": []}


def test_search_pages_by_offset_and_later_runs_stop_at_the_anchor_time() -> None:
    t0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
    found = [status(n, t0 - timedelta(minutes=3 * n)) for n in range(50)]  # 12:00 back to 9:33
    script = Script(
        (SEARCH_PATH, SEARCH_PARAMS, answer(body(found[:40]))),
        (SEARCH_PATH, {**SEARCH_PARAMS, "offset": "40"}, answer(body(found[39:]))),  # one moved down
        (SEARCH_PATH, {**SEARCH_PARAMS, "offset": "80"}, answer(body([]))),
        token="tok",
    )
    pages, _ = collect(script, searching())
    script.done()
    assert [len(p.items) for p in pages] == [40, 10, 0]  # the repeated status is not yielded twice
    cursor = pages[-1].cursor
    again = Script((SEARCH_PATH, SEARCH_PARAMS, answer(body(found[:41]))), token="tok")  # to 10:00
    pages, _ = collect(again, searching(), cursor)
    again.done()
    assert len(again.seen) == 1 and pages[-1].complete


def test_search_wrong_shape_is_payload_error() -> None:
    script = Script((SEARCH_PATH, SEARCH_PARAMS, answer({"accounts": []})), token="tok")
    with pytest.raises(PayloadError, match="list of statuses"):
        collect(script, searching())


@pytest.mark.parametrize(("known_day", "complete"), [(1, True), (8, False)])
def test_owned_account_cap_cuts_the_reread_or_leaves_a_gap(known_day: int, complete: bool) -> None:
    posts = [status(n, NOW - timedelta(days=d), template=ACCOUNT_PAGE[0]) for n, d in enumerate(range(10))]
    known = posts[known_day]
    cursor = {"recent": [{"id": known["id"], "at": known["created_at"]}]}
    script = Script(
        (*LOOKUP, recorded("account_lookup.json")),
        (STATUSES_PATH, ACCOUNT_PARAMS, answer(posts[:5], next_max_id=posts[4]["id"], path=STATUSES_PATH)),
    )
    pages, _ = collect(script, owned(backfill=3, refresh_days=14), cursor)
    script.done()
    # Past the known post only the engagement re-read is cut short; before it, posts are missed.
    assert pages[-1].final and pages[-1].complete is complete and pages[-1].capped is not complete
