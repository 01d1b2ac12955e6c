"""Alert episodes on a schedule (issue 20): parsed from --episode and [sandbox] episodes, served when
their time comes, and each one makes its own alert's condition hold (the rules of tracker/alerts.py
on the world's posts) while the others stay quiet."""

from __future__ import annotations

import json
import tomllib
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.sandbox.conftest import END
from tracker.alerts import sentiment_verdict
from tracker.config import ConfigError, parse_settings
from tracker.query import matches
from tracker.sandbox import SandboxServer, World
from tracker.sandbox.episodes import Episode, EpisodeError, parse_episode, schedule
from tracker.sandbox.mastodon import status_uri
from tracker.spikes import spike_verdict

HOUR = timedelta(hours=1)
START = END.astimezone(UTC) + timedelta(hours=10)  # 10:00 local on the day after the world's end


def test_parse_episode_from_the_command_line() -> None:
    assert parse_episode("spike@+2m") == Episode("spike", after=timedelta(minutes=2))
    assert parse_episode("keyword:acme-bluesky@2026-12-02T10:00:00Z") == Episode(
        "keyword", at=datetime(2026, 12, 2, 10, tzinfo=UTC), stream="acme-bluesky"
    )
    for bad, said in (
        ("storm@+2m", "KIND one of spike, sentiment_drop, keyword"),
        ("spike", "expected KIND[:STREAM]@WHEN"),
        ("spike@+soon", "expected a duration after '+'"),
        ("spike@2026-12-02T10:00:00", "timestamp with offset"),
    ):
        with pytest.raises(ValueError, match="expected") as caught:
            parse_episode(bad)
        assert said in str(caught.value)


def test_sandbox_episodes_in_the_config_are_validated_each_problem_named() -> None:
    raw = tomllib.loads(
        """
[organisation]
name = "Acme"
timezone = "Europe/Vienna"
[[sandbox.episodes]]
kind = "spike"
after = "2m"
posts = 60
span = "5m"
[[sandbox.episodes]]
kind = "keyword"
at = 2026-12-02T10:00:00Z
keyword = "breach"
stream = "acme-reddit"
[[sandbox.episodes]]
kind = "storm"
at = "noon"
after = "2m"
keyword = "x"
sparks = 3
"""
    )
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, Path("/x/tracker.toml"))
    problems = "\n".join(caught.value.problems)
    assert "sandbox.episodes[2].kind: expected one of spike, sentiment_drop, keyword, got 'storm'" in problems
    assert "sandbox.episodes[2]: give its start as at (a timestamp) or after" in problems
    assert "sandbox.episodes[2].sparks" in problems
    assert "sandbox.episodes[0]" not in problems and "sandbox.episodes[1]" not in problems
    del raw["sandbox"]["episodes"][2]
    sandbox = parse_settings(raw, Path("/x/tracker.toml")).sandbox
    assert sandbox is not None
    spike, keyword = sandbox.episodes
    assert spike == Episode("spike", after=timedelta(minutes=2), posts=60, span=timedelta(minutes=5))
    assert keyword.at == datetime(2026, 12, 2, 10, tzinfo=UTC) and keyword.keyword == "breach"


def test_an_episode_on_an_unknown_or_owned_stream_is_refused_in_words(world: World) -> None:
    with pytest.raises(EpisodeError, match="no such mention stream") as caught:
        schedule(world, [Episode("spike", at=START, stream="acme-tiktok")], START)
    assert "known: acme-mastodon, acme-bluesky" in str(caught.value)
    with pytest.raises(EpisodeError):
        schedule(world, [Episode("spike", at=START, stream="acme-owned-mastodon")], START)


