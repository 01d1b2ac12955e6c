"""The query language everywhere a user selects mentions: stream filters, CLI, web, API, exports.

Data: the corpus of tests/test_query.py, imported as a file. The stream-filter test
proves a stream's `filter` keeps exactly the items the search for the same query
finds within that stream once stored, with language and sentiment computed the way
the ingest computes them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from connectors.base import Item
from tests.conftest import register_connectors, write_config
from tests.test_query import CORPUS, DOCS, _nested
from tracker.config import load_settings
from tracker.filters import StreamFilter
from tracker.ingest import sync_streams, upsert_items
from tracker.query import MAX_DEPTH, parse
from tracker.search import iter_csv, safe_cell
from tracker.search_index import where
from tracker.store.db import open_store
from tracker.store.models import Mention
from tracker.timeutil import utcnow
from tracker.web.app import create_app

STREAM = {"name": "acme-hn", "connector": "hackernews", "query": "acme", "every": "15m"}


def _recent(n: int) -> str:
    return (utcnow() - timedelta(days=3, minutes=n)).isoformat()


def _records() -> Iterator[dict[str, Any]]:
    for n, (key, (body, author, platform, lang, kind, score, stream)) in enumerate(DOCS.items()):
        yield {
            "platform": platform, "external_id": f"x-{key}", "text": body, "author": author, "lang": lang,
            "kind": kind, "created_at": _recent(n), "sentiment": score if score is not None else 0.0,
            "likes": n, "streams": [stream],
        }  # fmt: skip


@pytest.fixture
def config(tmp_path: Path, db_url: str, cli: Any) -> Path:
    path = write_config(tmp_path, db_url=db_url, streams=[STREAM])
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _records()), encoding="utf-8")
    assert cli("--config", path, "mentions", "import", data, "--create-streams").code == 0
    return path


# -- stream filters -------------------------------------------------------------------------------


def test_stream_filter_keeps_what_the_search_finds(tmp_path: Path) -> None:
    """Items without language or score: the filter computes them as the ingest will."""
    t0 = datetime(2026, 9, 1, tzinfo=UTC)
    items = [
        Item(platform=p, external_id=f"x-{k}", text=body, created_at=t0 + timedelta(minutes=i), author=author,
             lang=lang if i % 2 else None, kind=kind)
        for i, (k, (body, author, p, lang, kind, _score, _stream)) in enumerate(DOCS.items())
    ]  # fmt: skip
    store = open_store(f"sqlite:///{tmp_path / 'f.db'}")
    settings = load_settings(write_config(tmp_path, streams=[{**STREAM, "name": "s"}]))
    with store.write() as session:
        ids = sync_streams(session=session, settings=settings, now=t0)
        upsert_items(
            session=session, items=[replace(i, streams=("s",)) for i in items], stream_ids=ids, now=t0
        )
    extra = ["sentiment:positive", "-sentiment:negative acme*", "lang:en", "stream:s acme", "stream:other"]
    try:
        for query in [q for q, _ in CORPUS] + extra:
            rule = StreamFilter(query=query, stream="s")
            kept = sorted(i.external_id for i in items if rule.apply(i) is not None)
            with store.read() as session:
                clause = where(parse(query), store.dialect)
                found = sorted(session.scalars(select(Mention.external_id).where(clause)))
            assert kept == found, query
    finally:
        store.close()


def test_include_and_exclude_still_work_beside_filter() -> None:
    item = Item(platform="rss", external_id="1", text="Acme cloud is down", created_at=datetime.now(UTC))
    assert StreamFilter(include=["acme"], query="cloud").apply(item) is not None
    assert StreamFilter(include=["acme"], query="-cloud").apply(item) is None
    assert StreamFilter(exclude=["down"], query="cloud").apply(item) is None


def test_a_bad_filter_is_a_config_error_with_its_position(tmp_path: Path, cli: Any) -> None:
    path = write_config(tmp_path, streams=[{**STREAM, "filter": "acme (cloud OR down"}])
    result = cli("--config", path, "status")
    assert result.code == 2
    assert "streams[0].filter: unbalanced parenthesis at position 6" in result.err


# -- CLI --------------------------------------------------------------------------------------------


def test_mentions_search_prints_text_json_and_csv(config: Path, cli: Any) -> None:
    text = cli("--config", config, "mentions", "search", "acme broken")
    assert text.code == 0 and "Acme Teams is broken" in text.out and "teams are broken" in text.out
    doc = json.loads(
        cli("--config", config, "mentions", "search", "acme -broken", "--json", "--limit", "3").out
    )
    assert doc["count"] == 3 and all("broken" not in m["text"] for m in doc["mentions"])
    assert [m["external_id"] for m in doc["mentions"]] == ["x-b", "x-c", "x-e"], "newest first"
    rows = list(
        csv.DictReader(io.StringIO(cli("--config", config, "mentions", "search", "#acme", "--csv").out))
    )
    assert [r["external_id"] for r in rows] == ["x-b"]
    one = cli("--config", config, "mentions", "search", "acme", "--stream", "globex", "--json")
    assert [m["external_id"] for m in json.loads(one.out)["mentions"]] == ["x-h"]


def test_mentions_search_takes_a_query_that_starts_with_a_negation(config: Path, cli: Any) -> None:
    result = cli("--config", config, "mentions", "search", "-hiring acme", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out), "a query, not an option of the command line"


def test_mentions_search_refuses_bad_input_in_one_line(config: Path, cli: Any) -> None:
    bad = cli("--config", config, "mentions", "search", "acme OR (broken")
    assert bad.code == 2 and bad.err.strip() == "error: unbalanced parenthesis at position 9"
    assert cli("--config", config, "mentions", "search", "acme", "--stream", "nope").code == 2
    assert cli("--config", config, "mentions", "search", "acme", "--json", "--csv").code == 2
    assert "Traceback" not in bad.err


def test_mentions_export_query(config: Path, cli: Any) -> None:
    out = cli("--config", config, "mentions", "export", "--query", "osterreich OR москва")
    assert out.code == 0
    assert sorted(json.loads(line)["external_id"] for line in out.out.splitlines()) == ["x-e", "x-m"]
    assert cli("--config", config, "mentions", "export", "--query", '"open').code == 2


def test_saved_searches_on_the_command_line(config: Path, cli: Any) -> None:
    added = cli("--config", config, "search", "add", "Broken", "acme broken")
    assert added.code == 0
    assert cli("--config", config, "search", "add", "Broken", "acme").code == 2, "names are unique"
    assert cli("--config", config, "search", "add", "Bad", "acme (").code == 2
    listed = json.loads(cli("--config", config, "search", "list", "--json").out)
    assert [(s["name"], s["this_week"], s["previous_week"]) for s in listed] == [("Broken", 2, 0)]
    shown = json.loads(cli("--config", config, "search", "show", "Broken", "--json").out)
    assert {m["external_id"] for m in shown["top_mentions"]} == {"x-a", "x-l"}
    assert sum(d["mentions"] for d in shown["daily"]) == 2 and len(shown["daily"]) == 28
    assert cli("--config", config, "search", "rename", "Broken", "Outages").code == 0
    assert cli("--config", config, "search", "remove", "Outages").code == 0
    assert json.loads(cli("--config", config, "search", "list", "--json").out) == []
    assert cli("--config", config, "search", "remove", "Outages").code == 2


# -- web and API ------------------------------------------------------------------------------------


@pytest.fixture
async def client(config: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(config)
    store = open_store(settings.database_url)
    app = create_app(settings, store, require_login=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        yield c
    store.close()


@pytest.mark.anyio
async def test_web_search_box_and_api_use_the_query_language(client: httpx.AsyncClient) -> None:
    page = (await client.get("/mentions", params={"q": "acme broken"})).text
    assert "Acme Teams is broken" in page and "teams are broken" in page and "Showing 1\u20132 of 2" in page
    bad = (await client.get("/mentions", params={"q": "acme OR (broken"})).text
    assert "unbalanced parenthesis at position 9" in bad and "No mentions match." in bad
    api = (await client.get("/api/v1/mentions", params={"q": '"teams is broken" OR #acme'})).json()
    assert sorted(m["external_id"] for m in api["mentions"]) == ["x-a", "x-b"]
    refused = await client.get("/api/v1/mentions", params={"q": "kind:boss"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "q"


@pytest.mark.anyio
async def test_downloads_hold_every_page_of_the_current_search(client: httpx.AsyncClient) -> None:
    params = {"q": "acme*", "per_page": "2", "page": "3", "sort": "oldest"}
    page = (await client.get("/mentions", params=params)).text
    assert "/mentions/export.csv?" in page and "/mentions/export.jsonl?" in page
    jsonl = await client.get("/mentions/export.jsonl", params=params)
    ids = [json.loads(line)["external_id"] for line in jsonl.text.splitlines()]
    assert ids == [f"x-{k}" for k in "nmlihgfedcba"], "all 12 matches (not one page of 2), oldest first"
    listed = await client.get("/api/v1/mentions", params={"q": "acme*", "per_page": "200", "sort": "oldest"})
    assert ids == [m["external_id"] for m in listed.json()["mentions"]], "same mentions, same order"
    csv_text = (await client.get("/mentions/export.csv", params=params)).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [r["external_id"] for r in rows] == ids
    assert jsonl.headers["content-disposition"].startswith("attachment;")
    assert (await client.get("/mentions/export.csv", params={"q": "("})).status_code == 400


def test_csv_cells_cannot_become_formulas() -> None:
    for hostile in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(hostile) == "'" + hostile
    assert safe_cell("plain") == "plain" and safe_cell(-0.5) == -0.5 and safe_cell(None) == ""
    record = {"id": 1, "text": '=HYPERLINK("http://evil","click")', "author": "@bob", "streams": ["a"]}
    line = "".join(iter_csv([record])).splitlines()[1]
    assert "'=HYPERLINK" in line and ",'@bob," in line


@pytest.mark.anyio
async def test_saved_searches_on_the_web(client: httpx.AsyncClient) -> None:
    form = (await client.get("/searches")).text
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    made = await client.post(
        "/searches", data={"csrf_token": token, "name": "Love", "query": "love OR great"}
    )
    assert made.status_code == 303
    where_to = made.headers["location"]
    shown = (await client.get(where_to)).text
    assert (
        "Love" in shown and "I love #acme" in shown and "e-mail support is great" in shown and "<svg" in shown
    )
    listed = (await client.get("/searches")).text
    assert "love OR great" in listed
    bad = await client.post("/searches", data={"csrf_token": token, "name": "X", "query": "love OR"})
    assert "OR needs a term on each side" in (await client.get(bad.headers["location"])).text
    renamed = await client.post(
        f"{where_to}/rename", data={"csrf_token": token, "name": "Fans", "query": "love"}
    )
    assert renamed.status_code == 303 and "Fans" in (await client.get(where_to)).text
    deleted = await client.post(f"{where_to}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303 and (await client.get(where_to)).status_code == 404
    assert (await client.post("/searches", data={"name": "N", "query": "q1"})).status_code == 403, "CSRF"


def test_the_digest_shows_top_mentions_of_saved_searches(config: Path, cli: Any) -> None:
    from zoneinfo import ZoneInfo

    assert cli("--config", config, "search", "add", "Broken", "acme broken").code == 0
    day = (utcnow() - timedelta(days=3)).astimezone(ZoneInfo("Europe/Vienna")).date()
    year, week, _ = day.isocalendar()
    result = cli("--config", config, "digest", "--week", f"{year}-W{week:02d}", "--json")
    assert result.code == 0, result.err
    (saved,) = json.loads(result.out)["saved_searches"]
    assert saved["name"] == "Broken" and saved["mentions"] + saved["previous"] == 2
    page = config.parent / "digest.html"
    assert cli("--config", config, "digest", "--week", f"{year}-W{week:02d}", "--out", page).code == 0
    assert "Saved searches" in page.read_text(encoding="utf-8")
    assert {m["text"] for m in saved["top_mentions"]} <= {
        "Acme Teams is broken after the update.",
        "new release notes; teams are broken, acme",
    }


def test_collect_applies_a_streams_filter_like_the_search(tmp_path: Path, db_url: str, cli: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """`tracker collect` with `filter`: what is stored is what the same search finds in all items."""
    from connectors.base import Page
    from tests import test_collect

    test_collect.FakeConnector.script, test_collect.FakeConnector.cursors = {}, []
    register_connectors(monkeypatch, {"hackernews": test_collect.FakeConnector})
    t0 = datetime(2026, 9, 1, tzinfo=UTC)
    items = [
        Item(platform=p, external_id=f"x-{k}", text=body, created_at=t0 - timedelta(minutes=i), author=author,
             lang=lang, kind=kind)
        for i, (k, (body, author, p, lang, kind, _s, _st)) in enumerate(DOCS.items())
    ]  # fmt: skip
    test_collect.FakeConnector.script["f"] = [Page(items=items, final=True, complete=True)]
    query = "(acme OR globex) -broken -sentiment:negative"
    path = write_config(tmp_path, db_url=db_url, streams=[{**STREAM, "name": "f", "filter": query}])
    result = cli("--config", path, "collect", "--json")
    assert result.code == 0, result.err
    store = open_store(db_url)
    try:
        with store.read() as session:
            stored = sorted(session.scalars(select(Mention.external_id)))
        expected = sorted(i.external_id for i in items if StreamFilter(query=query, stream="f").apply(i))
        assert stored == expected and 0 < len(stored) < len(items)
        assert json.loads(result.out)[0]["filtered"] == len(items) - len(stored)
        assert not any("broken" in t for t in [DOCS[k.removeprefix("x-")][0] for k in stored])
    finally:
        store.close()


# -- hostile queries ---------------------------------------------------------------------------------

HOSTILE = {
    "deep": "(" * 400 + "acme" + ")" * 400,
    "long": "acme " * 2000,
    "quote": '"acme cloud',
    "star": "*",
    "nul": "acme\x00",
    "nul-author": "author:ja\x00ne",
    "nul-phrase-author": 'author:"ja\x00ne*"',
    "nested-engine": _nested(MAX_DEPTH, '"acme cloud" OR acm*'),
}


@pytest.mark.anyio
async def test_hostile_queries_get_one_clear_answer_on_the_web_and_the_api(client: httpx.AsyncClient) -> None:
    for name, q in HOSTILE.items():
        page = await client.get("/mentions", params={"q": q})
        assert page.status_code == 200, name
        api = await client.get("/api/v1/mentions", params={"q": q})
        assert api.status_code in (200, 422), (name, api.status_code, api.text[:300])
        if api.status_code == 422:
            (problem,) = api.json()["detail"]
            assert problem["field"] == "q" and "\n" not in problem["msg"], name
            assert problem["msg"] in page.text.replace("&#39;", "'"), name
        export = await client.get("/mentions/export.csv", params={"q": q})
        assert export.status_code in (200, 400), name
    nested = (await client.get("/api/v1/mentions", params={"q": HOSTILE["nested-engine"]})).json()
    assert nested["total"] > 0, "ten levels of parentheses are searched, not refused"
    deep = (await client.get("/api/v1/mentions", params={"q": HOSTILE["deep"]})).json()
    assert deep["detail"][0]["msg"] == "parentheses nested more than 10 deep at position 11"
    nul = (await client.get("/api/v1/mentions", params={"q": HOSTILE["nul-author"]})).json()
    assert nul["detail"][0]["msg"] == "control character U+0000 at position 10"


def test_hostile_queries_get_one_line_from_the_command_line(config: Path, cli: Any) -> None:
    for name, q in HOSTILE.items():
        if "\x00" in q:
            continue  # a command line cannot carry a NUL byte
        for command in (("mentions", "search", q), ("mentions", "export", "--query", q), ("search", "add", "x", q)):
            result = cli("--config", config, *command)
            assert "Traceback" not in result.err, (name, command)
            if name == "nested-engine":
                assert result.code == 0, (command, result.err)
            else:
                assert result.code == 2 and result.err.startswith("error: ") and result.err.count("\n") == 1, (
                    name,
                    command,
                    result.err,
                )
