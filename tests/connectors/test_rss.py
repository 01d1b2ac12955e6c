"""RSS/Atom connector: mapping of real and sample feeds, conditional GETs, caps and gaps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from connectors.rss import mapping, urls
from connectors.rss.connector import OVERLAP, RssConnector

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rss"
ALERTS = (FIXTURES / "google_alerts_atom_slack.xml").read_bytes()
FEED_URL = "https://www.google.com/alerts/feeds/04175468913983673025/4428013283581841004"
ETAG = '"alerts-v1"'
LAST_MODIFIED = "Wed, 10 Jul 2019 11:53:37 GMT"

RSS091 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="0.91"><channel>
<title>Vieilles nouvelles</title><link>http://example.org/</link><description>d</description>
<language>fr-FR</language>
<item><title>Premier &amp; dernier</title><link>http://example.org/a</link>
<description>Texte &lt;i&gt;en italique&lt;/i&gt;</description><pubDate>Tue, 30 Apr 2024 18:00:00 GMT</pubDate></item>
<item><title>Sans date</title><link>http://example.org/b</link><description>rien</description></item>
</channel></rss>"""

RSS10 = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://example.org/rss"><title>RDF</title><link>http://example.org/</link>
<description>d</description><dc:language>de</dc:language>
<items><rdf:Seq><rdf:li rdf:resource="http://example.org/r1"/></rdf:Seq></items></channel>
<item rdf:about="http://example.org/r1"><title>Eins</title><link>http://example.org/r1</link>
<description>Zwei &amp;amp; drei</description><dc:date>2024-05-01T10:00:00+02:00</dc:date>
<dc:creator>Anna</dc:creator></item>
</rdf:RDF>"""

RSS20 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>T</title><link>http://example.org/</link><description>d</description><language>en-us</language>
<item><title>Hello &lt;b&gt;World&lt;/b&gt;</title><link>http://example.org/p1</link>
<guid isPermaLink="false">post-1</guid><pubDate>Wed, 01 May 2024 10:00:00 +0200</pubDate>
<author>lawyer@example.org (Lawyer Boyer)</author>
<description>&lt;p&gt;Short &amp;amp; sweet&lt;/p&gt;</description>
<content:encoded><![CDATA[<p>The full body</p>]]></content:encoded></item>
<item><title>AT&amp;T says 1 &lt; 2</title><guid>http://example.org/p2</guid>
<pubDate>Wed, 01 May 2024 09:00:00 GMT</pubDate><dc:creator>Bob</dc:creator></item>
<item><title>Only a link</title><link>/relative/p3</link><pubDate>Wed, 01 May 2024 07:00:00 GMT</pubDate></item>
<item><title>No date</title><link>http://example.org/p4</link></item>
<item><title>Bad date</title><link>http://example.org/p5</link><pubDate>yesterday-ish</pubDate></item>
<item><description>no title, no guid, no link</description><pubDate>Wed, 01 May 2024 06:00:00 GMT</pubDate></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
<title>A</title><id>urn:feed</id><updated>2024-05-01T10:00:00Z</updated>
<entry xml:lang="es"><title type="text">Hola, 1 &lt; 2</title><id>urn:e1</id>
<link rel="alternate" href="http://example.org/e1"/><updated>2024-05-01T10:00:00Z</updated>
<author><name>Carla</name></author>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Cuerpo</p></div></content></entry>
<entry><title>Same text</title><id>urn:e2</id><updated>2024-05-01T09:00:00Z</updated>
<published>2024-04-30T09:00:00+01:00</published><summary>Same text</summary></entry>
</feed>"""


# -- helpers ------------------------------------------------------------------------------------


def parse(content: bytes, location: str = "http://example.org/feed.xml") -> dict[str, Any]:
    return mapping.parse_feed(content, where="example.org/feed.xml", location=location)


def items_of(content: bytes) -> tuple[list[Any], list[str]]:
    feed = parse(content)
    return mapping.map_entries(feed["entries"], feed_lang=mapping.feed_language(feed["feed"]))


def spec(**kwargs: Any) -> StreamSpec:
    base: dict[str, Any] = {"name": "alerts", "connector": "rss", "selectors": {"url": FEED_URL}}
    return StreamSpec(**(base | kwargs))