def test_episode_posts_are_served_only_once_their_time_comes(world: World) -> None:
    episode = Episode("spike", at=START, posts=12, span=timedelta(minutes=6))
    with SandboxServer(world, episodes=[episode], now=END) as server:
        assert not server.live, "a clock given explicitly stays where it is told"
        (placed,) = server.episodes
        assert placed.stream == "acme-mastodon" and placed.collectable == START + timedelta(seconds=330)
        ids = {status_uri(server.world.post(n), server.context) for n in placed.posts}

        def served() -> set[str]:
            url = server.base_url("mastodon") + "/api/v1/timelines/tag/acme?limit=40"
            with urllib.request.urlopen(url, timeout=10) as answer:
                return {s["uri"] for s in json.load(answer)} & ids

        assert served() == set()
        server.set_now(START + timedelta(minutes=3))
        assert 0 < len(served()) < 12, "written over the span, each collectable as it is written"
        server.set_now(placed.collectable)
        assert len(served()) == 12
        with urllib.request.urlopen(f"{server.url}/_sandbox", timeout=10) as answer:
            (described,) = json.load(answer)["episodes"]
        assert described["collectable"] is True and described["posts"] == 12


def test_a_server_with_episodes_and_no_clock_runs_on_the_wall_clock(world: World) -> None:
    with SandboxServer(world, episodes=[Episode("keyword", after=timedelta(minutes=5))]) as server:
        assert server.live
        assert abs(server.now - datetime.now(UTC)) < timedelta(minutes=1)
        (placed,) = server.episodes
        assert placed.start == server.started + timedelta(minutes=5)


def test_each_episode_makes_its_own_alert_hold_and_the_others_stay_quiet(world: World) -> None:
    from tracker.sentiment import score_many

    spike_at, keyword_at, drop_at = START, START + 4 * HOUR, START + 10 * HOUR
    episodes = [Episode("spike", at=spike_at), Episode("keyword", at=keyword_at),
                Episode("sentiment_drop", at=drop_at)]  # fmt: skip
    served, placed = schedule(world, episodes, START)
    posts = served.posts_of("acme-mastodon")
    scores = score_many([p.text for p in posts], [p.lang for p in posts])
    base = world.start

    def verdicts(now: datetime) -> dict[str, bool]:
        counts: dict[int, float] = {}  # k: mentions in the k-th hour before now, as tracker/alerts.py counts
        for p in posts:
            if p.visible_at <= now and p.created_at < now:
                k = int((now - p.created_at) / HOUR)
                counts[k] = counts.get(k, 0.0) + 1
        slots = {k: counts.get(k, 0.0) for k in range(1, 8 * 168 + 1) if now - (k + 1) * HOUR >= base}
        current = counts.get(0, 0.0)
        spike = spike_verdict(slots, current, period=168, threshold=5.0, min_mentions=10)[0]
        recent = [s for p, s in zip(posts, scores, strict=True)
                  if s is not None and now - 6 * HOUR <= p.created_at < now]  # fmt: skip
        usual = [s for p, s in zip(posts, scores, strict=True)
                 if s is not None and now - timedelta(days=28) <= p.created_at < now - 6 * HOUR]  # fmt: skip
        drop = sentiment_verdict(recent, usual, threshold=0.2, min_scored=10)[0]
        record = {"streams": ["acme-mastodon"], "platform": "mastodon", "kind": "mention"}
        keyword = any(
            matches('outage OR breach OR "data leak"', {**record, "text": p.text})
            for p in posts
            if now - HOUR <= p.visible_at <= now
        )
        return {"spike": spike, "keyword": keyword, "sentiment_drop": drop}

    after = {e.episode.kind: e.collectable for e in placed}
    assert verdicts(spike_at) == {"spike": False, "keyword": False, "sentiment_drop": False}
    assert verdicts(after["spike"]) == {"spike": True, "keyword": False, "sentiment_drop": False}
    assert verdicts(after["keyword"]) == {"spike": False, "keyword": True, "sentiment_drop": False}
    assert verdicts(after["sentiment_drop"]) == {"spike": False, "keyword": False, "sentiment_drop": True}
