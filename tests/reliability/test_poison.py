"""Poison, end to end: one hostile item in a platform's answer never stops its stream.

For every connector and every hostile value of issue 15 (counts beyond 64 bits, times
in year 10000 or in 2100, lone surrogates, NUL characters, 10 MB strings) the sandbox
poisons the first item of one answer; `tracker collect` must finish the stream "ok",
store the item cleaned or count it as rejected with a reason, and the next run must go
on collecting what is new (a post dated 2100 must not have moved the cursor there).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.reliability.test_kill9 import stored
from tests.sandbox.test_connectors import expected
from tracker.sandbox.poison import KINDS
from tracker.sandbox.server import SandboxServer
from tracker.sandbox.world import generate_world

STREAMS = {"mastodon": "acme-mastodon", "bluesky": "acme-bluesky", "hackernews": "acme-hn",
           "reddit": "acme-reddit", "rss": "acme-news"}  # fmt: skip
PREFIX = {"mastodon": "/mastodon", "bluesky": "/bluesky", "hackernews": "/hn", "reddit": "/reddit", "rss": "/rss"}
# What becomes of the poisoned item: stored cleaned, or rejected (never holding the cursor).
REJECTED = {"year_10000", "far_future"}
COLLECTION = '[collection]\nretries = 1\nbackoff = "10ms"\n'


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    world = generate_world(seed=5, weeks=1)
    with SandboxServer(world, require_bluesky_login=False, rate_limits={}) as running:
        yield running


def stored_texts(db: Path, stream: str) -> list[tuple[str, str | None, int | None]]:
    with sqlite3.connect(db) as connection:
        return list(connection.execute(
            "SELECT m.text, m.author, m.likes FROM mentions m JOIN mention_streams ms ON ms.mention_id = m.id "
            "JOIN streams s ON s.id = ms.stream_id WHERE s.name = ?", (stream,)))  # fmt: skip


def cursor_of(db: Path, stream: str) -> dict[str, Any]:
    with sqlite3.connect(db) as connection:
        row = connection.execute(
            "SELECT c.value FROM cursors c JOIN streams s ON s.id = c.stream_id WHERE s.name = ?", (stream,)
        ).fetchone()
    return json.loads(row[0]) if row else {}


FAR = 4_102_444_800  # 2100-01-01T00:00:00Z, the poison's time (tracker/sandbox/poison.py)


def far_times(value: Any) -> list[Any]:
    """The times in a cursor at or after the poison's: ISO dates of year 2100 or later, and epoch
    seconds from then on (not milliseconds). (Not a search for "2100" in its text: a time of
    today such as 09:25:05.521000 holds those digits.)"""
    if isinstance(value, dict):
        return [t for v in value.values() for t in far_times(v)]
    if isinstance(value, list):
        return [t for v in value for t in far_times(v)]
    if isinstance(value, str):
        found = re.match(r"\+?(\d{4,6})-\d\d-\d\d", value)
        return [value] if found and int(found[1]) >= 2100 else []
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [value] if FAR <= value < 10**11 else []  # seconds (milliseconds of today are more)
    return []


@pytest.mark.parametrize("platform", sorted(STREAMS))
@pytest.mark.parametrize("what", KINDS)
def test_one_poisoned_item_never_stops_the_stream(tmp_path: Path, server: SandboxServer, cli: Any,
                                                  platform: str, what: str) -> None:  # fmt: skip
    if platform == "rss" and what == "big_int":
        pytest.skip("feeds carry no counts")
    name = STREAMS[platform]
    table = next(c for c in server.stream_configs() if c["name"] == name)
    config = write_config(tmp_path, streams=[{**table, "every": "15m"}], extra=COLLECTION)
    end = server.world.end
    server.set_now(end - timedelta(days=1))
    server.faults.clear()
    server.faults.add(PREFIX[platform], "poison", count=1, what=what)
    try:
        first = cli("--config", config, "collect", "--json")
    finally:
        server.faults.clear()
    assert "Traceback" not in first.err
    (report,) = json.loads(first.out)
    assert report["status"] == "ok", report
    assert report["new"] > 0
    if what in REJECTED:
        reason = report["rejections"][0]
        assert report["rejected"] == 1 and any(w in reason for w in ("year", "future", "possible")), report
    else:
        assert report["rejected"] == 0, report
    db = tmp_path / "tracker.db"
    rows = stored_texts(db, name)
    assert all("\x00" not in text and len(text) <= 100_000 for text, _, _ in rows)
    assert all("\ud800" not in text for text, _, _ in rows)
    if what in ("surrogate", "nul", "huge") and platform != "rss":
        # the item itself is stored, cleaned (a feed's parser already drops what XML cannot hold)
        assert len(rows) == len(expected(server, name, server.now))
    assert not far_times(cursor_of(db, name)), cursor_of(db, name)

    server.set_now(end)  # a day later: the stream goes on collecting what is new
    second = cli("--config", config, "collect", "--json")
    (again,) = json.loads(second.out)
    assert again["status"] == "ok" and again["new"] > 0, again
    outcome = "rejected: " + report["rejections"][0] if report["rejected"] else "stored cleaned"
    print(f"\n[poison] {platform:<10} {what:<10} run 1 {report['status']} ({outcome}); "
          f"next run {again['status']}, {again['new']} new")  # fmt: skip
    # Nothing lost: the poisoned post, served normally again, is read in the next run's overlap.
    assert stored(db).get(name, set()) == set(expected(server, name, end))


def test_a_feed_entry_without_a_date_is_stored_at_first_sight_and_flagged(tmp_path: Path, server: SandboxServer,
                                                                          cli: Any) -> None:  # fmt: skip
    table = next(c for c in server.stream_configs() if c["name"] == "acme-news")
    config = write_config(tmp_path, streams=[{**table, "every": "15m"}], extra=COLLECTION)
    server.set_now(server.world.end)
    server.faults.clear()
    server.faults.add("/rss", "poison", count=None, what="no_date")
    try:
        for _ in range(2):  # and again: the entry is neither rejected nor moved
            (report,) = json.loads(cli("--config", config, "collect", "--json").out)
            assert report["status"] == "ok" and report["rejected"] == 0, report
    finally:
        server.faults.clear()
    with sqlite3.connect(tmp_path / "tracker.db") as connection:
        flagged = connection.execute("SELECT created_at, first_seen_at FROM mentions WHERE date_estimated").fetchall()
    assert len(flagged) == 1 and flagged[0][0] <= flagged[0][1]  # dated when first seen (parsed just before)
    assert "newest" in cursor_of(tmp_path / "tracker.db", "acme-news")


def test_a_removed_reddit_post_keeps_no_author_and_no_removed_text(tmp_path: Path, server: SandboxServer,
                                                                   cli: Any) -> None:  # fmt: skip
    table = next(c for c in server.stream_configs() if c["name"] == "acme-reddit")
    config = write_config(tmp_path, streams=[{**table, "every": "15m"}], extra=COLLECTION)
    server.set_now(server.world.end)
    server.faults.clear()
    server.faults.add("/reddit", "poison", count=1, what="removed")
    try:
        (report,) = json.loads(cli("--config", config, "collect", "--json").out)
    finally:
        server.faults.clear()
    assert report["status"] == "ok"
    rows = stored_texts(tmp_path / "tracker.db", "acme-reddit")
    assert not any("[removed]" in text or author == "[deleted]" for text, author, _ in rows)
    assert sum(author is None for _, author, _ in rows) == 1


@pytest.mark.parametrize("what", ["nul", "surrogate", "big_int"])
def test_poison_is_stored_cleaned_on_either_database(tmp_path: Path, server: SandboxServer, cli: Any, db_url: str,
                                                     what: str) -> None:  # fmt: skip
    """PostgreSQL refuses NUL in text and JSON and lone surrogates anywhere: the cleaned item goes in."""
    table = next(c for c in server.stream_configs() if c["name"] == "acme-mastodon")
    config = write_config(tmp_path, db_url=db_url, streams=[{**table, "every": "15m"}], extra=COLLECTION)
    server.set_now(server.world.end)
    server.faults.clear()
    server.faults.add("/mastodon", "poison", count=1, what=what)
    try:
        (report,) = json.loads(cli("--config", config, "collect", "--json").out)
    finally:
        server.faults.clear()
    assert report["status"] == "ok" and report["rejected"] == 0, report
    assert report["new"] == len(expected(server, "acme-mastodon", server.now))
