"""Hacker News: mapping of recorded Algolia hits, and paging/cursors against a mock server."""

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
from connectors.base import ConnectorError, MappingError, Page, PayloadError, StreamSpec
from connectors.hackernews.connector import HackerNewsConnector
from connectors.hackernews.mapping import map_hit
from connectors.hackernews.urls import search_params

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hackernews"
MARGIN = 30 * 60
Handler = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def hit(object_id: str, created: int, *, comment: bool = False, **fields: Any) -> dict[str, Any]:
    """A hit shaped like the recorded ones, with its own id and time."""
    name = "search_by_date_tags_comment" if comment else "search_by_date_tags_story"
    raw: dict[str, Any] = copy.deepcopy(fixture(name)["hits"][0])
    raw.update(objectID=object_id, created_at_i=created,
               created_at=datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
    raw.update(fields)
    return raw


def answer(
    hits: list[Any], *, page: int = 0, nb_pages: int = 1, nb_hits: int | None = None
) -> dict[str, Any]:
    return {"hits": hits, "nbHits": len(hits) if nb_hits is None else nb_hits, "page": page,
            "nbPages": nb_pages, "hitsPerPage": 100, "query": "acme", "params": ""}  # fmt: skip


def spec(**kwargs: Any) -> StreamSpec:
    selectors = {"query": "acme", **kwargs.pop("selectors", {})}
    return StreamSpec(name="acme-hn", connector="hackernews", selectors=selectors, **kwargs)


def collect(
    handler: Handler,
    stream: StreamSpec,
    cursor: dict[str, Any] | None = None,
    *,
    wall: float | None = None,
) -> list[Page]:
    """All pages of one run against `handler`; the client is closed afterwards."""

    async def fake_sleep(seconds: float) -> None:
        raise AssertionError(f"unexpected wait of {seconds}s")

    async def go() -> list[Page]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            clock = {"now": lambda: datetime.fromtimestamp(wall, UTC)} if wall is not None else {}
            connector = HackerNewsConnector(stream, HttpClient(client=client, sleep=fake_sleep, **clock))
            return [page async for page in connector.pages(cursor)]

    return asyncio.run(go())


def serve(*answers: Any, seen: list[httpx.Request]) -> Handler:
    """Answer each request with the next body, recording the requests."""
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.method == "GET"
        assert request.url.path == "/api/v1/search_by_date"
        body = queue.pop(0)
        if isinstance(body, httpx.Response):
            return body
        return httpx.Response(200, json=body)

    return handler


# -- mapping: every recorded fixture -------------------------------------------------------


def test_ask_hn_text_post_joins_title_and_story_text() -> None:
    raw = fixture("search_by_date_ask_hn_apple_page2")["hits"][0]
    item = map_hit(raw)
    assert item.platform == "hackernews"
    assert item.external_id == "7915384"
    assert item.url == "https://news.ycombinator.com/item?id=7915384"
    assert item.author == "techidse"
    # Entities (&#x27;) decoded; the 2014 index really stored "\t" and "\n" as backslash pairs.
    assert item.text == (
        "Ask HN: How can I get Swag from Startups?\n\n"
        "\\tHello HN,\\nI'm a college student from India. Is there a way to get swag from start ups "
        "or other companies to wear College. I'm in not the best financial conditions. So, I would "
        "appreciate if anyone helps me. I will tweet my picture with the swag when received :) Thanks"
    )
    assert item.created_at == datetime(2014, 6, 19, 9, 53, 30, tzinfo=UTC)
    assert (item.likes, item.reposts, item.replies, item.quotes) == (1, None, 3, None)
    assert item.lang is None and item.kind == "mention" and item.streams == ()
    assert item.raw is raw


def test_link_story_is_its_title_and_keeps_zero_comments() -> None:
    for name in ("search_by_date_query_apple_tags_story", "search_by_date_tags_story"):
        item = map_hit(fixture(name)["hits"][0])
        assert item.external_id == "7919424"
        assert item.url == "https://news.ycombinator.com/item?id=7919424"  # not the linked article
        assert item.author == "bradleyjg"
        assert item.text == "Judge says concerned about Apple, Google hiring settlement"
        assert item.created_at == datetime(2014, 6, 20, 3, 35, 46, tzinfo=UTC)
        assert item.likes == 1
        assert item.replies == 0  # reported as 0: stays 0, not None
        assert item.reposts is None and item.quotes is None


def test_comment_is_plain_text_without_points() -> None:
    raw = fixture("search_by_date_tags_comment")["hits"][0]
    item = map_hit(raw)
    assert item.external_id == "7919431"
    assert item.url == "https://news.ycombinator.com/item?id=7919431"
    assert item.author == "gohrt"
    assert item.text == (
        "A perennial HN favorite\n"
        "https://hn.algolia.com/?q=Fibonacci+Flim-Flam#!/all/forever/...\n"
        "What's fascinating about this topic is that the reposts come at intervals that "
        "approximates the Fibonacci sequence."
    )
    assert "<" not in item.text and "&#x" not in item.text
    assert raw["points"] == 1  # the old index's placeholder ...
    assert item.likes is None  # ... is not a score: HN does not show comment points
    assert item.replies is None  # num_comments is null on comments
    assert item.created_at == datetime(2014, 6, 20, 3, 39, 55, tzinfo=UTC)


def test_current_hit_shape_maps_too() -> None:
    """Today's hits: no milliseconds, updated_at/children/story_id; comments have no points key."""
    story = {"_tags": ["story", "author_pg", "story_44581234"], "author": "pg", "children": [44581300],
             "created_at": "2025-07-16T13:54:55Z", "created_at_i": 1752674095, "num_comments": 1,
             "objectID": "44581234", "points": 12, "story_id": 44581234,
             "story_text": "<p>Body &amp; more<p>Second", "title": "Show HN: Acme",
             "updated_at": "2025-07-16T14:00:00Z"}  # fmt: skip
    item = map_hit(story)
    assert item.text == "Show HN: Acme\n\nBody & more\nSecond"
    assert (item.likes, item.replies) == (12, 1)
    assert item.created_at == datetime(2025, 7, 16, 13, 54, 55, tzinfo=UTC)
    comment = {"_tags": ["comment", "author_dang", "story_44581234"], "author": "dang",
               "comment_text": "Nice", "created_at": "2025-07-16T14:01:02Z", "created_at_i": 1752674462,
               "objectID": "44581300", "parent_id": 44581234, "story_id": 44581234,
               "story_title": "Show HN: Acme"}  # fmt: skip
    item = map_hit(comment)
    assert (item.text, item.likes, item.replies) == ("Nice", None, None)


def test_created_at_falls_back_to_unix_seconds() -> None:
    raw = hit("1", 1403235346)
    del raw["created_at"]
    assert map_hit(raw).created_at == datetime(2014, 6, 20, 3, 35, 46, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"objectID": None}, "objectID: missing"),
        ({"created_at": None, "created_at_i": None}, "created_at: missing"),
        ({"created_at": "yesterday"}, "created_at: not an ISO 8601 timestamp"),
        ({"points": "5"}, "points: expected a whole number"),
        ({"title": None, "story_text": None}, "title: missing"),
    ],
)
def test_broken_hits_name_the_field(change: dict[str, Any], reason: str) -> None:
    raw = hit("1", 1403235346)
    raw.update(change)
    with pytest.raises(MappingError, match=reason):
        map_hit(raw)


