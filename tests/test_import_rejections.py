"""`mentions import`: typos do not create streams; impossible counts and times are rejected by line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config

STREAMS = [{"name": "acme-mastodon", "connector": "hackernews", "query": "acme", "every": "1h"},
           {"name": "acme-bluesky", "connector": "hackernews", "query": "acme", "every": "1h"}]  # fmt: skip


def line(n: int, **fields: Any) -> dict[str, Any]:
    return {"platform": "mastodon", "external_id": f"m{n}", "text": "hello", "created_at": "2026-09-01T10:00:00Z",
            "stream": "acme-mastodon", **fields}  # fmt: skip


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 't.db'}", streams=STREAMS)


def exported(cli: Any, config: Path) -> dict[str, dict[str, Any]]:
    out = cli("--config", config, "mentions", "export").out
    return {m["external_id"]: m for m in map(json.loads, out.splitlines())}


def test_an_unknown_stream_is_rejected_with_the_known_ones(tmp_path: Path, config: Path, cli: Any) -> None:
    path = write(tmp_path / "in.jsonl", [line(1), line(2, stream="acme-linkedin"), line(3)])
    result = cli("--config", config, "mentions", "import", path)
    assert result.code == 1
    assert ("line 2: unknown stream 'acme-linkedin' (known: acme-bluesky, acme-mastodon); "
            "add it with --create-streams") in result.err  # fmt: skip
    assert set(exported(cli, config)) == {"m1", "m3"}
    streams = json.loads(cli("--config", config, "status", "--json").out)["streams"]
    assert "acme-linkedin" not in {s["name"] for s in streams}, "a typo creates nothing"
    created = cli("--config", config, "mentions", "import", "--create-streams", path)
    assert created.code == 0, created.err
    assert exported(cli, config)["m2"]["streams"] == ["acme-linkedin"]


def test_an_unknown_default_stream_is_a_usage_error(tmp_path: Path, config: Path, cli: Any) -> None:
    path = write(tmp_path / "in.jsonl", [line(1)])
    result = cli("--config", config, "mentions", "import", "--stream", "acme-linkdin", path)
    assert result.code == 2 and "--stream: unknown stream 'acme-linkdin'" in result.err
    assert exported(cli, config) == {}


def test_lines_without_a_stream_need_a_default(tmp_path: Path, config: Path, cli: Any) -> None:
    rows = [line(1), {k: v for k, v in line(2).items() if k != "stream"}, line(3, stream="", streams=[])]
    path = write(tmp_path / "in.jsonl", rows)
    result = cli("--config", config, "mentions", "import", path)
    assert result.code == 1
    assert 'line 2: no stream: add a "stream" field to the line, or give --stream NAME' in result.err
    assert "line 3: no stream" in result.err
    assert set(exported(cli, config)) == {"m1"}
    again = cli("--config", config, "mentions", "import", "--stream", "acme-bluesky", path)
    assert again.code == 0, again.err
    assert exported(cli, config)["m2"]["streams"] == ["acme-bluesky"]


def test_negative_counts_are_rejected_except_a_reddit_score(tmp_path: Path, config: Path, cli: Any) -> None:
    rows = [line(1, likes=-3), line(2, replies=-1), line(3, reposts=-2), line(4, quotes=-5),
            line(5, platform="reddit", external_id="t3_x", likes=-4), line(6, likes=0)]  # fmt: skip
    result = cli("--config", config, "mentions", "import", write(tmp_path / "in.jsonl", rows))
    assert result.code == 1
    for expected in ("line 1: likes: -3 is negative (only a Reddit score can be)", "line 2: replies: -1 is out of range",
                     "line 3: reposts: -2 is out of range", "line 4: quotes: -5 is out of range"):  # fmt: skip
        assert expected in result.err, result.err
    stored = exported(cli, config)
    assert set(stored) == {"t3_x", "m6"} and stored["t3_x"]["likes"] == -4


def test_a_count_no_post_can_have_is_rejected_by_its_line(tmp_path: Path, config: Path, cli: Any) -> None:
    """Counts are bounded as for collected items (connectors' MAX_COUNT, a trillion): 5e18 likes
    on two own posts of one day summed beyond the aggregates' 64-bit columns, and the whole
    transaction failed at its commit ("unexpected problem", no line named, nothing stored).
    Such a line is rejected by number; the largest count accepted still sums safely."""
    from tracker.mentions import BATCH, MAX_COUNT

    own = {"kind": "own", "created_at": "2026-09-02T10:00:00Z"}
    rows = [line(i) for i in range(BATCH + 3)]  # the big ones fall in two batches of one transaction
    rows[BATCH - 1] = line(BATCH - 1, likes=MAX_COUNT, reposts=MAX_COUNT, **own)
    rows[BATCH] = line(BATCH, likes=MAX_COUNT, replies=MAX_COUNT, quotes=MAX_COUNT, **own)
    rows[BATCH + 1] = line(BATCH + 1, likes=5 * 10**18, **own)
    rows[BATCH + 2] = line(BATCH + 2, platform="reddit", external_id="t3_y", likes=-(MAX_COUNT + 1))
    result = cli("--config", config, "mentions", "import", write(tmp_path / "in.jsonl", rows))
    assert result.code == 1, result.err
    assert f"line {BATCH + 2}: likes: 5000000000000000000 is larger than any post's count (at most 1,000,000,000,000)" in (
        result.err
    ), result.err
    assert f"line {BATCH + 3}: likes: -1000000000001 is out of range" in result.err, result.err
    assert f"{BATCH + 3} lines: {BATCH + 1} new" in result.out, result.out
    stored = exported(cli, config)
    assert stored[f"m{BATCH}"]["likes"] == MAX_COUNT and f"m{BATCH + 1}" not in stored
    check = cli("--config", config, "db", "check")
    assert check.code == 0 and "daily aggregates agree" in check.out, check.out + check.err


def test_times_more_than_a_day_ahead_are_rejected(tmp_path: Path, config: Path, cli: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    soon = (now + timedelta(hours=20)).isoformat().replace("+00:00", "Z")
    later = (now + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    rows = [line(1, created_at=soon), line(2, created_at=later), line(3, created_at="2126-01-01T00:00:00Z")]
    result = cli("--config", config, "mentions", "import", write(tmp_path / "in.jsonl", rows))
    assert result.code == 1
    assert f"line 2: created_at: {later} is more than a day in the future" in result.err
    assert "line 3: created_at: 2126-01-01T00:00:00Z is more than a day in the future" in result.err
    assert set(exported(cli, config)) == {"m1"}, "a clock a few hours ahead is not an error"


def test_the_first_import_into_an_empty_tracker_names_its_streams(tmp_path: Path, cli: Any) -> None:
    empty = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'e.db'}")
    path = write(tmp_path / "in.jsonl", [line(1, stream="archive"), line(2, stream="press")])
    result = cli("--config", empty, "mentions", "import", path)
    assert result.code == 0, result.err
    typo = write(tmp_path / "typo.jsonl", [line(3, stream="archve")])
    refused = cli("--config", empty, "mentions", "import", typo)
    assert refused.code == 1 and "unknown stream 'archve' (known: archive, press)" in refused.err


def test_experiment_add_lists_the_known_streams(config: Path, cli: Any) -> None:
    result = cli("--config", config, "experiment", "add", "--title", "t", "--hypothesis", "h", "--practice",
                 "content-calendar", "--metric", "mentions", "--stream", "acme-linkedin", "--start", "2026-09-01",
                 "--end", "2026-09-20")  # fmt: skip
    assert result.code == 2
    assert "--stream: unknown stream 'acme-linkedin' (known: acme-bluesky, acme-mastodon)" in result.err
