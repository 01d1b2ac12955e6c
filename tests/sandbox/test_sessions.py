"""Sessions as the platforms require them now (issue 15, item 6), end to end against the sandbox.

A `tracker run` worker keeps its Bluesky session in memory (the HttpClient it shares
between runs) and refreshes it with refreshSession: createSession is limited to 30 per 5
minutes and 300 a day per account, and the sandbox enforces that (`login_limits`).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors._http import HttpClient
from tests.sandbox.conftest import FAST
from tracker.collect import collect
from tracker.config import parse_settings
from tracker.sandbox import SandboxServer, World
from tracker.store.db import open_store


def settings_for(server: SandboxServer, tmp_path: Path, *names: str) -> Any:
    tables = [{**c, "every": "10s"} for c in server.stream_configs() if c["name"] in names]
    raw = {"organisation": {"name": "t"}, "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
           "streams": tables}  # fmt: skip
    return parse_settings(raw, tmp_path / "tracker.toml")


def calls(server: SandboxServer, nsid: str) -> int:
    return sum(1 for r in server.requests if r.path.endswith(nsid))


@pytest.mark.slow
def test_a_worker_logs_in_once_in_ten_minutes_of_runs_every_ten_seconds(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(world, login_limits=True, rate_limits={}) as server:
        for key, value in server.secrets().items():
            monkeypatch.setenv(key, value)
        settings = settings_for(server, tmp_path, "acme-bluesky", "acme-owned-bluesky")
        store = open_store(settings.database_url)
        statuses: list[str] = []

        async def worker() -> None:
            http = HttpClient.create(FAST)  # one client for the worker's life, as `tracker run` has
            try:
                for tick in range(60):  # 10 minutes, a run every 10 seconds
                    if tick == 30:
                        server.expire_sessions("bluesky")  # the access token's two hours are up
                    reports = await collect(settings=settings, store=store, streams=settings.streams, http=http)
                    statuses.extend(report.status for report in reports)
                    server.advance(timedelta(seconds=10))
            finally:
                await http.aclose()

        server.set_now(world.end - timedelta(minutes=10))
        asyncio.run(worker())
        store.close()
        logins = calls(server, "createSession")
        print(f"\n[sessions] 10 min of runs every 10 s: {logins} login(s), "
              f"{calls(server, 'refreshSession')} refresh(es), {len(statuses)} runs")  # fmt: skip
        assert logins == 1
        assert calls(server, "refreshSession") == 1  # after the expiry, refreshed, not logged in again
        assert set(statuses) == {"ok"}


@pytest.mark.slow
def test_one_off_collections_past_the_login_limit_say_so(world: World, tmp_path: Path, cli: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from tests.conftest import write_config

    with SandboxServer(world, login_limits=True, rate_limits={}) as server:
        for key, value in server.secrets().items():
            monkeypatch.setenv(key, value)
        tables = [{**c, "every": "15m"} for c in server.stream_configs()
                  if c["name"] in ("acme-bluesky", "acme-owned-bluesky")]  # fmt: skip
        config = write_config(tmp_path, streams=tables)
        import json

        for _ in range(30):  # each `tracker collect` is its own process: it logs in each time
            cli("--config", config, "collect", "--stream", "acme-bluesky")
        result = cli("--config", config, "collect", "--json")
        reports = {r["stream"]: r for r in json.loads(result.out)}
        limited = reports["acme-bluesky"]
        assert limited["status"] == "failed" and "30 per 5 minutes" in limited["error"], limited
        # the login limit is the account's: the anonymous owned stream on the same host still runs
        assert reports["acme-owned-bluesky"]["status"] == "ok", reports