def test_comment_without_text_is_rejected() -> None:
    with pytest.raises(MappingError, match="comment_text: missing"):
        map_hit(hit("1", 1403235346, comment=True, comment_text=None))


def test_params_builder() -> None:
    assert search_params("acme", page=2, after=10, until=20) == {
        "query": "acme", "tags": "(story,comment)", "hitsPerPage": 100, "page": 2,
        "typoTolerance": "false", "queryType": "prefixNone",  # words, not typo variants or prefixes
        "numericFilters": "created_at_i>10,created_at_i<=20",
    }  # fmt: skip


# -- connector: paging, cursors, errors -------------------------------------------------------


def test_first_run_pages_through_all_pages() -> None:
    seen: list[httpx.Request] = []
    handler = serve(
        answer([hit("30", 3000), hit("20", 2000)], page=0, nb_pages=2),
        answer([hit("10", 1000, comment=True)], page=1, nb_pages=2),
        seen=seen,
    )
    pages = collect(handler, spec())
    assert [str(r.url.host) for r in seen] == ["hn.algolia.com", "hn.algolia.com"]
    for number, request in enumerate(seen):
        assert dict(request.url.params) == {
            "query": "acme",
            "tags": "(story,comment)",
            "hitsPerPage": "100",
            "page": str(number),
            "typoTolerance": "false",
            "queryType": "prefixNone",
        }  # first run: no numericFilters
    assert [[i.external_id for i in p.items] for p in pages] == [["30", "20"], ["10"]]
    assert [(p.final, p.cursor, p.requests) for p in pages[:-1]] == [(False, None, 1)]
    last = pages[-1]
    assert last.final and last.complete and not last.capped
    assert last.cursor == {"newest": 3000}
    json.dumps(last.cursor)


