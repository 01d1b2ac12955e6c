"""One contract suite, run against every connector registered in `tracker.connectors`.

Each connector must: load through its entry point and name its platform; answer an
empty result with exactly one final page and a JSON-serialisable cursor; turn a
server that keeps failing, an HTML page with status 200 and a 401 into
ConnectorError subclasses (never another exception); and send the User-Agent.

What a stream of each connector looks like, and what its platform answers when nothing
matches, is declared by the connector itself (a `ContractCase` registered in the
`tracker.connector_contracts` entry points, `connectors/<name>/contract.py` for the
built-ins): the suite knows no connector by name, and a third-party one that registers
both entry points is checked exactly as a built-in (test_a_third_party_connector_is_checked_too).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import types
from collections.abc import AsyncIterator, Callable
from importlib import metadata
from typing import Any

import httpx
import pytest

from connectors._http import HttpClient, HttpPolicy
from connectors.base import (
    AccountStats,
    AuthRequired,
    ConnectorError,
    ContractCase,
    Cursor,
    Page,
    PayloadError,
    StreamSpec,
    Unavailable,
)

CONNECTORS, CONTRACTS = "tracker.connectors", "tracker.connector_contracts"
POLICY = HttpPolicy(retries=2, backoff_base=0.01, user_agent="contract-ua/1")
Handler = Callable[[httpx.Request], httpx.Response]


def entry_points(group: str) -> list[metadata.EntryPoint]:
    """The installed entry points of a group (a test registers a third-party one here)."""
    return list(metadata.entry_points(group=group))


def registered() -> list[str]:
    return sorted(ep.name for ep in entry_points(CONNECTORS))


def load(name: str) -> Any:
    (ep,) = [ep for ep in entry_points(CONNECTORS) if ep.name == name]
    return ep.load()


def contract(name: str) -> ContractCase:
    found = [ep for ep in entry_points(CONTRACTS) if ep.name == name]
    assert found, f"connector {name} registers no {CONTRACTS} entry point (its ContractCase)"
    case = found[0].load()
    assert isinstance(case, ContractCase), f"{found[0].value} is not a ContractCase"
    return case


def run(name: str, handler: Handler) -> list[Page]:
    async def sleep(_: float) -> None:
        return None

    async def go() -> list[Page]:
        http = HttpClient.create(POLICY, transport=httpx.MockTransport(handler), sleep=sleep)
        try:
            spec = StreamSpec(name=f"{name}-contract", connector=name, selectors=dict(contract(name).selectors))
            return [page async for page in load(name)(spec, http).pages(None)]
        finally:
            await http.aclose()

    return asyncio.run(go())


# -- the checks, each over one registered connector ------------------------------------------


def check_shape(name: str) -> None:
    cls = load(name)
    assert cls.platform == name
    assert inspect.isasyncgenfunction(cls.pages) or callable(cls.pages)
    assert inspect.iscoroutinefunction(cls.account_stats)
    params = list(inspect.signature(cls).parameters)
    assert params[:2] == ["spec", "http"]


def check_empty_result_is_one_final_page(name: str) -> None:
    case = contract(name)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=case.empty_body, headers={"content-type": case.empty_type})

    pages = run(name, handler)
    assert len(pages) == 1 and pages[0].final and pages[0].items == []
    assert pages[0].cursor is not None
    json.dumps(pages[0].cursor)  # storable
    assert 1 <= len(seen) <= 2
    agents = {POLICY.user_agent, case.selectors.get("user_agent")}  # the stream's own, when it names one
    assert all(r.headers["user-agent"] in agents for r in seen)


def check_a_server_that_keeps_failing_is_unavailable(name: str) -> None:
    with pytest.raises(Unavailable):
        run(name, lambda request: httpx.Response(503))


def check_html_with_status_200_is_a_payload_error(name: str) -> None:
    page = "<!DOCTYPE html><html><body>Maintenance</body></html>"
    with pytest.raises(PayloadError):
        run(name, lambda request: httpx.Response(200, text=page, headers={"content-type": "text/html"}))


def check_401_is_auth_required_with_a_message(name: str) -> None:
    with pytest.raises(AuthRequired) as info:
        run(name, lambda request: httpx.Response(401, json={"error": "unauthorized"}))
    assert "401" in str(info.value) or "token" in str(info.value) or "identifier" in str(info.value)


def check_connect_errors_are_connector_errors(name: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ConnectorError):
        run(name, refuse)


CHECKS = [
    check_shape,
    check_empty_result_is_one_final_page,
    check_a_server_that_keeps_failing_is_unavailable,
    check_html_with_status_200_is_a_payload_error,
    check_401_is_auth_required_with_a_message,
    check_connect_errors_are_connector_errors,
]


def test_the_five_built_ins_are_registered() -> None:
    assert {"mastodon", "bluesky", "hackernews", "reddit", "rss"} <= set(registered())


def test_every_registered_connector_declares_its_contract_case() -> None:
    for name in registered():
        contract(name)
    strays = {ep.name for ep in entry_points(CONTRACTS)} - set(registered())
    assert not strays, f"contract cases of no registered connector: {sorted(strays)}"


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("name", registered())
def test_contract(name: str, check: Callable[[str], None]) -> None:
    check(name)


# -- a third-party connector, registered the way an installed plugin would be ----------------

PLUGIN = "contract_thirdparty_plugin"


class EchoConnector:
    """A plugin's connector: one JSON search of `https://echo.example/search?q=...`."""

    platform = "echo"

    def __init__(self, spec: StreamSpec, http: HttpClient) -> None:
        self.spec, self.http = spec, http

    async def pages(self, cursor: Cursor | None) -> AsyncIterator[Page]:
        url, word = "https://echo.example/search", self.spec.selectors["word"]
        body, _ = await self.http.get_json(url, params={"q": word}, errors={401: "echo needs a token"})
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise PayloadError("echo answered with something other than its search results")
        yield Page(items=[], cursor={"seen": len(body["results"])}, final=True, complete=True)

    async def account_stats(self) -> AccountStats | None:
        return None


@pytest.fixture
def third_party(monkeypatch: pytest.MonkeyPatch) -> str:
    """`echo` registered beside the built-ins in both entry-point groups of an installed plugin."""
    module = types.ModuleType(PLUGIN)
    module.EchoConnector = EchoConnector  # type: ignore[attr-defined]
    module.CONTRACT = ContractCase(selectors={"word": "acme"}, empty_body='{"results": []}')  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PLUGIN, module)
    plugin = {
        CONNECTORS: metadata.EntryPoint("echo", f"{PLUGIN}:EchoConnector", CONNECTORS),
        CONTRACTS: metadata.EntryPoint("echo", f"{PLUGIN}:CONTRACT", CONTRACTS),
    }
    installed = entry_points
    monkeypatch.setattr(sys.modules[__name__], "entry_points", lambda group: [*installed(group), plugin[group]])
    return "echo"


def test_a_third_party_connector_is_checked_too(third_party: str) -> None:
    assert third_party in registered()
    test_every_registered_connector_declares_its_contract_case()
    for check in CHECKS:
        check(third_party)


def test_a_third_party_connector_without_a_contract_case_is_named(
    third_party: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_case = entry_points
    monkeypatch.setattr(
        sys.modules[__name__], "entry_points",
        lambda group: [ep for ep in with_case(group) if not (group == CONTRACTS and ep.name == third_party)],
    )  # fmt: skip
    with pytest.raises(AssertionError, match=r"echo registers no tracker\.connector_contracts"):
        test_every_registered_connector_declares_its_contract_case()
