"""The digest's figures against data with known counts, and the command's outputs and usage errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.digest import world
from tests.digest.conftest import Env
from tests.digest.world import VIENNA, WEEK, WEEK_START
from tracker.digest.weeks import last_complete_week


def digest_json(cli: Any, config: Path, *extra: str) -> dict[str, Any]:
    result = cli("--config", config, "digest", "--week", WEEK, "--json", *extra)
    assert result.code == 0, result.err
    return json.loads(result.out)  # type: ignore[no-any-return]


def oracle(lines: list[dict[str, Any]], stream: str, first: date) -> dict[str, Any]:
    """The week's figures computed in Python from the raw lines: an independent check of the SQL."""
    days = {first + timedelta(days=i) for i in range(7)}
    mine = [x for x in lines
            if x["stream"] == stream and datetime.fromisoformat(x["created_at"]).astimezone(VIENNA).date() in days]  # fmt: skip
    scores = [x["sentiment"] for x in mine]
    own = [
        sum(x.get(k) or 0 for k in ("likes", "reposts", "replies", "quotes"))
        for x in mine
        if x.get("kind") == "own"
    ]
    return {
        "mentions": len(mine),
        "sentiment": sum(scores) / len(scores) if scores else None,
        "positive_share": sum(s >= 0.05 for s in scores) / len(scores) if scores else None,
        "engagement": sum(own) / len(own) if own else None,
    }


def test_the_weeks_figures_match_the_known_data(tmp_path: Path, db_url: str, cli: Any) -> None:
    w = world.build(tmp_path, db_url)
    data = digest_json(cli, w.config)
    assert data["week"] == {"label": WEEK, "start": "2026-09-28", "end": "2026-10-04",
                            "title": "28 Sep \u2013 4 Oct 2026", "complete": True}  # fmt: skip
    assert data["previous_week"]["label"] == "2026-W39" and data["organisation"] == "Test Org"
    streams = {s["name"]: s for s in data["streams"]}
    assert list(streams) == ["acme-mastodon", "acme-hn", "acme-owned", "globex-reddit"]
    for name, expected in world.EXPECTED.items():
        figures = data["summary"] if name == "summary" else streams[name]
        for metric, (value, previous) in expected.items():
            assert figures[metric]["value"] == pytest.approx(value), (name, metric)
            assert figures[metric]["previous"] == pytest.approx(previous), (name, metric)
    for name in world.WEEKLY:
        for metric in ("mentions", "sentiment", "positive_share", "engagement"):
            now, before = (
                oracle(w.lines, name, WEEK_START),
                oracle(w.lines, name, WEEK_START - timedelta(days=7)),
            )
            assert streams[name][metric]["value"] == pytest.approx(now[metric]), (name, metric)
            assert streams[name][metric]["previous"] == pytest.approx(before[metric]), (name, metric)
    mastodon = streams["acme-mastodon"]["mentions"]
    assert mastodon["change"] == 40 and mastodon["change_rel"] == pytest.approx(40 / 62)
    assert streams["acme-owned"]["engagement"]["n"] == 6, "six own posts old enough to read at 48 h"
    assert data["summary"]["streams"] == ["acme-mastodon", "acme-hn", "acme-owned"], "competitors stay out"

    chart = data["chart"]["days"]
    assert len(chart) == 56 and chart[0]["day"] == "2026-08-10" and chart[-1]["day"] == "2026-10-04"
    assert next(d for d in chart if d["day"] == "2026-09-30")["mentions"] == 49 + 3 + 1 + 1
    assert sum(d["mentions"] for d in chart[-7:]) == 127

    assert data["spikes"] == [{"day": "2026-09-30", "stream": "acme-mastodon", "role": "brand", "mentions": 49,
                               "expected": 10.0, "ratio": 4.9, "score": data["spikes"][0]["score"]}]  # fmt: skip
    top = data["top_mentions"]
    assert [m["engagement"] for m in top] == [999, 310, 140, 136, 10], "what others said; our posts apart"
    assert top[1]["author"] == "@ops_dana" and top[1]["url"] == "https://social.example/top/0"
    assert top[1]["local_time"] == "Wed 30 Sep, 13:47" and top[1]["streams"] == ["acme-mastodon"]
    own = data["top_own_posts"]
    assert [m["engagement"] for m in own] == [260, 30, 25] and own[0]["streams"] == ["acme-owned"]

    experiments = data["experiments"]
    assert [e["id"] for e in experiments["started"]] == [2]
    assert [e["id"] for e in experiments["running"]] == [3]
    assert [e["id"] for e in experiments["ended"]] == [1]
    assert [e["id"] for e in experiments["measured"]] == [1, 2, 3]
    ended = experiments["ended"][0]
    assert ended["verdict"] == ended["result"]["verdict"] and ended["verdict"] not in (None, "running")
    assert ended["result"]["text"].startswith("lift ") and "95 % CI" in ended["result"]["text"]
    assert ended["practice_name"] == "Shared content calendar"

    maturity = data["maturity"]
    assert maturity["stage"]["name"] == "Testing" and maturity["since"] == "2026-09-29"
    assert [(m["date"], m["to"]["name"]) for m in maturity["moves"]] == [("2026-09-29", "Testing")]
    assert maturity["next_steps"] and all(s["advice"] for s in maturity["next_steps"])

    health = {s["name"]: s for s in data["health"]["streams"]}
    assert health["acme-hn"]["failed"] == 2 and health["acme-hn"]["uncovered_days"] == ["2026-10-01"]
    assert "HTTP 503" in health["acme-hn"]["last_error"]["error"]
    assert health["acme-mastodon"]["failed"] == 0 and health["acme-mastodon"]["uncovered_days"] == []
    assert data["health"]["failed"] == 2 and len(data["health"]["problems"]) == 2
    assert streams["acme-hn"]["uncovered_days"] == ["2026-10-01"]
    assert data["highlights"][0] == "127 mentions, up 51 % from 84 the week before."


