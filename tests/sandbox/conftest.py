"""Fixtures of the sandbox tests: worlds (built once per session), a running server per test,
and a helper that runs a real connector against it to the end."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors._http import HttpClient, HttpPolicy
from connectors.base import AccountStats, Item, Page, StreamSpec
from connectors.bluesky.connector import BlueskyConnector
from connectors.hackernews.connector import HackerNewsConnector
from connectors.mastodon.connector import MastodonConnector
from connectors.reddit.connector import RedditConnector
from connectors.rss.connector import RssConnector
from tracker.collect import stream_spec
from tracker.config import parse_settings
from tracker.sandbox import SandboxServer, World, generate_world

ZONE = ZoneInfo("Europe/Vienna")
END = datetime(2026, 3, 2, tzinfo=ZONE)  # a local midnight: the last day (1 March) is complete
SEED = 7
FAST = HttpPolicy(connect_timeout=2, read_timeout=2, retries=2, backoff_base=0.01, backoff_cap=0.05)
CONNECTORS: dict[str, Any] = {
    "mastodon": MastodonConnector,
    "bluesky": BlueskyConnector,
    "hackernews": HackerNewsConnector,
    "reddit": RedditConnector,
    "rss": RssConnector,
}


@pytest.fixture(scope="session")
def big_world() -> World:
    """Twelve weeks, as the demo has: for the statistical shape and the experiments."""
    return generate_world(SEED, 12, END)


@pytest.fixture(scope="session")
def world() -> World:
    """Four weeks: small enough that every end-to-end collection takes a fraction of a second."""
    return generate_world(SEED, 4, END)


@pytest.fixture
def server(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world) as running:
        yield running


@dataclass
class Run:
    """What one connector run yielded."""

    pages: list[Page] = field(default_factory=list)
    stats: AccountStats | None = None

    @property
    def items(self) -> list[Item]:
        return [item for page in self.pages for item in page.items]

    @property
    def ids(self) -> list[str]:
        return [item.external_id for item in self.items]

    @property
    def final(self) -> Page:
        assert self.pages and self.pages[-1].final
        return self.pages[-1]


def spec_for(server: SandboxServer, name: str, **changes: Any) -> StreamSpec:
    """The StreamSpec the tracker builds from server.stream_configs()'s table of `name`: the table
    goes through the real config validation and tracker.collect.stream_spec, secrets from the env."""
    table = next(c for c in server.stream_configs() if c["name"] == name) | changes
    settings = parse_settings(
        {"organisation": {"name": "Sandbox test"}, "streams": [{"every": "15m", **table}]},
        Path("/x/tracker.toml"),
    )
    saved = {key: os.environ.get(key) for key in server.secrets()}
    os.environ.update(server.secrets())
    try:
        return stream_spec(settings.streams[0])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def collect(
    server: SandboxServer,
    spec: StreamSpec,
    cursor: dict[str, Any] | None = None,
    *,
    policy: HttpPolicy = FAST,
    http: HttpClient | None = None,
    connector: Any = None,
    stats: bool = False,
    sleep: Any = None,
) -> Run:
    """Run the stream's real connector to its final page, its clock pinned to the server's now.

    The HttpClient is built inside the run's event loop (`sleep` replaces its waiting).
    """

    async def go() -> Run:
        client = http or HttpClient.create(policy, **({"sleep": sleep} if sleep else {}))
        try:
            found = connector or make_connector(server, spec, client)
            run = Run()
            async for page in found.pages(cursor):
                run.pages.append(page)
            run.stats = await found.account_stats() if stats else None
            return run
        finally:
            if http is None:
                await client.aclose()

    return asyncio.run(go())


def make_connector(server: SandboxServer, spec: StreamSpec, http: HttpClient) -> Any:
    """A connector whose idea of "now" (owned refresh windows) is the server's: its HttpClient's clock."""
    return CONNECTORS[spec.connector](spec, replace(http, now=lambda: server.now))
