"""Experiments through the CLI: registry, validation, statuses, measuring from stored data."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import write_config
from tracker.config import load_settings
from tracker.experiments import Registry
from tracker.maturity import load_model
from tracker.store.db import open_store
from tracker.store.models import CollectionRun, ExperimentResult, Stream

VIENNA = ZoneInfo("Europe/Vienna")
TODAY = datetime.now(UTC).astimezone(VIENNA).date()


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    return write_config(tmp_path, db_url=db_url, streams=[
        {"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"},
        {"name": "other", "connector": "hackernews", "query": "acme", "every": "1h"},
        {"name": "rival", "connector": "hackernews", "query": "globex", "every": "1h", "role": "competitor"},
    ])  # fmt: skip


def history(path: Path, first: date, days: int, per_day: Any, stream: str, seed: int = 1,
            text: Any = lambda rng, d: "a plain update", lead_in: int = 0) -> Path:  # fmt: skip
    """A JSONL file of mentions, `per_day(rng, day_index)` of them on each local day.

    `lead_in` days before `first` are drawn like day 0 (from their own random numbers, so
    the days from `first` on are the same with or without them): the history a pre_post
    needs before its baseline to get a verdict (tracker/stats.py, "Trends").
    """
    rng, early = random.Random(seed), random.Random(seed + 7919)
    lines = []
    for i in range(-lead_in, days):
        day = first + timedelta(days=i)
        draw = early if i < 0 else rng
        for n in range(per_day(draw, max(i, 0))):
            moment = datetime(day.year, day.month, day.day, 8, tzinfo=VIENNA) + timedelta(minutes=draw.randrange(720))
            lines.append({"platform": "rss", "external_id": f"{stream}-{day}-{n}", "text": text(draw, max(i, 0)),
                          "lang": "en", "created_at": moment.isoformat(), "stream": stream})  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def add(cli: Any, config: Path, *extra: str, **fields: str) -> Any:
    args = {"title": "Daily posting", "hypothesis": "posting daily lifts mentions", "practice": "content-calendar",
            "metric": "mentions", "stream": "brand", "start": "2026-06-29", "end": "2026-07-26", **fields}  # fmt: skip
    flat: list[str] = []
    for key, value in args.items():
        flat += [f"--{key.replace('_', '-')}", value]
    return cli("--config", config, "experiment", "add", *flat, *extra)


def test_add_prints_the_id_and_json_gives_the_experiment(config: Path, cli: Any) -> None:
    first = add(cli, config)
    assert first.code == 0 and first.out == "1\n", "standard output is the id alone (SPEC §5)"
    assert first.err.startswith("registered experiment 1: Daily posting\n")
    assert "window 2026-06-29 to 2026-07-26" in first.err
    second = add(cli, config, "--json", title="Second", owner="ana", team="growth", expect="decrease",
                 min_effect="0.1", control_stream="other")  # fmt: skip
    record = json.loads(second.out)
    assert record["id"] == 2 and record["owner"] == "ana" and record["team"] == "growth"
    assert record["expect"] == "decrease" and record["min_effect"] == 0.1 and record["control_stream"] == "other"
    assert record["baseline"] == {"start": "2026-06-01", "end": "2026-06-28"}, "same length right before start"
    assert record["status"] == "ended" and record["result"] is None
    assert "warning: overlaps experiment 1" in second.err


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": " "}, "--title: must not be empty"),
        ({"hypothesis": ""}, "--hypothesis: must not be empty"),
        ({"practice": "astrology"}, "--practice: unknown practice 'astrology'"),
        ({"metric": "vibes"}, "--metric: unknown metric 'vibes'"),
        ({"stream": "nowhere"}, "--stream: unknown stream 'nowhere'"),
        ({"control_stream": "nowhere"}, "--control-stream: unknown stream 'nowhere'"),
        ({"control_stream": "brand"}, "--control-stream: must not be one of the experiment's streams"),
        ({"start": "2026-07-26", "end": "2026-06-29"}, "--end: 2026-06-29 is before start 2026-07-26"),
        ({"start": "next monday"}, "--start: expected a day like 2026-09-01"),
        ({"expect": "sideways"}, "--expect: expected increase or decrease"),
        ({"baseline_start": "2026-06-01"}, "--baseline-end: give both baseline_start and baseline_end"),
        ({"baseline_start": "2026-06-01", "baseline_end": "2026-07-01"}, "--baseline-end: the baseline must end before"),
    ],
)  # fmt: skip
def test_validation_errors_exit_2_and_store_nothing(config: Path, cli: Any, fields: dict[str, str],
                                                    message: str) -> None:  # fmt: skip
    result = add(cli, config, **fields)
    assert result.code == 2, result.err
    assert message in result.err, result.err
    assert "Traceback" not in result.err
    listed = cli("--config", config, "experiment", "list", "--json")
    assert json.loads(listed.out) == []


def test_statuses_follow_dates_conclusion_and_cancel(config: Path, cli: Any) -> None:
    future = (TODAY + timedelta(days=10)).isoformat()
    add(cli, config, start="2026-01-05", end="2026-01-18")  # 1 ended
    add(cli, config, start=(TODAY - timedelta(days=2)).isoformat(), end=(TODAY + timedelta(days=5)).isoformat())
    add(cli, config, start=future, end=(TODAY + timedelta(days=20)).isoformat())  # 3 planned
    add(cli, config, start="2026-02-02", end="2026-02-15")  # 4 to conclude
    add(cli, config, start="2026-03-02", end="2026-03-15")  # 5 to cancel
    assert cli("--config", config, "experiment", "conclude", "4", "--learning", "worked").code == 0
    assert cli("--config", config, "experiment", "cancel", "5").code == 0
    statuses = {r["id"]: r["status"] for r in json.loads(cli("--config", config, "experiment", "list", "--json").out)}
    assert statuses == {1: "ended", 2: "running", 3: "planned", 4: "concluded", 5: "cancelled"}
    only = json.loads(cli("--config", config, "experiment", "list", "--status", "planned", "--json").out)
    assert [r["id"] for r in only] == [3]
    assert cli("--config", config, "experiment", "conclude", "5", "--learning", "x").code == 2
    assert cli("--config", config, "experiment", "edit", "4", "--title", "late").code == 2
    assert cli("--config", config, "experiment", "show", "99").code == 2


def test_notes_and_conclusion_are_kept(config: Path, cli: Any) -> None:
    add(cli, config)
    assert cli("--config", config, "experiment", "note", "1", "Week 1: replies doubled").code == 0
    assert cli("--config", config, "experiment", "note", "1", "  ").code == 2
    assert cli("--config", config, "experiment", "conclude", "1", "--learning", "x", "--adopt", "--reject").code == 2
    done = cli("--config", config, "experiment", "conclude", "1", "--learning", "Daily posts work", "--reject")
    assert done.code == 0
    record = json.loads(cli("--config", config, "experiment", "show", "1", "--json").out)
    assert [n["text"] for n in record["notes"]] == ["Week 1: replies doubled"]
    assert (record["learning"], record["decision"], record["status"]) == ("Daily posts work", "reject", "concluded")


def test_measure_finds_a_real_effect_and_keeps_the_history(tmp_path: Path, config: Path, cli: Any,
                                                           db_url: str) -> None:  # fmt: skip
    boost = history(tmp_path / "h.jsonl", date(2026, 6, 1), 56, lambda rng, i: rng.randint(14, 26) + (12 if i >= 28 else 0), "brand",
                    lead_in=49)  # fmt: skip
    assert cli("--config", config, "mentions", "import", boost).code == 0
    add(cli, config)
    result = cli("--config", config, "experiment", "measure", "1", "--json")
    assert result.code == 0, result.err
    (measured,) = json.loads(result.out)
    assert measured["id"] == 1 and measured["method"] == "pre_post" and measured["verdict"] == "success"
    assert measured["baseline"]["days"] == 28 and measured["treatment"]["days"] == 28
    assert 0.35 < measured["lift_rel"] < 0.8 and measured["ci_low"] > 0
    assert measured["excluded_days"] == []
    cli("--config", config, "experiment", "measure", "--all")
    store = open_store(db_url)
    with store.read() as session:
        assert len(session.scalars(select(ExperimentResult)).all()) == 2, "every measurement is kept"
    store.close()
    shown = json.loads(cli("--config", config, "experiment", "show", "1", "--json").out)
    assert shown["verdict"] == "success" and len(shown["results"]) == 2
    summary_fields = ("id", "title", "start", "end", "status", "verdict")
    settings = load_settings(config)
    with open_store(db_url) as store:  # the overview's two-query summaries agree with the records
        registry = Registry(store, settings, load_model(settings))
        assert registry.summaries() == [{k: r[k] for k in summary_fields} for r in registry.list_all()]
    text = cli("--config", config, "experiment", "show", "1").out
    assert "success" in text and "95 % CI" in text
    refused = cli("--config", config, "experiment", "edit", "1", "--end", "2026-07-19")
    assert refused.code == 2 and "--amend --reason" in refused.err, "the plan holds once it started"
    edited = cli("--config", config, "experiment", "edit", "1", "--end", "2026-07-19", "--amend",
                 "--reason", "the campaign was cut short")  # fmt: skip
    assert edited.code == 0, edited.err
    assert json.loads(cli("--config", config, "experiment", "show", "1", "--json").out)["result"] is None, \
        "a changed window voids old results until measured again"


def test_measure_usage(config: Path, cli: Any) -> None:
    assert cli("--config", config, "experiment", "measure").code == 2
    assert cli("--config", config, "experiment", "measure", "7").code == 2


def test_days_not_covered_by_collection_are_excluded(tmp_path: Path, config: Path, cli: Any, db_url: str) -> None:
    steady = history(tmp_path / "h.jsonl", date(2026, 6, 1), 56, lambda rng, i: rng.randint(14, 26), "brand")
    cli("--config", config, "mentions", "import", steady)
    add(cli, config)
    store = open_store(db_url)
    with store.write() as session:
        brand = session.scalars(select(Stream.id).where(Stream.name == "brand")).one()
        # Collection starts on June 10 (history before counts as covered), covers until July 3,
        # then an outage until July 8 10:00 UTC, then covered again.
        at = lambda d, h=0: datetime(2026, 7, d, h, tzinfo=UTC) if d > 0 else None  # noqa: E731
        session.add_all([
            CollectionRun(stream_id=brand, started_at=datetime(2026, 6, 10, tzinfo=UTC), status="ok",
                          covered_from=None, covered_until=at(3, 12)),
            CollectionRun(stream_id=brand, started_at=at(8, 10), status="ok", covered_from=at(8, 10),
                          covered_until=datetime(2026, 8, 1, tzinfo=UTC)),
        ])  # fmt: skip
    store.close()
    (measured,) = json.loads(cli("--config", config, "experiment", "measure", "1", "--json").out)
    # July 3 (ends 22:00 UTC) to July 8 (starts 22:00 UTC on the 7th) are not wholly covered.
    assert measured["excluded_days"] == ["2026-07-03", "2026-07-04", "2026-07-05", "2026-07-06",
                                         "2026-07-07", "2026-07-08"]  # fmt: skip
    assert measured["treatment"]["days"] == 22 and measured["baseline"]["days"] == 28


def test_days_follow_the_organisation_time_zone(tmp_path: Path, config: Path, cli: Any) -> None:
    # 20 mentions at 23:30 Vienna time each day: in UTC they fall on the previous... no, the same day
    # at 21:30 UTC; at 00:30 Vienna they are on the day before in UTC. Local days must win.
    lines = []
    for i in range(56):
        day = date(2026, 6, 1) + timedelta(days=i)
        for n in range(20 if i < 28 else 30):
            moment = datetime(day.year, day.month, day.day, 0, 30, tzinfo=VIENNA)
            lines.append({"platform": "rss", "external_id": f"tz-{day}-{n}", "text": "t",
                          "created_at": moment.isoformat(), "stream": "brand"})  # fmt: skip
    path = tmp_path / "tz.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cli("--config", config, "mentions", "import", path)
    add(cli, config)
    (measured,) = json.loads(cli("--config", config, "experiment", "measure", "1", "--json").out)
    assert measured["baseline"]["value"] == pytest.approx(20.0)
    assert measured["treatment"]["value"] == pytest.approx(30.0)


def test_diff_in_diff_removes_a_shared_trend(tmp_path: Path, config: Path, cli: Any) -> None:
    trend = lambda rng, i: rng.randint(14, 26) + (9 if i >= 28 else 0)  # noqa: E731  (+40 % for both)
    cli("--config", config, "mentions", "import",
        history(tmp_path / "a.jsonl", date(2026, 6, 1), 56, trend, "brand", lead_in=49))  # fmt: skip
    cli("--config", config, "mentions", "import",
        history(tmp_path / "b.jsonl", date(2026, 6, 1), 56, trend, "other", seed=2, lead_in=49))  # fmt: skip
    add(cli, config)
    add(cli, config, control_stream="other", title="With control")
    results = json.loads(cli("--config", config, "experiment", "measure", "--all", "--json").out)
    by_id = {r["id"]: r for r in results}
    assert by_id[1]["method"] == "pre_post" and by_id[1]["verdict"] == "success"
    assert by_id[2]["method"] == "diff_in_diff" and by_id[2]["verdict"] != "success"


def test_sentiment_and_share_of_voice_metrics(tmp_path: Path, config: Path, cli: Any) -> None:
    words = lambda rng, i: rng.choice(["great launch", "bad outage", "an update", "love it"] if i >= 28  # noqa: E731
                                      else ["bad outage", "an update", "awful", "fine day"])  # fmt: skip
    cli("--config", config, "mentions", "import",
        history(tmp_path / "a.jsonl", date(2026, 6, 1), 56, lambda rng, i: 20, "brand", text=words, lead_in=49))  # fmt: skip
    cli("--config", config, "mentions", "import",
        history(tmp_path / "b.jsonl", date(2026, 6, 1), 56, lambda rng, i: rng.randint(15, 25), "rival", lead_in=49))  # fmt: skip
    add(cli, config, metric="sentiment", title="Tone")
    add(cli, config, metric="share_of_voice", title="Voice", practice="influencer-outreach")
    results = {r["metric"]: r for r in json.loads(cli("--config", config, "experiment", "measure", "--all",
                                                       "--json").out)}  # fmt: skip
    assert results["sentiment"]["verdict"] == "success" and results["sentiment"]["lift_abs"] > 0.2
    voice = results["share_of_voice"]
    assert 0.4 < voice["baseline"]["value"] < 0.6 and voice["verdict"] in ("no_effect", "inconclusive")


def test_a_running_experiment_is_measured_but_says_running(tmp_path: Path, config: Path, cli: Any) -> None:
    start = TODAY - timedelta(days=10)
    cli("--config", config, "mentions", "import",
        history(tmp_path / "a.jsonl", start - timedelta(days=30), 40, lambda rng, i: 20, "brand"))  # fmt: skip
    add(cli, config, start=start.isoformat(), end=(TODAY + timedelta(days=10)).isoformat())
    (measured,) = json.loads(cli("--config", config, "experiment", "measure", "1", "--json").out)
    assert measured["verdict"] == "running"
    assert measured["treatment"]["days"] == 10, "only complete days so far"


def test_an_experiment_record_carries_every_input_field_in_order() -> None:
    """ExperimentRecord (the JSON of `experiment show`) lists ExperimentInput's fields after its
    id, in their order: a field added to the input must be added to the record too."""
    from dataclasses import fields

    from tracker.experiments import ExperimentInput, ExperimentRecord

    names = [f.name for f in fields(ExperimentInput)]
    assert list(ExperimentRecord.__annotations__)[: len(names) + 1] == ["id", *names]