def test_first_run_stops_at_backfill_on_recorded_pages() -> None:
    """The recorded answers (hitsPerPage=1, nbPages=1000) paged until backfill is reached."""
    seen: list[httpx.Request] = []
    handler = serve(
        fixture("search_by_date_tags_comment"),
        fixture("search_by_date_query_apple_tags_story"),
        fixture("search_by_date_ask_hn_apple_page2"),
        seen=seen,
    )
    pages = collect(handler, spec(backfill=3))
    assert len(seen) == 3
    assert [r.url.params["page"] for r in seen] == ["0", "1", "2"]
    assert [i.external_id for p in pages for i in p.items] == ["7919431", "7919424", "7915384"]
    last = pages[-1]
    assert last.final and last.capped and not last.complete
    assert last.cursor == {"newest": 1403235595}  # the comment, the newest hit seen


def test_tags_and_base_url_from_the_stream() -> None:
    seen: list[httpx.Request] = []
    handler = serve(fixture("search_by_date_tags_story") | {"nbPages": 1, "nbHits": 1}, seen=seen)
    stream = spec(base_url="http://127.0.0.1:8765/", selectors={"tags": "(story)"})
    pages = collect(handler, stream)
    assert str(seen[0].url).startswith("http://127.0.0.1:8765/api/v1/search_by_date?")
    assert seen[0].url.params["tags"] == "(story)"
    assert pages[-1].complete and [i.external_id for i in pages[-1].items] == ["7919424"]


def test_second_run_with_nothing_new_is_one_request() -> None:
    seen: list[httpx.Request] = []
    pages = collect(serve(answer([], nb_pages=0), seen=seen), spec(), {"newest": 1403235595})
    assert len(seen) == 1
    assert seen[0].url.params["numericFilters"] == f"created_at_i>{1403235595 - MARGIN}"
    assert len(pages) == 1
    page = pages[0]
    assert page.final and page.complete and not page.capped and page.items == []
    assert page.cursor == {"newest": 1403235595}  # kept: nothing newer was seen


def test_second_run_overlaps_the_known_point_by_a_margin() -> None:
    """A hit indexed late (older than the high-water mark, inside the margin) is still collected."""
    known = 1_750_000_000
    seen: list[httpx.Request] = []
    handler = serve(
        answer([hit("new", known + 100), hit("known", known), hit("late", known - 600)]), seen=seen
    )
    pages = collect(handler, spec(), {"newest": known})
    assert len(seen) == 1
    assert seen[0].url.params["numericFilters"] == f"created_at_i>{known - MARGIN}"
    assert [i.external_id for i in pages[-1].items] == ["new", "known", "late"]
    assert pages[-1].cursor == {"newest": known + 100}
    assert pages[-1].complete


