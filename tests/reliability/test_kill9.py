"""Crash safety: `tracker collect` killed with SIGKILL at random moments against the sandbox.

After every kill the database is consistent; the next complete run leaves exactly
the sandbox's items stored: nothing lost, nothing duplicated, every link right.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.sandbox.test_connectors import expected, external_id
from tests.support import running, wait_until
from tracker.sandbox.server import SandboxServer
from tracker.sandbox.world import generate_world

STREAMS = ["acme-mastodon", "acme-bluesky", "acme-hn", "acme-reddit", "acme-news", "acme-owned-mastodon"]


def consistent(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM mention_streams ms LEFT JOIN mentions m ON m.id = ms.mention_id "
                            "WHERE m.id IS NULL").fetchone()[0] == 0  # fmt: skip
        assert conn.execute("SELECT count(*) - count(DISTINCT platform || ' ' || external_id) FROM mentions"
                            ).fetchone()[0] == 0  # fmt: skip
    finally:
        conn.close()


def stored(db: Path) -> dict[str, set[str]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT s.name, m.external_id FROM mention_streams ms JOIN streams s ON s.id = ms.stream_id "
                            "JOIN mentions m ON m.id = ms.mention_id").fetchall()  # fmt: skip
    finally:
        conn.close()
    found: dict[str, set[str]] = {}
    for name, identity in rows:
        found.setdefault(name, set()).add(identity)
    return found


@pytest.mark.slow
def test_collect_killed_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    world = generate_world(seed=7, weeks=3)
    rng = random.Random(20261127)
    with SandboxServer(world, rate_limits={}) as server:
        # Slow answers stretch a run over a few seconds, so the kills land inside it.
        server.faults.add("/", "slow", count=100_000, delay=0.08)
        server.set_now(world.end - timedelta(days=8))  # time moves on between runs: each has new items
        streams = [c for c in server.stream_configs() if c["name"] in STREAMS]
        for stream in streams:
            stream["every"] = "15m"
            stream["backfill"] = 2000
        config = write_config(tmp_path, streams=streams)
        env = {**os.environ, **server.secrets()}
        tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
        subprocess.run([*tracker, "db", "upgrade"], check=True, capture_output=True, env=env)
        db = tmp_path / "tracker.db"
        kills = 0
        for _ in range(6):
            server.advance(timedelta(days=1))
            proc = subprocess.Popen([*tracker, "collect"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=env)  # fmt: skip
            time.sleep(rng.uniform(0.8, 4.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
            consistent(db)
        assert kills >= 4, "the kills must land during runs"
        final = subprocess.run([*tracker, "collect"], capture_output=True, text=True, env=env, timeout=300)
        assert final.returncode == 0, final.stdout + final.stderr
        consistent(db)
        have = stored(db)
        for name in STREAMS:
            want, got = set(expected(server, name, server.now)), have.get(name, set())
            assert want <= got, f"{name}: {len(want - got)} items lost"
            if server.world.stream(name).platform == "rss":  # a feed lists only its latest entries
                ever = {external_id(server, p, name) for p in server.world.posts_of(name, now=server.now)}
                assert got <= ever, f"{name}: items that were never served"
            else:
                assert got == want, f"{name}: {len(got - want)} items that are not on the platform"
        conn = sqlite3.connect(db)
        statuses = [row[0] for row in conn.execute("SELECT status FROM collection_runs")]
        conn.close()
        assert "running" not in statuses, "runs of killed processes are closed as interrupted"


@pytest.mark.slow
def test_import_killed_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    import json

    rows = 60_000
    data = tmp_path / "big.jsonl"
    with data.open("w") as out:
        for i in range(rows):
            out.write(json.dumps({"platform": "rss", "external_id": f"k{i}", "text": f"line {i} is fine",
                                  "lang": "en", "sentiment": 0.1, "likes": i % 7, "stream": f"s{i % 3}",
                                  "created_at": f"2026-09-{1 + i % 28:02d}T10:00:00Z"}) + "\n")  # fmt: skip
    config = write_config(tmp_path)
    tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
    subprocess.run([*tracker, "db", "upgrade"], check=True, capture_output=True)
    db = tmp_path / "tracker.db"
    rng = random.Random(9)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen([*tracker, "mentions", "import", "--create-streams", str(data)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.8, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        consistent(db)
    assert kills >= 2, "the kills must land during imports"
    final = subprocess.run([*tracker, "mentions", "import", "--create-streams", str(data)],
                           capture_output=True, text=True)  # fmt: skip
    assert final.returncode == 0, final.stderr
    consistent(db)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM mentions").fetchone()[0] == rows
        assert conn.execute("SELECT count(*) FROM mention_streams").fetchone()[0] == rows
        # Every mention carries its first figures exactly once in the history.
        assert conn.execute("SELECT count(*) FROM engagement_history").fetchone()[0] == rows
    finally:
        conn.close()


@pytest.mark.slow
def test_digest_send_killed_mid_transaction_never_goes_twice_to_anyone(tmp_path: Path) -> None:
    import asyncio
    import json
    import socket

    from aiosmtpd.controller import Controller

    received: list[str] = []

    class SlowInbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.extend(envelope.rcpt_tos)  # the server has the message ...
            await asyncio.sleep(0.5)  # ... and is slow to say so: a kill now leaves the send in doubt
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtp = Controller(SlowInbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    recipients = [f"r{i}@acme.example" for i in range(12)]
    extra = ("[digest]\nto = [" + ", ".join(f'"{r}"' for r in recipients) + ']\nfrom = "t@acme.example"\n'
             f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n')  # fmt: skip
    config = write_config(tmp_path, extra=extra)
    tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
    try:
        subprocess.run([*tracker, "db", "upgrade"], check=True, capture_output=True)
        proc = subprocess.Popen(
            [*tracker, "digest", "--send"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Kill in the middle of the round, once a third of it has been handed to the server.
        wait_until(lambda: len(received) >= 4, "the first messages", alive=running(proc))
        time.sleep(random.Random(3).uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        consistent(tmp_path / "tracker.db")
        status = json.loads(
            subprocess.run([*tracker, "status", "--json"], capture_output=True, text=True).stdout
        )
        states = {d["recipient"]: d["status"] for d in status["digests"]}
        doubtful = {r for r, s in states.items() if s == "in_doubt"}
        assert doubtful, f"the kill during a transaction leaves a send in doubt: {states}"
        again = subprocess.run([*tracker, "digest", "--send"], capture_output=True, text=True, timeout=120)
        assert again.returncode in (0, 1), again.stderr
        counts = {r: received.count(r) for r in recipients}
        assert all(n <= 1 for n in counts.values()), f"a digest went twice: {counts}"
        missing = [r for r in recipients if counts[r] == 0 and r not in doubtful]
        assert not missing, f"recipients never sent to: {missing}"
        forced = subprocess.run([*tracker, "digest", "--send", "--force"], capture_output=True, text=True,
                                timeout=120)  # fmt: skip
        assert forced.returncode == 0, forced.stderr
        assert all(received.count(r) >= 1 for r in recipients), "--force resends, in doubt ones included"
    finally:
        smtp.stop()
