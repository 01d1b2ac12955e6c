"""Child processes do not outlive their parent (issue 17, item 8): `kill -9` of an importer
ends its scoring workers too, instead of leaving them running with PPID 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.support import wait_until
from tracker.sentiment import _cpu_count

pytestmark = pytest.mark.slow


def children(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.skipif(_cpu_count() < 2, reason="with one CPU the import scores in-process")
def test_kill_9_of_an_importer_leaves_no_worker_behind(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    source = tmp_path / "big.jsonl"
    with source.open("w", encoding="utf-8") as out:
        for i in range(120_000):
            line = {"platform": "rss", "external_id": f"m-{i}", "text": f"Acme is great, number {i} loves it",
                    "created_at": "2026-09-01T10:00:00Z", "stream": "imported"}  # fmt: skip
            out.write(json.dumps(line) + "\n")
    importer = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--config", str(config), "mentions", "import", str(source)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: bool(children(importer.pid)) or importer.poll() is not None, "a scoring worker")
        workers = children(importer.pid)
        assert workers and importer.poll() is None, "the import was still running with its workers"
        os.kill(importer.pid, signal.SIGKILL)
        importer.wait(timeout=60)
        wait_until(lambda: not any(alive(pid) for pid in workers), "the workers to end")
    finally:
        if importer.poll() is None:
            importer.kill()
        for pid in children(1):  # never leave one behind, even when the test fails
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if str(source).encode() in handle.read():
                        os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
