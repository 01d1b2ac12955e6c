"""Injected faults make the project's HttpClient retry, wait or give up as its policy says."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from connectors._http import HttpPolicy
from connectors.base import AuthRequired, ConnectorError, NotFound, PayloadError, RateLimited, Unavailable
from tests.sandbox.conftest import FAST, Run, collect, spec_for
from tests.support import DEADLINE, wait_until
from tracker.sandbox import SandboxServer, World
from tracker.sandbox.faults import KINDS, Faults

HN = "/hn/api/v1/search_by_date"
# Timeouts far from the faults' own times, so a busy machine cannot blur which side of one a request is:
# SHORT gives up on a hang or a 30 s "slow" answer after 2 s; PATIENT waits out a 0.2 s one with a minute to spare.
SHORT = HttpPolicy(connect_timeout=2, read_timeout=2, retries=2, backoff_base=0.01, backoff_cap=0.05)
PATIENT = HttpPolicy(connect_timeout=60, read_timeout=60, retries=2, backoff_base=0.01, backoff_cap=0.05)


class Sleeps:
    """An HttpClient `sleep` that records what it was asked to wait and returns at once
    (or, with `real=True`, also waits that long)."""

    def __init__(self, *, real: bool = False) -> None:
        self.waits: list[float] = []
        self.real = real

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.real:
            await asyncio.sleep(seconds)


def run_hn(server: SandboxServer, policy: HttpPolicy = FAST, sleep: Any = None) -> Run:
    return collect(server, spec_for(server, "acme-hn"), policy=policy, sleep=sleep)


def statuses(server: SandboxServer) -> list[tuple[int | None, str | None]]:
    return [(r.status, r.fault) for r in server.requests]


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
def test_server_errors_are_retried_then_collection_completes(server: SandboxServer, kind: str) -> None:
    server.faults.add(HN, kind, count=2)
    sleeps = Sleeps()
    run = run_hn(server, sleep=sleeps)
    assert run.final.complete and len(run.ids) == len(server.world.posts_of("acme-hn"))
    assert statuses(server)[:3] == [(int(kind), kind), (int(kind), kind), (200, None)]
    assert len(sleeps.waits) == 2  # one backoff before each retry


def test_server_errors_beyond_the_retries_give_up_as_unavailable(server: SandboxServer) -> None:
    server.faults.add(HN, "503", count=3)
    with pytest.raises(Unavailable, match="gave up after 3 tries"):
        run_hn(server, sleep=Sleeps())


def test_429_retry_after_is_obeyed(server: SandboxServer) -> None:
    server.faults.add(HN, "429", count=1, retry_after=7)
    sleeps = Sleeps()
    run = run_hn(server, sleep=sleeps)
    assert run.final.complete and max(sleeps.waits) > 6.9  # the fake sleep lets no real time pass
    assert server.requests[0].status == 429


def test_429_forever_is_rate_limited(server: SandboxServer) -> None:
    server.faults.add(HN, "429", count=None, retry_after=None)
    with pytest.raises(RateLimited):
        run_hn(server, sleep=Sleeps())
    assert {r.status for r in server.requests} == {429}


@pytest.mark.parametrize("kind", ["truncated", "close", "hang"])
def test_broken_connections_and_silence_are_retried(server: SandboxServer, kind: str) -> None:
    server.faults.add(HN, kind, count=1)
    run = run_hn(server, policy=SHORT)  # a hang ends at SHORT's read timeout, then the retry answers
    assert run.final.complete and len(run.ids) == len(server.world.posts_of("acme-hn"))
    assert server.requests[0].fault == kind and server.requests[1].status == 200


def test_a_slow_answer_within_the_timeout_arrives(server: SandboxServer) -> None:
    server.faults.add(HN, "slow", count=1, delay=0.2)
    run = run_hn(server, policy=PATIENT)
    assert run.final.complete and len(run.ids) == len(server.world.posts_of("acme-hn"))
    assert statuses(server)[0] == (200, "slow") and len(server.requests) == len(run.pages)  # never retried


def test_a_slow_answer_past_the_timeout_is_retried(server: SandboxServer) -> None:
    server.faults.add(HN, "slow", count=1, delay=30.0)
    run = run_hn(server, policy=SHORT)  # SHORT reads for 2 s: the slow answer is given up and retried
    assert run.final.complete
    assert server.requests[0].fault == "slow" and len(server.requests) == len(run.pages) + 1


@pytest.mark.parametrize(("kind", "error", "message"), [
    ("invalid_json", PayloadError, "invalid JSON"),
    ("html_200", PayloadError, "HTML page instead of JSON"),
    ("401", AuthRequired, "HTTP 401"),
    ("403", AuthRequired, "HTTP 403"),
    ("404", NotFound, "HTTP 404"),
])  # fmt: skip
def test_bad_answers_are_not_retried_and_are_reported(
    server: SandboxServer, kind: str, error: type[ConnectorError], message: str
) -> None:
    server.faults.add(HN, kind)
    with pytest.raises(error, match=message):
        run_hn(server)
    assert len(server.requests) == 1


def test_an_html_page_instead_of_a_feed_is_reported(server: SandboxServer) -> None:
    server.faults.add("/rss/acme.atom", "html_200")
    with pytest.raises(PayloadError, match="HTML page"):
        collect(server, spec_for(server, "acme-news"))


def test_a_fault_on_the_login_is_retried_too(server: SandboxServer) -> None:
    server.faults.add("/bluesky-pds/xrpc/com.atproto.server.createSession", "502", method="POST")
    run = collect(server, spec_for(server, "acme-bluesky"))
    assert run.final.complete
    assert [r.status for r in server.requests[:3]] == [502, 200, 200]


def test_the_client_obeys_an_announced_rate_limit_instead_of_hitting_it(world: World) -> None:
    with SandboxServer(world, rate_limits={"mastodon": (2, 0.4)}) as server:
        sleeps = Sleeps(real=True)
        run = collect(server, spec_for(server, "acme-owned-mastodon"), sleep=sleeps)
        assert run.final.complete and len(server.requests) >= 3
        assert all(r.status == 200 for r in server.requests)  # it waited for the reset, never got a 429
        assert sleeps.waits and all(0 < w <= 0.4 + 1 for w in sleeps.waits)  # waits until the reset


def test_stopping_ends_a_hanging_request(world: World) -> None:
    server = SandboxServer(world).start()
    server.faults.add("/hn/", "hang", count=None)
    outcome: list[Any] = []

    def ask() -> None:
        try:
            httpx.get(f"{server.base_url('hackernews')}/api/v1/search_by_date", timeout=DEADLINE)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    wait_until(lambda: len(server.requests) == 1, "the hanging request")
    server.stop()
    thread.join(timeout=DEADLINE)
    assert outcome and isinstance(outcome[0], httpx.HTTPError)
    assert not isinstance(outcome[0], httpx.TimeoutException), "the stop ended it, not the client's timeout"


def test_fault_rules_match_by_prefix_method_and_count() -> None:
    faults = Faults()
    first = faults.add("/a/", "500", count=2, method="GET")
    faults.add("/a/", "503", count=None)
    assert faults.take("POST", "/a/x").kind == "503"  # type: ignore[union-attr]
    assert faults.take("GET", "/a/x") is first and faults.take("GET", "/a/y") is first
    assert faults.take("GET", "/a/x").kind == "503"  # type: ignore[union-attr]
    assert faults.take("GET", "/b/") is None and len(faults) == 1
    assert faults.clear() == 2 and faults.take("GET", "/a/x") is None
    with pytest.raises(ValueError, match="unknown fault kind"):
        faults.add("/a", "teapot")
    with pytest.raises(ValueError, match="start with"):
        faults.add("a", "500")
    assert {"429", "500", "502", "503", "504", "slow", "invalid_json", "html_200", "401", "403", "truncated",
            "hang"} <= set(KINDS)  # fmt: skip
