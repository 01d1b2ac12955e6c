"""Bombs and floods from the sandbox, through `tracker collect`: a gzip bomb and a feed far
larger than the cap each end that stream's request with one clear line; the other streams
are collected, and the next run (the bomb gone) is complete."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tracker.sandbox.server import SandboxServer
from tracker.sandbox.world import generate_world

STREAMS = ("acme-hn", "acme-news")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(generate_world(seed=3, weeks=1), require_bluesky_login=False, rate_limits={}) as running:
        yield running


@pytest.mark.parametrize(("prefix", "kind", "stream"), [("/hn", "bomb", "acme-hn"), ("/rss", "flood", "acme-news")])
def test_a_bomb_ends_only_its_request_with_a_clear_error(tmp_path: Path, server: SandboxServer, cli: Any,
                                                         prefix: str, kind: str, stream: str) -> None:  # fmt: skip
    tables = [{**c, "every": "15m"} for c in server.stream_configs() if c["name"] in STREAMS]
    config = write_config(tmp_path, streams=tables, extra='[collection]\nretries = 0\nmax_response_mb = 5\n')
    server.faults.clear()
    server.faults.add(prefix, kind, count=1, size=60)  # 60 MB inflated / long; the cap is 5 MB
    first = cli("--config", config, "collect", "--json")
    assert "Traceback" not in first.err
    reports = {r["stream"]: r for r in json.loads(first.out)}
    broken = reports.pop(stream)
    assert broken["status"] == "failed"
    assert "larger than 5 MB" in broken["error"] and "max_response_mb" in broken["error"], broken
    assert all(r["status"] == "ok" and r["new"] > 0 for r in reports.values())
    again = json.loads(cli("--config", config, "collect", "--json").out)
    assert {r["stream"]: r["status"] for r in again} == dict.fromkeys(STREAMS, "ok")
