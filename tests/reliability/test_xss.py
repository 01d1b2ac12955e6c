"""A corpus of XSS payloads in mention text, author names, URLs and experiment fields is
shown as text on every web page and in the digest: no script runs, no handler, no
javascript: link. Search and filter parameters are bound, never interpolated into SQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import write_config
from tracker.config import load_settings
from tracker.experiments import ExperimentInput, Registry
from tracker.maturity import load_model
from tracker.store.db import open_store

PAYLOADS = [
    "<script>alert('x1')</script>",
    '"><img src=x onerror=alert(2)>',
    "<svg/onload=alert(3)>",
    "javascript:alert(4)",
    '<a href="javascript:alert(5)">click</a>',
    "';alert(6);//",
    "<iframe src=//evil.example></iframe>",
    "{{7*7}} {% print 8 %}",
    "<style>body{display:none}</style>",
    "\u202e<b>bold</b>&lt;script&gt;",
]
ZONE = ZoneInfo("Europe/Vienna")
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Audit(HTMLParser):
    """Collects what would run: script tags, on* handlers, javascript: URLs, iframes, styles in body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed"):
            src = dict(attrs).get("src") or ""
            if tag != "script" or not src.startswith("/"):
                self.problems.append(f"<{tag}> {attrs}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"handler {name}={value!r} on <{tag}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"{name}={value!r} on <{tag}>")


def audit(html: str, where: str) -> None:
    parser = Audit()
    parser.feed(html)
    assert parser.problems == [], f"{where}: {parser.problems}"


@pytest.fixture
def hostile(tmp_path: Path) -> Any:
    config = write_config(tmp_path, streams=[
        {"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"},
    ])  # fmt: skip
    today = datetime.now(ZONE).date()
    lines = []
    for i in range(70):
        day = today - timedelta(days=i + 1)
        for n, payload in enumerate(PAYLOADS):
            lines.append({"platform": "rss", "external_id": f"x-{day}-{n}", "text": f"Acme {payload} news",
                          "author": payload, "url": f"https://evil.example/{payload}", "likes": 10 + n,
                          "created_at": f"{day}T1{n % 10}:00:00+01:00", "stream": "brand", "lang": "en"})  # fmt: skip
    (tmp_path / "h.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    settings = load_settings(config)
    store = open_store(settings.database_url)
    from tracker.mentions import import_file

    report = import_file(store=store, settings=settings, path=tmp_path / "h.jsonl", fmt="jsonl")
    assert not report.rejected, report.rejected[:3]
    registry = Registry(store, settings, load_model(settings))
    for n, payload in enumerate(PAYLOADS):
        record, _ = registry.add(ExperimentInput(
            title=f"T {payload}", hypothesis=f"H {payload}", practice="shepherd", metric="mentions",
            streams=["brand"], start=today - timedelta(days=20), end=today - timedelta(days=6),
            owner=payload, team=payload,
        ))  # fmt: skip
        registry.note(record["id"], f"N {payload}", author=payload)
        if n % 2:
            registry.conclude(record["id"], f"L {payload}", "reject")
    yield settings, store, today
    store.close()


async def test_every_page_shows_the_corpus_as_text(hostile: Any) -> None:
    from tracker.web.app import create_app

    settings, store, _ = hostile
    app = create_app(settings, store, require_login=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        ids = [e["id"] for e in (await client.get("/api/v1/experiments")).json()]
        paths = ["/", "/mentions", "/mentions?sort=engagement", "/experiments", "/experiments/new", "/maturity",
                 "/sources"] + [f"/experiments/{i}" for i in ids]  # fmt: skip
        paths += [f"/mentions?q={httpx.QueryParams({'q': p})['q']}" for p in PAYLOADS]
        for path in paths:
            response = await client.get(path)
            assert response.status_code == 200, path
            audit(response.text, path)
        assert "&lt;script&gt;alert(&#39;x1&#39;)&lt;/script&gt;" in (await client.get("/mentions")).text


async def test_search_and_filters_are_bound_not_interpolated(hostile: Any) -> None:
    from tracker.web.app import create_app

    settings, store, _ = hostile
    app = create_app(settings, store, require_login=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        total = (await client.get("/api/v1/mentions", params={"per_page": 1})).json()["total"]
        for injection in ("' OR '1'='1", "%' OR 1=1 --", "brand'; DROP TABLE mentions; --", "_%", "\\"):
            for key in ("q", "stream", "platform"):
                response = await client.get("/api/v1/mentions", params={key: injection})
                assert response.status_code in (200, 422), (key, injection)
                if response.status_code == 200:
                    assert response.json()["total"] < total, (key, injection)
        assert (await client.get("/api/v1/mentions", params={"per_page": 1})).json()["total"] == total


def test_the_digest_shows_the_corpus_as_text(hostile: Any, tmp_path: Path) -> None:
    from tracker.digest.service import write_digest_files

    settings, store, today = hostile
    monday = today - timedelta(days=today.weekday() + 7)
    week = f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}"
    (tmp_path / "out").mkdir()
    files = write_digest_files(settings, store, tmp_path / "out", week=week)
    html = files["html"].read_text()
    audit(html, "digest.html")
    assert "evil.example" in html and "&lt;script&gt;" in html
    import email
    from email import policy

    message = email.message_from_bytes(files["eml"].read_bytes(), policy=policy.default)
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    audit(html_part.get_content(), "digest.eml text/html")  # the text/plain part is text by nature


def test_import_keeps_hostile_text_exactly(hostile: Any) -> None:
    from sqlalchemy import select

    from tracker.store.models import Mention

    _, store, _ = hostile
    with store.read() as session:
        authors = set(session.scalars(select(Mention.author)))
    assert authors == set(PAYLOADS), "stored as given: escaping is the job of each output"
