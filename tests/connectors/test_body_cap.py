"""HttpClient's body cap, login requests and the deadline during parsing (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors._http import MB, HttpClient, HttpPolicy
from connectors.base import ConnectorError, PayloadError, RateLimited, StreamSpec
from connectors.rss import mapping
from connectors.rss.connector import RssConnector
from tests.support import rss_feed
from tracker.config import parse_settings

SMALL = HttpPolicy(max_response=2 * MB, retries=0)


def gzipped_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(bytes(size)) + packer.flush()


def send(handler: Any, url: str = "https://api.example/x", policy: HttpPolicy = SMALL, **kw: Any) -> Any:
    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            http = HttpClient(client=client, policy=policy)
            return await http.request("GET" if "json" not in kw else "POST", url, **kw)

    return asyncio.run(go())


def test_a_gzip_bomb_ends_with_a_clear_error() -> None:
    bomb = gzipped_zeros(20 * MB)  # 20 kB on the wire, 20 MB inflated; the cap is 2 MB
    assert len(bomb) < 100_000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})

    with pytest.raises(PayloadError, match=r"response from api\.example/x larger than 2 MB"):
        send(handler)


def test_an_endless_body_is_cut_at_the_cap_without_being_read_to_the_end() -> None:
    sent = [0]

    async def endless() -> AsyncIterator[bytes]:
        while True:
            sent[0] += 1
            yield b"x" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    with pytest.raises(PayloadError, match="larger than 2 MB"):
        send(handler)
    assert sent[0] * 65536 <= 2 * MB + 65536  # read only up to the cap


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * (3 * MB))

    with pytest.raises(PayloadError, match="larger than 2 MB"):
        send(handler)


def test_a_body_under_the_cap_is_read_whole() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=gzipped_zeros(MB), headers={"Content-Encoding": "gzip"})

    assert send(handler).content == bytes(MB)


def test_the_cap_is_configurable_and_documented() -> None:
    settings = parse_settings({"organisation": {"name": "x"}, "collection": {"max_response_mb": 5}},
                              Path("/x/tracker.toml"))  # fmt: skip
    assert settings.collection.max_response_mb == 5
    assert parse_settings({"organisation": {"name": "x"}}, Path("/x/t.toml")).collection.max_response_mb == 20
    example = (Path(__file__).resolve().parents[2] / "config" / "tracker.example.toml").read_text()
    assert "max_response_mb = 20" in example


def test_a_login_is_not_redirected_to_another_origin() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "pds.example":
            return httpx.Response(307, headers={"Location": "https://evil.example/steal"})
        return httpx.Response(200, json={})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True) as client:
            http = HttpClient(client=client, policy=SMALL)
            await http.request("POST", "https://pds.example/login", json={"password": "secret"}, login=True)

    with pytest.raises(ConnectorError, match=r"redirect to https://evil\.example:443; it was not followed"):
        asyncio.run(go())
    assert seen == ["https://pds.example/login"]  # the password went nowhere else


def test_a_login_follows_a_redirect_on_its_own_origin() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(308, headers={"Location": "/new"})
        return httpx.Response(200, json={"ok": True})

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            http = HttpClient(client=client, policy=SMALL)
            return await http.request("POST", "https://pds.example/old", json={}, login=True)

    assert asyncio.run(go()).json() == {"ok": True}


def test_a_login_limit_names_itself_and_does_not_block_the_origin() -> None:
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            return httpx.Response(429, headers={"Retry-After": "86400", "RateLimit-Remaining": "0",
                                                "RateLimit-Reset": "86400"}, json={"error": "RateLimitExceeded"})  # fmt: skip
        return httpx.Response(200, json={"feed": []})

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            http = HttpClient(client=client, policy=HttpPolicy(retries=3), sleep=sleep)
            with pytest.raises(RateLimited, match="30 logins per 5 minutes"):
                await http.request("POST", "https://pds.example/login", json={}, login=True,
                                   errors={429: "30 logins per 5 minutes"})  # fmt: skip
            return await http.request("GET", "https://pds.example/feed")

    assert asyncio.run(go()).status_code == 200
    assert slept == []  # neither the login nor the next request waited out the day


def test_the_run_deadline_interrupts_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    release, entered = threading.Event(), threading.Event()
    real = mapping.parse_feed

    def slow_parse(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(mapping, "parse_feed", slow_parse)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=rss_feed(3), headers={"Content-Type": "application/rss+xml"})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            spec = StreamSpec(name="f", connector="rss", selectors={"url": "https://feeds.example/a.xml"})
            connector = RssConnector(spec, HttpClient(client=client))

            async def deadline() -> None:
                await asyncio.to_thread(entered.wait, 10)  # parsing has begun ...
                task.cancel()  # ... when the run's deadline strikes (asyncio.timeout cancels alike)

            task = asyncio.ensure_future(anext(connector.pages(None)))
            watcher = asyncio.ensure_future(deadline())
            with pytest.raises(asyncio.CancelledError):
                await task
            await watcher
            assert not release.is_set()  # the run ended while the parser was still busy ...
            release.set()  # ... which then finishes on its own

    try:
        asyncio.run(go())
    finally:
        release.set()
