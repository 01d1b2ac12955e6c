"""The fault matrix, end to end: every fault the sandbox injects, on every connector, through
`tracker collect`. Healthy streams are collected while the faulty one fails; the exit
status and `status` say which failed and why; once the fault is gone, the next run
completes with nothing lost and nothing duplicated."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.reliability.test_kill9 import stored
from tests.sandbox.test_connectors import expected
from tracker.sandbox.server import SandboxServer
from tracker.sandbox.world import generate_world

STREAMS = {"mastodon": "acme-mastodon", "bluesky": "acme-bluesky", "hackernews": "acme-hn",
           "reddit": "acme-reddit", "rss": "acme-news"}  # fmt: skip
PREFIX = {
    "mastodon": "/mastodon",
    "bluesky": "/bluesky",
    "hackernews": "/hn",
    "reddit": "/reddit",
    "rss": "/rss",
}
FAULTS = {
    "429": "429", "500": "HTTP 500", "502": "HTTP 502", "503": "HTTP 503", "504": "HTTP 504",
    "hang": "", "invalid_json": "invalid JSON", "html_200": "HTML page", "truncated": "",
    "401": "401", "403": "403",
}  # fmt: skip
# A hang ends at the read timeout (3 tries of 3 s); the run deadline is only reached when something
# is broken, so it is generous: on a busy machine a healthy stream's run can take many seconds.
COLLECTION = '[collection]\nretries = 2\nbackoff = "10ms"\nconnect_timeout = "3s"\nread_timeout = "3s"\n'
RUN_TIMEOUT = "300s"

pytestmark = pytest.mark.slow  # some 60 collections through the CLI: minutes, so CI's second step


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    world = generate_world(seed=11, weeks=2)
    with SandboxServer(world, require_bluesky_login=False, rate_limits={}) as running:
        yield running


def workspace(tmp_path: Path, server: SandboxServer, **overrides: dict[str, Any]) -> Path:
    streams = []
    for config in server.stream_configs():
        if config["name"] in STREAMS.values():
            streams.append(
                {**config, "every": "15m", "run_timeout": RUN_TIMEOUT, **overrides.get(config["name"], {})}
            )
    return write_config(tmp_path, streams=streams, extra=COLLECTION)


def check_complete(tmp_path: Path, server: SandboxServer) -> None:
    have = stored(tmp_path / "tracker.db")
    for name in STREAMS.values():
        want = set(expected(server, name, server.now))
        assert have.get(name, set()) == want, f"{name}: {len(want - have.get(name, set()))} lost"


@pytest.mark.parametrize("platform", sorted(STREAMS))
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_one_platform_fails_the_others_are_collected_and_nothing_is_lost(
    tmp_path: Path, server: SandboxServer, cli: Any, platform: str, fault: str
) -> None:
    config = workspace(tmp_path, server)
    server.faults.clear()
    server.faults.add(PREFIX[platform], fault, count=None)
    try:  # a hanging platform is bounded by the read timeout and retries of COLLECTION, not waited for
        first = cli("--config", config, "collect", "--json")
    finally:
        server.faults.clear()
    assert first.code == 1, first.err
    reports = {r["stream"]: r for r in json.loads(first.out)}
    broken = reports.pop(STREAMS[platform])
    assert broken["status"] in ("failed", "partial") and broken["error"]
    wanted = "not an RSS or Atom feed" if (platform, fault) == ("rss", "invalid_json") else FAULTS[fault]
    assert wanted in broken["error"], broken["error"]
    assert all(r["status"] == "ok" and r["new"] > 0 for r in reports.values()), reports
    status = json.loads(cli("--config", config, "status", "--json").out)["streams"]
    said = {s["name"]: s for s in status}
    assert said[STREAMS[platform]]["last_run"]["status"] == broken["status"]
    assert said[STREAMS[platform]]["last_error"]["error"] == broken["error"]
    again = cli("--config", config, "collect")
    assert again.code == 0, again.out + again.err
    check_complete(tmp_path, server)


@pytest.mark.parametrize("platform", sorted(p for p in STREAMS if p != "rss"))
def test_schema_drift_keeps_the_valid_items_and_counts_the_rest(tmp_path: Path, server: SandboxServer, cli: Any,
                                                                 platform: str) -> None:  # fmt: skip
    config = workspace(tmp_path, server)
    server.faults.clear()
    server.faults.add(PREFIX[platform], "drift", count=None)
    try:
        first = cli("--config", config, "collect", "--json")
    finally:
        server.faults.clear()
    report = {r["stream"]: r for r in json.loads(first.out)}[STREAMS[platform]]
    assert report["status"] == "ok" and report["rejected"] >= 1 and report["new"] > 0, report
    assert "Traceback" not in first.err
    assert cli("--config", config, "collect").code == 0
    check_complete(tmp_path, server)


def test_connection_refused_fails_only_that_stream(tmp_path: Path, server: SandboxServer, cli: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    config = workspace(tmp_path, server, **{"acme-hn": {"base_url": f"http://127.0.0.1:{closed}/hn"}})
    result = cli("--config", config, "collect", "--json")
    assert result.code == 1
    reports = {r["stream"]: r for r in json.loads(result.out)}
    assert reports["acme-hn"]["status"] == "failed" and "cannot connect" in reports["acme-hn"]["error"]
    assert all(r["status"] == "ok" for name, r in reports.items() if name != "acme-hn")