def test_second_run_pages_until_the_known_point() -> None:
    known = 1_750_000_000
    seen: list[httpx.Request] = []
    handler = serve(
        answer([hit("b", known + 200)], page=0, nb_pages=2),
        answer([hit("a", known + 100), hit("known", known)], page=1, nb_pages=2),
        seen=seen,
    )
    pages = collect(handler, spec(backfill=2), {"newest": known})
    assert [r.url.params["page"] for r in seen] == ["0", "1"]
    # The known item (in the overlap) does not count toward backfill: 2 new hits, not capped.
    assert pages[-1].complete and not pages[-1].capped
    assert pages[-1].cursor == {"newest": known + 200}


def test_algolia_1000_hit_window_restarts_below_the_oldest_hit() -> None:
    seen: list[httpx.Request] = []
    handler = serve(
        answer([hit("3", 3000), hit("2", 2000)], nb_pages=1, nb_hits=150),  # window used up
        answer([hit("2", 2000), hit("1", 1000)], nb_pages=1),
        seen=seen,
    )
    pages = collect(handler, spec(), {"newest": 2500})
    assert seen[0].url.params["numericFilters"] == f"created_at_i>{2500 - MARGIN}"
    assert seen[1].url.params["numericFilters"] == f"created_at_i>{2500 - MARGIN},created_at_i<=2000"
    assert seen[1].url.params["page"] == "0"
    assert [[i.external_id for i in p.items] for p in pages] == [["3", "2"], ["1"]]  # "2" once
    assert pages[-1].complete and pages[-1].cursor == {"newest": 3000}


def test_broken_hit_is_rejected_and_the_others_kept() -> None:
    broken = hit("bad", 1500)
    del broken["created_at"], broken["created_at_i"]
    pages = collect(serve(answer([hit("2", 2000), broken, "not a hit", hit("1", 1000)]), seen=[]), spec())
    page = pages[-1]
    assert [i.external_id for i in page.items] == ["2", "1"]
    assert page.rejected == ["item 2: created_at: missing", "item 3: hit: expected an object, got str"]
    assert page.cursor == {"newest": 2000}


def test_owned_stream_rereads_refresh_days() -> None:
    known, wall = 1_750_000_000, 1_750_000_500.0
    seen: list[httpx.Request] = []
    stream = spec(role="owned", refresh_days=14)
    collect(serve(answer([]), seen=seen), stream, {"newest": known}, wall=wall)
    assert seen[0].url.params["numericFilters"] == f"created_at_i>{int(wall) - 14 * 86400}"


def test_account_stats_is_none() -> None:
    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(serve(seen=[]))) as client:
            assert await HackerNewsConnector(spec(), HttpClient(client=client)).account_stats() is None

    asyncio.run(go())


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(
            200, text="<html><body>maintenance</body></html>", headers={"content-type": "text/html"}
        ),
        httpx.Response(200, text="{not json"),
        httpx.Response(200, json={"message": "no hits here"}),
        httpx.Response(200, json=[]),
    ],
)
def test_unusable_answer_is_a_payload_error(response: httpx.Response) -> None:
    with pytest.raises(PayloadError):
        collect(serve(response, seen=[]), spec())


def test_bad_request_is_reported_not_retried() -> None:
    seen: list[httpx.Request] = []
    response = httpx.Response(400, json={"message": "invalid numericFilters", "status": 400})
    with pytest.raises(ConnectorError, match="check the stream's query and tags"):
        collect(serve(response, seen=seen), spec())
    assert len(seen) == 1


def test_query_is_required() -> None:
    with pytest.raises(ConnectorError, match="needs a query"):
        collect(serve(seen=[]), StreamSpec(name="x", connector="hackernews"))
