"""Readable CLI text: the organisation's time zone to the minute, "(3 min ago)", tables within 80 columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import write_config
from tracker.cli_format import experiment_table, local_time, relative, status_lines, when

VIENNA = ZoneInfo("Europe/Vienna")
NOW = datetime(2026, 12, 1, 21, 4, 30, tzinfo=UTC)


def test_times_are_local_to_the_minute_with_how_long_ago() -> None:
    assert when("2026-12-01T21:01:12.123456Z", VIENNA, NOW) == "2026-12-01 22:01 CET (3 min ago)"
    assert local_time("2026-07-01T10:00:00Z", VIENNA) == "2026-07-01 12:00 CEST"
    assert relative("2026-12-01T23:05:00Z", NOW) == "in 2 h"
    assert relative("2026-11-28T21:00:00Z", NOW) == "3 d ago"
    assert relative("2026-12-01T21:04:10Z", NOW) == "just now"


def test_status_lines_have_no_microseconds_and_name_the_zone() -> None:
    stream = {"name": "newco-hn", "connector": "hackernews", "role": "brand", "items": 1234,
              "last_run": {"status": "ok", "started_at": "2026-12-01T21:01:12.654321Z", "new": 5},
              "covered_until": "2026-12-01T21:01:12.654321Z", "gaps": [], "last_error": None,
              "followers": None, "next_run": "2026-12-01T22:01:12.654321Z"}  # fmt: skip
    lines = status_lines([stream], [], datetime(2026, 12, 7, 7, tzinfo=UTC), VIENNA, NOW)
    text = "\n".join(lines)
    assert "last run ok 2026-12-01 22:01 CET (3 min ago), 5 new" in text
    assert "next run 2026-12-01 23:01 CET (in 56 min)" in text
    assert "next digest 2026-12-07 08:00 CET (in 5 d)" in text
    assert "1,234 items" in text
    assert ".654321" not in text and "T21" not in text
    assert all(len(line) <= 80 for line in lines), lines


def record(i: int, title: str, verdict: str | None, result: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": i, "status": "ended", "verdict": verdict, "metric": "mentions", "start": "2026-06-29",
            "end": "2026-07-26", "title": title, "result": result}  # fmt: skip


def test_experiment_list_has_a_header_the_latest_lift_and_verdict_within_80_columns() -> None:
    rows = [record(1, "Daily posting on every channel we own, with a long explanation of why " * 2, "success",
                   {"metric": "mentions", "lift_rel": 0.234}),
            record(12, "Short", None, None),
            record(3, "Tone", "no_effect", {"metric": "sentiment", "lift_abs": -0.0123})]  # fmt: skip
    rows[2]["metric"] = "sentiment"
    lines = experiment_table(rows)
    assert lines[0].split() == ["id", "status", "verdict", "lift", "metric", "window", "title"]
    assert "success" in lines[1] and "+23.4 %" in lines[1] and lines[1].endswith("…")
    assert "not measured" in lines[2] and "—" in lines[2]
    assert "no effect" in lines[3] and "-0.012" in lines[3]
    assert all(len(line) <= 80 for line in lines), [len(line) for line in lines]


def test_init_names_the_streams_after_the_organisation(tmp_path: Path, cli: Any) -> None:
    assert cli("init", tmp_path, "--name", "NewCo").code == 0
    listed = json.loads(cli("--config", tmp_path / "tracker.toml", "status", "--json").out)["streams"]
    names = [s["name"] for s in listed]
    assert names and not [n for n in names if "acme" in n], names
    assert "newco-mastodon" in names and "newco-hn" in names
    text = (tmp_path / "tracker.toml").read_text()
    assert 'hashtag = "newco"' in text and "acme" not in text.lower().replace("acme_", "")


def test_experiment_add_prints_what_was_registered(tmp_path: Path, cli: Any) -> None:
    streams = [{"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"}]
    config = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 't.db'}", streams=streams)
    result = cli("--config", config, "experiment", "add", "--title", "Daily posting", "--hypothesis", "h",
                 "--practice", "content-calendar", "--metric", "mentions", "--stream", "brand",
                 "--start", "2026-06-29", "--end", "2026-07-26", "--min-effect", "0.1")  # fmt: skip
    assert result.code == 0, result.err
    assert result.out == "1\n", "standard output is the id alone (SPEC §5), for scripts"
    out = result.err
    assert out.startswith("registered experiment 1: Daily posting")
    assert "content-calendar on brand" in out and "window 2026-06-29 to 2026-07-26" in out
    assert "smallest effect that matters 10 %" in out
    listed = cli("--config", config, "experiment", "list")
    assert listed.out.splitlines()[0].startswith("id") and "not measured" in listed.out


def test_instants_in_text_become_local_minutes() -> None:
    from tracker.cli_format import localise_times

    text = "note 2026-12-01T21:01:12.123456Z: hello; measured 2026-07-01T10:00:00Z"
    assert localise_times(text, VIENNA) == "note 2026-12-01 22:01 CET: hello; measured 2026-07-01 12:00 CEST"