def test_text_is_the_default_output_and_reads_on_its_own(env: Env, cli: Any) -> None:
    result = cli("--config", env.dir / "tracker.toml", "digest", "--week", WEEK)
    assert result.code == 0, result.err
    text = result.out
    for heading in ("WHAT MOVED", "THE WEEK IN NUMBERS", "PER STREAM", "SPIKES", "TOP MENTIONS BY ENGAGEMENT",
                    "EXPERIMENTS", "MATURITY", "COLLECTION HEALTH"):  # fmt: skip
        assert f"\n{heading}\n" in text
    assert "Week 2026-W40, 28 Sep \u2013 4 Oct 2026" in text
    assert "Wed 30 Sep  acme-mastodon: 49 mentions, about 10 are usual on that weekday (4.9x)" in text
    assert "\nOUR BEST POSTS\n  1. 260 engagement, mastodon, Wed 30 Sep, 14:24\n" in text
    assert "Moved from Dormant to Testing on Tue 29 Sep" in text
    assert "acme-hn: not covered on Thu 1 Oct" in text
    assert "https://social.example/top/0" in text, "links are written out"
    assert "evil.example" not in text, "a link that is not a plain http(s) URL is left out"
    assert max(len(line) for line in text.splitlines()) <= 100


def test_default_week_is_the_last_complete_one_and_an_empty_week_works(env: Env, cli: Any) -> None:
    result = cli("--config", env.dir / "tracker.toml", "digest", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["week"]["label"] == last_complete_week(datetime.now(UTC), VIENNA).label
    assert data["summary"]["mentions"]["value"] == 0 and data["top_mentions"] == [] and data["spikes"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "2026-W60"], "--week: expected an ISO week like 2026-W40, got '2026-W60'"),
        (["--week", "last week"], "--week: expected an ISO week"),
        (["--week", "2099-W01"], "--week: 2099-W01 has not started yet"),
        (["--out", "digest.doc"], "--out: expected a file ending in .eml, .html, .pdf or .csv"),
        (["--out", "missing/digest.eml"], "--out: folder missing does not exist"),
        (["--force"], "--force goes with --send"),
    ],
)
def test_bad_usage_exits_2_and_writes_nothing(env: Env, cli: Any, monkeypatch: pytest.MonkeyPatch,
                                              args: list[str], message: str) -> None:  # fmt: skip
    monkeypatch.chdir(env.dir)
    result = cli("--config", env.dir / "tracker.toml", "digest", *args)
    assert result.code == 2 and message in result.err, result.err
    assert result.out == "" and not list(env.dir.glob("*.pdf"))