async def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the rss connector should not wait ({seconds}s)")


def run(
    handler: Callable[[httpx.Request], httpx.Response], cursor: dict[str, Any] | None = None, **kw: Any
) -> list[Page]:
    async def go() -> list[Page]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            connector = RssConnector(spec(**kw), HttpClient(client=client, sleep=_no_sleep))
            return [page async for page in connector.pages(cursor)]

    return asyncio.run(go())


def feed_answer(body: bytes, **headers: str) -> httpx.Response:
    base = {
        "Content-Type": "application/atom+xml; charset=UTF-8",
        "ETag": ETAG,
        "Last-Modified": LAST_MODIFIED,
    }
    return httpx.Response(200, content=body, headers=base | headers)


class Server:
    """Serves one answer per request and records what was asked."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.method == "GET"
        assert str(request.url) == FEED_URL
        assert "application/atom+xml" in request.headers["Accept"]
        return self.answers.pop(0)


def atom(*entries: tuple[str, str]) -> bytes:
    """A small Atom feed of (urn:id, updated) entries, in the given order."""
    body = "".join(
        f"<entry><id>urn:{ident}</id><title>post {ident}</title><link href='http://example.org/{ident}'/>"
        f"<updated>{when}</updated></entry>"
        for ident, when in entries
    )
    return f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{body}</feed>'.encode()


# -- mapping: the real Google Alerts feed -------------------------------------------------------


def test_google_alerts_fixture_maps_every_entry() -> None:
    feed = parse(ALERTS, location=FEED_URL)
    assert feed["version"] == "atom10"
    items, rejected = mapping.map_entries(feed["entries"], feed_lang=mapping.feed_language(feed["feed"]))
    assert rejected == []
    assert len(items) == 20
    assert len({i.external_id for i in items}) == 20
    for item in items:
        assert item.platform == "rss"
        assert item.external_id.startswith("tag:google.com,2013:googlealerts/feed:")
        assert item.url is not None and item.url.startswith("http")
        assert "google.com" not in item.url  # every redirect unwrapped
        assert "<" not in item.text and "&nbsp;" not in item.text and "&#39;" not in item.text
        assert item.author is None  # <author><name></name></author>: no author, not ""
        assert item.lang is None  # no xml:lang anywhere in the feed
        assert (item.likes, item.reposts, item.replies, item.quotes) == (None, None, None, None)
        assert item.engagement == 0
        assert item.kind == "mention"
        assert item.created_at.tzinfo is UTC
        json.dumps(item.raw)  # stored as JSON


def test_google_alerts_first_entry_fields() -> None:
    items, _ = items_of(ALERTS)
    first = items[0]
    assert first.external_id == "tag:google.com,2013:googlealerts/feed:8974135267215335962"
    assert first.url == (
        "https://www.aglobalmarketresearch.com/report-offers-prediction-of-automotive-slack-market-by-top-"
        "key-players-like-haldex-meritor-bendix-mei-wabco-accuride-stemco-tbk-febi-aydinsan/"
    )
    assert first.text == (
        "Report offers Prediction of Automotive Slack Market by Top key players like Haldex, Meritor, "
        "Bendix ...\n\nAutomotive Slack Market reports provides a comprehensive overview of the global "
        "market size and share. It provides strategists, marketers and senior ..."
    )
    assert first.created_at == datetime(2019, 7, 10, 11, 53, 37, tzinfo=UTC)
    assert first.raw is not None
    assert first.raw["link"].startswith("https://www.google.com/url?rct=j&sa=t&url=https://www.aglobal")


def test_google_alerts_entities_and_title_tags() -> None:
    items, _ = items_of(ALERTS)
    second = items[1]
    assert second.url == "https://investorplace.com/2019/07/slack-stock-truly-compelling/"
    title, body = second.text.split("\n\n")
    assert title == "Slack Stock Has a Compelling Story and the Numbers to Back It Up"
    assert "the Company's decision to go public via ..." in body
    last = items[-1]
    assert last.url == "https://mspoweruser.com/latest-research-shows-microsoft-teams-is-stomping-slack/"
    assert last.created_at == datetime(2019, 7, 9, 23, 59, 57, tzinfo=UTC)


# -- mapping: the formats ----------------------------------------------------------------------


def test_rss091_channel_language_and_undated_entry_rejected() -> None:
    items, rejected = items_of(RSS091)
    assert [i.external_id for i in items] == ["http://example.org/a"]  # no guid: the link
    item = items[0]
    assert item.url == "http://example.org/a"
    assert item.text == "Premier & dernier\n\nTexte en italique"
    assert item.lang == "fr-FR"
    assert item.author is None
    assert item.created_at == datetime(2024, 4, 30, 18, 0, tzinfo=UTC)
    assert rejected == ["entry 2: created_at: missing (the entry has no published or updated date)"]


def test_rss10_rdf_dublin_core() -> None:
    items, rejected = items_of(RSS10)
    assert rejected == []
    (item,) = items
    assert item.external_id == "http://example.org/r1"  # rdf:about
    assert item.url == "http://example.org/r1"
    assert item.text == "Eins\n\nZwei & drei"
    assert item.author == "Anna"  # dc:creator
    assert item.lang == "de"  # dc:language of the channel
    assert item.created_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)  # dc:date +02:00 -> UTC


def test_rss20_items() -> None:
    items, rejected = items_of(RSS20)
    by_id = {i.external_id: i for i in items}
    assert list(by_id) == ["post-1", "http://example.org/p2", "http://example.org/relative/p3"]
    first = by_id["post-1"]  # isPermaLink="false": an id, the link is <link>
    assert first.url == "http://example.org/p1"
    assert first.text == "Hello World\n\nShort & sweet"  # HTML title; summary before content:encoded
    assert first.author == "Lawyer Boyer"  # the name of "email (name)"
    assert first.lang == "en-us"
    assert first.created_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    second = by_id["http://example.org/p2"]  # a permalink guid is also the link
    assert second.url == "http://example.org/p2"
    assert second.text == "AT&T says 1 < 2"  # a plain-text title is not read as HTML
    assert second.author == "Bob"
    third = by_id["http://example.org/relative/p3"]  # no guid: the link, resolved against the feed
    assert third.url == "http://example.org/relative/p3"
    assert third.text == "Only a link"
    assert rejected == [
        "entry 4: created_at: missing (the entry has no published or updated date)",
        "entry 5: created_at: unreadable published date 'yesterday-ish'",
        "entry 6: external_id: the entry has neither an id (guid) nor a link",
    ]


def test_atom_languages_dates_and_links() -> None:
    items, rejected = items_of(ATOM)
    assert rejected == []
    first, second = items
    assert first.external_id == "urn:e1"
    assert first.url == "http://example.org/e1"
    assert first.text == "Hola, 1 < 2\n\nCuerpo"  # text title kept literally; xhtml content as text
    assert first.lang == "es"  # the entry's xml:lang beats the feed's
    assert first.author == "Carla"
    assert first.created_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)  # only <updated>
    assert second.external_id == "urn:e2"
    assert second.url is None  # feedparser copies the urn id into `link`: not a web link
    assert second.text == "Same text"  # a summary repeating the title is not doubled
    assert second.lang == "en"
    assert second.created_at == datetime(2024, 4, 30, 8, 0, tzinfo=UTC)  # published beats updated
    assert second.author is None


def test_entry_to_item_on_plain_dicts() -> None:
    entry = {"id": "x", "title": "Only a title", "updated_parsed": [2024, 1, 2, 3, 4, 5, 1, 2, 0]}
    item = mapping.entry_to_item(entry, kind="own")
    assert item.text == "Only a title"
    assert item.kind == "own"
    assert item.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert item.url is None and item.lang is None and item.author is None
    assert item.raw == entry
    with pytest.raises(MappingError, match="text"):
        mapping.entry_to_item({"id": "x", "published_parsed": [2024, 1, 2, 3, 4, 5, 1, 2, 0]})
    with pytest.raises(MappingError, match="created_at: bad published"):
        mapping.entry_to_item({"id": "x", "title": "t", "published_parsed": ["a"]})
    items, rejected = mapping.map_entries([entry, "junk"])
    assert len(items) == 1 and rejected == ["entry 2: expected an entry, got str"]


def test_a_year_no_datetime_holds_rejects_that_entry_only() -> None:
    good = {"id": "a", "title": "fine", "published_parsed": [2024, 1, 2, 3, 4, 5, 1, 2, 0]}
    bad = {"id": "b", "title": "far", "published_parsed": [2147483648, 1, 1, 0, 0, 0, 0, 1, 0]}
    items, rejected = mapping.map_entries([bad, good])
    assert [i.external_id for i in items] == ["a"]
    assert rejected == ["entry 1 (b): created_at: 2147483648 is not a possible year for a post"]


def test_malformed_feed_keeps_recovered_entries() -> None:
    broken = RSS20.replace(b"</channel></rss>", b"<item><title>x & y</title><guid>z</guid>")
    feed = parse(broken)
    assert feed["bozo"] is True
    items, rejected = mapping.map_entries(feed["entries"])
    assert [i.external_id for i in items] == [
        "post-1",
        "http://example.org/p2",
        "http://example.org/relative/p3",
    ]
    assert rejected[-1].startswith("entry 7 (http://example.org/z): created_at: missing")  # guid resolved


@pytest.mark.parametrize(
    ("body", "content_type", "what"),
    [
        (
            b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><p>Hi</p></body></html>",
            "",
            "HTML",
        ),
        (b"<html><body>Not here</body></html>", "text/html; charset=utf-8", "HTML"),
        (b'{"items": []}', "application/json", "something else"),
        (b"", "application/rss+xml", "an empty body"),
    ],
)
def test_not_a_feed_is_a_payload_error(body: bytes, content_type: str, what: str) -> None:
    with pytest.raises(PayloadError, match=what) as caught:
        mapping.parse_feed(body, where="example.org/feed.xml", content_type=content_type)
    assert "example.org/feed.xml" in str(caught.value)


def test_feed_without_entries_is_no_error() -> None:
    feed = parse(b'<rss version="2.0"><channel><title>quiet</title></channel></rss>')
    assert feed["entries"] == [] and feed["version"] == "rss20"


# -- urls ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://www.google.com/url?rct=j&sa=t&url=https://a.example/x%3Fy&ct=ga", "https://a.example/x?y"),
        ("https://google.co.uk/url?q=http://b.example/&sa=U", "http://b.example/"),
        (
            "https://www.google.com/url?rct=j&url=javascript:alert(1)",
            "https://www.google.com/url?rct=j&url=javascript:alert(1)",
        ),
        (
            "https://www.google.com/search?url=https://a.example/",
            "https://www.google.com/search?url=https://a.example/",
        ),
        (
            "https://evil.example/url?url=https://a.example/",
            "https://evil.example/url?url=https://a.example/",
        ),
        ("http://example.org/post", "http://example.org/post"),
    ],
)
def test_unwrap_redirect(link: str, expected: str) -> None:
    assert urls.unwrap_redirect(link) == expected


def test_web_url_accepts_only_http_links() -> None:
    assert urls.web_url("urn:uuid:1234") is None
    assert urls.web_url("") is None
    assert urls.web_url(None) is None
    assert urls.web_url(" https://example.org/a ") == "https://example.org/a"


def test_request_headers() -> None:
    assert set(urls.request_headers(None)) == {"Accept"}
    headers = urls.request_headers({"etag": 'W/"1"', "last_modified": LAST_MODIFIED})
    assert headers["If-None-Match"] == 'W/"1"'
    assert headers["If-Modified-Since"] == LAST_MODIFIED
    assert set(urls.request_headers({"etag": None, "last_modified": None, "seen": []})) == {"Accept"}


@pytest.mark.parametrize("selectors", [{}, {"url": " "}, {"url": "ftp://example.org/feed?key=s3cret"}])
def test_feed_url_must_be_given_and_http(selectors: dict[str, str]) -> None:
    with pytest.raises(ConnectorError, match="url") as caught:
        urls.feed_url(selectors)
    assert "s3cret" not in str(caught.value)


# -- connector ------------------------------------------------------------------------------------


def test_first_run_reads_the_feed_once() -> None:
    server = Server(feed_answer(ALERTS))
    (page,) = run(server)
    assert len(server.requests) == 1
    request = server.requests[0]
    assert "If-None-Match" not in request.headers and "If-Modified-Since" not in request.headers
    assert page.final and not page.complete and not page.capped, "a feed's window says nothing of before it"
    assert page.requests == 1
    assert len(page.items) == 20 and page.rejected == []
    times = [i.created_at for i in page.items]
    assert times == sorted(times, reverse=True)
    assert page.cursor is not None
    assert page.cursor["etag"] == ETAG and page.cursor["last_modified"] == LAST_MODIFIED
    assert page.cursor["newest"] == "2019-07-10T11:53:37Z"
    assert page.cursor["seen"] == [i.external_id for i in page.items]
    json.dumps(page.cursor)


def test_first_run_capped_by_backfill() -> None:
    (page,) = run(Server(feed_answer(ALERTS)), backfill=5)
    assert page.final and page.capped and not page.complete
    assert [i.created_at.strftime("%H:%M:%S") for i in page.items] == [
        "11:53:37", "11:46:48", "11:36:15", "11:26:15", "09:56:15",
    ]  # fmt: skip
    assert page.cursor is not None and len(page.cursor["seen"]) == 5


def test_second_run_with_nothing_new_is_one_conditional_request() -> None:
    (first,) = run(Server(feed_answer(ALERTS)))
    server = Server(httpx.Response(304, headers={"ETag": ETAG}))
    (page,) = run(server, first.cursor)
    assert len(server.requests) == 1
    assert server.requests[0].headers["If-None-Match"] == ETAG
    assert server.requests[0].headers["If-Modified-Since"] == LAST_MODIFIED
    assert page.final and page.complete and not page.capped
    assert page.items == [] and page.rejected == [] and page.requests == 1
    assert page.cursor == first.cursor


def test_304_without_validators_keeps_the_old_ones() -> None:
    cursor = {"etag": ETAG, "last_modified": LAST_MODIFIED, "newest": "2019-07-10T11:53:37Z", "seen": ["a"]}
    (page,) = run(Server(httpx.Response(304)), cursor)
    assert page.cursor == cursor


def test_second_run_server_ignoring_validators_yields_known_items_again() -> None:
    (first,) = run(Server(feed_answer(ALERTS)))
    server = Server(feed_answer(ALERTS, ETag='"alerts-v2"'))
    (page,) = run(server, first.cursor)
    assert len(server.requests) == 1
    assert len(page.items) == 20  # known entries are yielded again; the upsert is idempotent
    assert page.complete and not page.capped
    assert page.cursor is not None and page.cursor["etag"] == '"alerts-v2"'
    assert page.cursor["seen"] == first.cursor["seen"]  # type: ignore[index]


def test_second_run_with_new_entries_reaches_known_ones() -> None:
    cursor = {"etag": None, "last_modified": None, "newest": "2024-05-01T10:00:00Z", "seen": ["urn:old-1"]}
    body = atom(
        ("new-2", "2024-05-01T12:00:00Z"),
        ("new-1", "2024-05-01T11:00:00Z"),
        ("old-1", "2024-05-01T10:00:00Z"),
    )
    server = Server(httpx.Response(200, content=body))  # no ETag, no Last-Modified
    (page,) = run(server, cursor)
    assert "If-None-Match" not in server.requests[0].headers  # no validators kept: plain GET
    assert [i.external_id for i in page.items] == ["urn:new-2", "urn:new-1", "urn:old-1"]
    assert page.complete and not page.capped
    assert page.cursor == {
        "newest": "2024-05-01T12:00:00Z",
        "seen": ["urn:new-2", "urn:new-1", "urn:old-1"],
        "etag": None,
        "last_modified": None,
    }


def test_feed_that_rolled_past_the_known_point_is_not_complete() -> None:
    cursor = {"newest": "2024-05-01T10:00:00Z", "seen": ["urn:old-1"]}
    body = atom(("new-2", "2024-05-01T12:00:00Z"), ("new-1", "2024-05-01T11:00:00Z"))
    (page,) = run(Server(feed_answer(body)), cursor)
    assert len(page.items) == 2
    assert not page.complete and not page.capped  # entries may have been missed in between
    assert page.cursor is not None and page.cursor["seen"] == ["urn:new-2", "urn:new-1", "urn:old-1"]


def test_overlap_margin_treats_recent_unknown_entries_as_new() -> None:
    newest = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    cursor = {"newest": "2024-05-01T12:00:00Z", "seen": []}
    late = (newest - OVERLAP / 2).isoformat()  # backdated into the margin, never seen
    old = (newest - OVERLAP * 2).isoformat()
    body = atom(("fresh", "2024-05-01T12:10:00Z"), ("late", late), ("old", old))
    (page,) = run(Server(feed_answer(body)), cursor, backfill=2)
    assert [i.external_id for i in page.items] == ["urn:fresh", "urn:late"]
    assert page.complete and not page.capped  # only an entry before the margin was dropped
    (page,) = run(Server(feed_answer(body)), cursor, backfill=1)
    assert [i.external_id for i in page.items] == ["urn:fresh"]
    assert page.capped and not page.complete  # the late entry inside the margin was dropped


def test_entries_come_out_newest_first_and_deduplicated() -> None:
    body = atom(("a", "2024-05-01T08:00:00Z"), ("b", "2024-05-01T09:00:00Z"), ("a", "2024-05-01T10:00:00Z"))
    (page,) = run(Server(feed_answer(body)))
    assert [(i.external_id, i.created_at.hour) for i in page.items] == [("urn:b", 9), ("urn:a", 8)]


def test_broken_entry_is_rejected_and_the_others_kept() -> None:
    (page,) = run(Server(feed_answer(RSS20, **{"Content-Type": "application/rss+xml"})))
    ids = [i.external_id for i in page.items]
    # Entries without a usable date are stored at the time first seen (newest, so first), flagged.
    assert ids == ["http://example.org/p4", "http://example.org/p5", "http://example.org/p2", "post-1",
                   "https://www.google.com/relative/p3"]  # fmt: skip  (p3 resolved against the feed url)
    assert [i.date_estimated for i in page.items] == [True, True, False, False, False]
    assert len(page.rejected) == 1 and page.rejected[0].startswith("entry 6: external_id")
    # First-seen times say nothing of the feed's own clock: the cursor keeps the newest real date.
    assert page.cursor is not None and page.cursor["newest"] == "2024-05-01T09:00:00Z"


def test_owned_feed_items_are_own_and_have_no_account_stats() -> None:
    (page,) = run(Server(feed_answer(ATOM)), role="owned")
    assert {i.kind for i in page.items} == {"own"}

    async def stats() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(Server())) as client:
            return await RssConnector(spec(role="owned"), HttpClient(client=client)).account_stats()

    assert asyncio.run(stats()) is None
    assert RssConnector.platform == "rss"


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, AuthRequired, "the feed wants credentials"),
        (403, AuthRequired, "the feed refused access"),
        (404, NotFound, "no feed at this url"),
        (410, ConnectorError, "the feed was removed"),
    ],
)
def test_http_errors_are_reported_clearly(status: int, error: type[Exception], message: str) -> None:
    server = Server(httpx.Response(status, text="nope"))
    with pytest.raises(error, match=message) as caught:
        run(server)
    assert "www.google.com/alerts/feeds/" in str(caught.value)
    assert len(server.requests) == 1  # never retried


def test_html_page_with_200_is_a_payload_error() -> None:
    page = b"<!DOCTYPE html><html><body><h1>Google Alerts</h1><p>Sign in</p></body></html>"
    with pytest.raises(PayloadError, match="HTML page"):
        run(Server(feed_answer(page, **{"Content-Type": "text/html; charset=UTF-8"})))


def test_unfollowed_redirect_is_an_error() -> None:
    moved = httpx.Response(301, headers={"Location": "https://example.org/elsewhere"})
    with pytest.raises(ConnectorError, match="HTTP 301"):
        run(Server(moved))


def test_missing_url_selector() -> None:
    with pytest.raises(ConnectorError, match="needs `url`"):
        run(Server(), selectors={})


def test_a_content_that_is_not_a_list_is_no_content() -> None:
    # Found by the hostile-input property test: `content: true` made the language lookup raise.
    entry = {"id": "a", "title": "fine", "content": True, "published_parsed": [2024, 1, 2, 3, 4, 5, 1, 2, 0]}
    items, rejected = mapping.map_entries([entry])
    assert [i.text for i in items] == ["fine"] and rejected == []
