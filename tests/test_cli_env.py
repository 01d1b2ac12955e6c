"""$TRACKER_CONFIG is honoured by every command, and a refused sandbox address says what to do."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config

TRACKER = [sys.executable, "-m", "tracker"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sandbox_serve_binds_the_port_of_the_config_named_by_the_environment(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, extra=f"[sandbox]\nseed = 5\nweeks = 1\nport = {port}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # no tracker.toml here: only the environment names the config
    env = {**os.environ, "TRACKER_CONFIG": str(config),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # fmt: skip
    process = subprocess.Popen([*TRACKER, "sandbox", "serve"], cwd=elsewhere, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "sandbox: seed 5, 1 weeks" in first, first + (process.stderr.read() if process.stderr else "")
        urls = [process.stdout.readline() for _ in range(7)]
        assert all(f"127.0.0.1:{port}" in line for line in urls), urls
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("command", [["status", "--json"], ["experiment", "list"], ["mentions", "export"],
                                     ["reflect", "--json"], ["db", "upgrade"]])  # fmt: skip
def test_commands_read_the_config_named_by_the_environment(
    command: list[str], tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setenv("TRACKER_CONFIG", str(config))
    result = cli(*command)
    assert result.code == 0, result.err
    assert (tmp_path / "env.db").exists(), "the database of the config in $TRACKER_CONFIG"


def test_a_missing_config_in_the_environment_is_named(tmp_path: Path, cli: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("TRACKER_CONFIG", str(tmp_path / "gone.toml"))
    result = cli("status")
    assert result.code == 2 and "gone.toml" in result.err and "TRACKER_CONFIG" in result.err


def test_a_refused_sandbox_address_asks_whether_the_sandbox_runs(tmp_path: Path, cli: Any) -> None:
    port = free_port()  # nothing listens there any more
    streams = [{"name": "acme-hn", "connector": "hackernews", "query": "acme", "every": "1h",
                "base_url": f"http://127.0.0.1:{port}"}]  # fmt: skip
    config = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 't.db'}", streams=streams,
                          extra="[collection]\nretries = 0\n")  # fmt: skip
    result = cli("--config", config, "collect")
    assert result.code == 1
    assert "connection refused" in result.err and "is `tracker sandbox serve` running?" in result.err, (
        result.err
    )
