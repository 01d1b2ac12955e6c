"""`tracker demo`: the whole mission offline, and a workspace that stays usable afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

TRACKER = [sys.executable, "-m", "tracker"]


@pytest.mark.slow
def test_demo_builds_a_workspace_whose_verdicts_match_the_truth(tmp_path: Path) -> None:
    workspace = tmp_path / "demo"
    result = subprocess.run([*TRACKER, "demo", "--dir", str(workspace), "--weeks", "6", "--seed", "3"],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr  # how fast: bench/sandbox_bench.py
    out = result.stdout
    assert "verdicts against the injected truth" in out
    verdict_lines = [line for line in out.splitlines() if line.startswith(("  ok ", "  NO "))]
    assert verdict_lines and all(line.startswith("  ok ") for line in verdict_lines), out
    for name in ("tracker.toml", "tracker.db", "digest.html", "digest.eml"):
        assert (workspace / name).is_file(), name
    assert "Content-Type: multipart/alternative" in (workspace / "digest.eml").read_text()
    config = workspace / "tracker.toml"
    text = config.read_text()
    assert "[sandbox]" in text and "seed = 3" in text

    reflect = subprocess.run(
        [*TRACKER, "--config", str(config), "reflect", "--json"], capture_output=True, text=True
    )
    assert reflect.returncode == 0 and json.loads(reflect.stdout)["stage"]["number"] >= 1
    listed = json.loads(subprocess.run([*TRACKER, "--config", str(config), "experiment", "list", "--json"],
                                       capture_output=True, text=True).stdout)  # fmt: skip
    assert listed and all(e["verdict"] for e in listed)

    # The workspace stays usable: serve the same world again, and collect from it.
    server = subprocess.Popen([*TRACKER, "--config", str(config), "sandbox", "serve"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert "sandbox: seed 3" in first, first
        collect = subprocess.run([*TRACKER, "--config", str(config), "collect"], capture_output=True, text=True,
                                 timeout=120, env=os.environ.copy())  # fmt: skip
        assert collect.returncode == 0, collect.stdout + collect.stderr
        rows = [line.split() for line in collect.stdout.splitlines()[1:]]
        assert rows and all(row[-1] == "ok" for row in rows)
        assert sum(int(row[2]) for row in rows) == 0, (
            "the same world: nothing new after the demo's collection"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0