def test_out_writes_atomically_and_json_goes_with_it(env: Env, cli: Any) -> None:
    out = env.dir / "digest.html"
    out.write_text("old preview")
    result = cli("--config", env.dir / "tracker.toml", "digest", "--week", WEEK, "--out", out, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["week"]["label"] == WEEK, "--json keeps stdout for the document"
    assert f"wrote the 2026-W40 digest to {out}" in result.err
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in env.dir.iterdir() if "partial" in p.name] == []


def test_measured_means_a_new_verdict(env: Env, cli: Any) -> None:
    from sqlalchemy import select

    from tracker.store.db import open_store
    from tracker.store.models import ExperimentResult

    store = open_store(env.db_url)
    try:
        with store.write() as session:  # #3 already said "running" before the week began
            current = session.scalars(
                select(ExperimentResult).where(ExperimentResult.experiment_id == 3)
            ).one()
            session.add(ExperimentResult(experiment_id=3, measured_at=datetime(2026, 9, 27, 5, tzinfo=UTC),
                                         method=current.method, verdict=current.verdict, lift_abs=None,
                                         lift_rel=None, valid=True, payload=current.payload))  # fmt: skip
    finally:
        store.close()
    experiments = digest_json(cli, env.dir / "tracker.toml")["experiments"]
    assert [e["id"] for e in experiments["measured"]] == [1, 2], "re-measured with the same verdict: not news"
    assert [e["id"] for e in experiments["running"]] == [3] and experiments["running"][0][
        "result"
    ] is not None


def test_the_weeks_top_items_skip_rivals_other_weeks_and_the_other_kind(
    tmp_path: Path, db_url: str, cli: Any
) -> None:
    """The top items are read from the week's mentions in order of engagement, a chunk at a time:
    here the first 500 or so are a competitor's, another week's or of the other kind, so the walk
    goes on for several chunks, and its answer is the one a sort of every item gives."""
    from tests.conftest import write_config

    config = write_config(tmp_path, db_url=db_url, streams=[
        {"name": "acme", "connector": "hackernews", "query": "acme", "every": "6h"},
        {"name": "acme-owned", "connector": "hackernews", "query": "acme-own", "every": "6h", "role": "owned"},
        {"name": "rival", "connector": "hackernews", "query": "rival", "every": "6h", "role": "competitor"},
    ])  # fmt: skip
    start = datetime(2026, 9, 28, 8, 0, tzinfo=UTC)  # Monday of 2026-W40, 10:00 in Vienna

    def line(n: int, stream: str, likes: int, *, kind: str = "mention", days: float = 0.0) -> dict[str, Any]:
        return {"platform": "hackernews", "external_id": str(n), "text": f"item {n}", "stream": stream,
                "created_at": (start + timedelta(days=days, minutes=n)).isoformat(), "likes": likes, "kind": kind}  # fmt: skip

    lines = [line(n, "rival", 1000 + n, days=n % 7) for n in range(300)]
    lines += [line(300 + n, "acme", 100 + n, days=n % 6) for n in range(200)]
    lines += [line(600 + n, "acme-owned", 1 + n, kind="own", days=n) for n in range(4)]
    lines += [line(700, "acme", 9999, days=7.5), line(701, "acme", 8888, days=-1)]  # W41, W39
    lines += [line(702, "acme", 7777, kind="own", days=8)]
    shared = line(800, "rival", 5000, days=3)  # a rival's item that our stream found too
    lines += [shared, {**shared, "stream": "acme"}]
    path = tmp_path / "lines.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    assert cli("--config", config, "mentions", "import", path).code == 0
    data = digest_json(cli, config)
    assert [m["engagement"] for m in data["top_mentions"]] == [5000, 299, 298, 297, 296]
    assert data["top_mentions"][0]["streams"] == ["acme", "rival"]
    assert [m["engagement"] for m in data["top_own_posts"]] == [4, 3, 2]
