"""One contract suite, run against every connector registered in `tracker.connectors`.

Each connector must: load through its entry point and name its platform; answer an
empty result with exactly one final page and a JSON-serialisable cursor; turn a
server that keeps failing, an HTML page with status 200 and a 401 into
ConnectorError subclasses (never another exception); and send the User-Agent.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest

from connectors._http import HttpClient, HttpPolicy
from connectors.base import AuthRequired, ConnectorError, Page, PayloadError, StreamSpec, Unavailable

SPECS: dict[str, dict[str, Any]] = {
    "mastodon": {"selectors": {"hashtag": "acme"}},
    "bluesky": {"selectors": {"query": "acme"}},
    "hackernews": {"selectors": {"query": "acme"}},
    "reddit": {"selectors": {"query": "acme", "user_agent": "contract-test/1.0"}},
    "rss": {"selectors": {"url": "https://feeds.example/acme.xml"}},
}
EMPTY: dict[str, tuple[str, Any]] = {
    "mastodon": ("json", []),
    "bluesky": ("json", {"posts": []}),
    "hackernews": ("json", {"hits": [], "nbHits": 0, "page": 0, "nbPages": 0, "hitsPerPage": 100}),
    "reddit": ("json", {"kind": "Listing", "data": {"children": [], "after": None, "before": None}}),
    "rss": ("xml", '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'),
}
REGISTERED = sorted(ep.name for ep in entry_points(group="tracker.connectors"))
POLICY = HttpPolicy(retries=2, backoff_base=0.01, user_agent="contract-ua/1")


def test_the_five_built_ins_are_registered() -> None:
    assert {"mastodon", "bluesky", "hackernews", "reddit", "rss"} <= set(REGISTERED)


def load(name: str) -> Any:
    (ep,) = [ep for ep in entry_points(group="tracker.connectors") if ep.name == name]
    return ep.load()


def run(name: str, handler: Any) -> list[Page]:
    async def sleep(_: float) -> None:
        return None

    async def go() -> list[Page]:
        http = HttpClient.create(POLICY, transport=httpx.MockTransport(handler), sleep=sleep)
        try:
            spec = StreamSpec(name=f"{name}-contract", connector=name, **SPECS[name])
            return [page async for page in load(name)(spec, http).pages(None)]
        finally:
            await http.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("name", REGISTERED)
def test_shape(name: str) -> None:
    cls = load(name)
    assert cls.platform == name
    assert inspect.isasyncgenfunction(cls.pages) or callable(cls.pages)
    assert inspect.iscoroutinefunction(cls.account_stats)
    params = list(inspect.signature(cls).parameters)
    assert params[:2] == ["spec", "http"]


@pytest.mark.parametrize("name", REGISTERED)
def test_empty_result_is_one_final_page(name: str) -> None:
    kind, body = EMPTY[name]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if kind == "json":
            return httpx.Response(200, json=body)
        return httpx.Response(200, text=body, headers={"content-type": "application/rss+xml"})

    pages = run(name, handler)
    assert len(pages) == 1 and pages[0].final and pages[0].items == []
    assert pages[0].cursor is not None
    json.dumps(pages[0].cursor)  # storable
    assert 1 <= len(seen) <= 2
    assert all(r.headers["user-agent"] in ("contract-ua/1", "contract-test/1.0") for r in seen)


@pytest.mark.parametrize("name", REGISTERED)
def test_a_server_that_keeps_failing_is_unavailable(name: str) -> None:
    with pytest.raises(Unavailable):
        run(name, lambda request: httpx.Response(503))


@pytest.mark.parametrize("name", REGISTERED)
def test_html_with_status_200_is_a_payload_error(name: str) -> None:
    page = "<!DOCTYPE html><html><body>Maintenance</body></html>"
    with pytest.raises(PayloadError):
        run(name, lambda request: httpx.Response(200, text=page, headers={"content-type": "text/html"}))


@pytest.mark.parametrize("name", REGISTERED)
def test_401_is_auth_required_with_a_message(name: str) -> None:
    with pytest.raises(AuthRequired) as info:
        run(name, lambda request: httpx.Response(401, json={"error": "unauthorized"}))
    assert "401" in str(info.value) or "token" in str(info.value) or "identifier" in str(info.value)


@pytest.mark.parametrize("name", REGISTERED)
def test_connect_errors_are_connector_errors(name: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ConnectorError):
        run(name, refuse)
