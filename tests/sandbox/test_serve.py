"""`serve()` and `python -m tracker.sandbox`: the sandbox in the foreground until told to stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from tests.sandbox.conftest import END
from tests.support import DEADLINE, wait_until
from tracker.sandbox import serve


def test_serve_prints_the_base_urls_and_stops_when_told() -> None:
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=(3, 1, 0), kwargs={"end": END, "out": lines.append, "stop": stop}
    )
    thread.start()
    try:
        wait_until(
            lambda: any("mastodon" in line for line in lines), "the sandbox's URLs", alive=thread.is_alive
        )
        mastodon = next(line.split()[-1] for line in lines if line.strip().startswith("mastodon"))
        control = mastodon.rsplit("/", 1)[0] + "/_sandbox"
        with urllib.request.urlopen(control, timeout=5) as answer:
            assert json.load(answer)["seed"] == 3
        assert any("SANDBOX_BLUESKY_APP_PASSWORD=" in line for line in lines)
    finally:
        stop.set()
        thread.join(timeout=DEADLINE)
    assert not thread.is_alive()


def test_python_m_tracker_sandbox_serves_until_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "tracker.sandbox", "--seed", "2", "--weeks", "1", "--port", "0",
               "--end", END.isoformat()]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("sandbox: seed 2, 1 weeks")
        urls = [process.stdout.readline().split() for _ in range(7)]
        assert [u[0] for u in urls] == ["mastodon", "bluesky", "bluesky-pds", "hackernews", "reddit",
                                        "reddit-oauth", "rss"]  # fmt: skip
        with urllib.request.urlopen(f"{urls[3][1]}/api/v1/search_by_date?query=acme", timeout=5) as answer:
            assert "hits" in json.load(answer)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
