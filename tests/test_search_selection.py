"""A saved search as an experiment's and an alert's selection of mentions (issue 21 item 4).

Known data: every day of 1-28 June 2026 the brand stream has 6 plain mentions, plus "acme
outage" mentions: 4 a day in the first two weeks (the baseline), 10 a day in the next two
(the trial). An experiment on the saved search `outages` must measure 4 -> 10 a day, not
10 -> 16.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.test_experiments import VIENNA, add, history
from tracker.alerts import evaluate
from tracker.config import load_settings
from tracker.saved_searches import update
from tracker.store.db import open_store

STREAMS = [
    {"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"},
    {"name": "other", "connector": "hackernews", "query": "acme", "every": "1h"},
    {"name": "rival", "connector": "hackernews", "query": "globex", "every": "1h", "role": "competitor"},
]

DAYS = 28
WINDOW = {"start": "2026-06-15", "end": "2026-06-28"}  # the baseline: 1-14 June


@pytest.fixture
def config(tmp_path: Path, db_url: str, cli: Any) -> Path:
    path = write_config(tmp_path, db_url=db_url, streams=STREAMS)
    plain = history(tmp_path / "plain.jsonl", date(2026, 6, 1), DAYS, lambda rng, i: 6, "brand")
    outages = history(tmp_path / "outages.jsonl", date(2026, 6, 1), DAYS, lambda rng, i: 4 if i < 14 else 10,
                      "brand", text=lambda rng, i: "Acme outage again, the dashboard is down")  # fmt: skip
    # ids of the two files must differ: history() names them by stream, day and number
    lines = [json.loads(line) for line in outages.read_text().splitlines()]
    outages.write_text("".join(json.dumps({**r, "external_id": "o-" + r["external_id"]}) + "\n" for r in lines))
    rival = history(tmp_path / "rival.jsonl", date(2026, 6, 1), DAYS, lambda rng, i: 3, "rival",
                    text=lambda rng, i: "Globex outage too")  # fmt: skip
    for data in (plain, outages, rival):
        assert cli("--config", path, "mentions", "import", data).code == 0
    assert cli("--config", path, "search", "add", "outages", "acme outage").code == 0
    return path


def _measure(cli: Any, config: Path, exp_id: int) -> dict[str, Any]:
    result = cli("--config", config, "experiment", "measure", str(exp_id), "--json")
    assert result.code == 0, result.err
    (measured,) = json.loads(result.out)
    return dict(measured)


@pytest.mark.slow  # imports weeks of mentions and measures them
def test_an_experiment_on_a_saved_search_counts_only_its_matches(config: Path, cli: Any) -> None:
    assert add(cli, config, **WINDOW).code == 0  # the whole stream: 10 -> 16 a day
    narrowed = add(cli, config, "--json", search="outages", title="Status page", **WINDOW)
    assert narrowed.code == 0, narrowed.err
    record = json.loads(narrowed.out)
    assert record["search"] == "outages" and record["streams"] == ["brand"]
    whole, matching = _measure(cli, config, 1), _measure(cli, config, 2)
    assert whole["baseline"]["value"] == pytest.approx(10.0)
    assert whole["treatment"]["value"] == pytest.approx(16.0)
    assert matching["baseline"]["value"] == pytest.approx(4.0), "only the mentions matching 'acme outage'"
    assert matching["treatment"]["value"] == pytest.approx(10.0)
    assert matching["lift_abs"] == pytest.approx(6.0)


@pytest.mark.slow  # imports weeks of mentions and measures them
def test_without_streams_a_saved_search_reads_every_stream_but_the_competitors(config: Path, cli: Any) -> None:
    registered = cli("--config", config, "experiment", "add", "--title", "Status page", "--hypothesis", "h",
                     "--practice", "content-calendar", "--metric", "mentions", "--search", "outages",
                     "--start", WINDOW["start"], "--end", WINDOW["end"])  # fmt: skip
    assert registered.code == 0, registered.err
    assert "matching saved search 'outages' in every stream but the competitors'" in registered.err
    measured = _measure(cli, config, 1)
    assert measured["baseline"]["value"] == pytest.approx(4.0), "Globex's outages are a competitor's"
    assert measured["treatment"]["value"] == pytest.approx(10.0)


@pytest.mark.slow  # imports weeks of mentions and measures them
def test_unknown_saved_search_and_what_a_saved_search_in_use_allows(config: Path, cli: Any) -> None:
    unknown = add(cli, config, search="nope", **WINDOW)
    assert unknown.code == 2 and "--search: no saved search 'nope' (saved: outages)" in unknown.err
    assert "Traceback" not in unknown.err
    assert add(cli, config, search="outages", **WINDOW).code == 0
    refused = cli("--config", config, "search", "remove", "outages")
    assert refused.code != 0 and "selects the mentions of experiment 1" in refused.err
    _measure(cli, config, 1)
    settings = load_settings(config)
    store = open_store(settings.database_url)
    try:
        update(store, "outages", query="acme dashboard")
    finally:
        store.close()
    shown = json.loads(cli("--config", config, "experiment", "show", "1", "--json").out)
    assert shown["result"] is None, "a changed query measures other mentions: the old result no longer stands"
    assert _measure(cli, config, 1)["baseline"]["value"] == pytest.approx(4.0)
    plain = cli("--config", config, "experiment", "edit", "1", "--search", "")
    assert plain.code == 2 and "--amend --reason" in plain.err, "the selection is part of the locked plan"
    edited = cli("--config", config, "experiment", "edit", "1", "--search", "", "--amend", "--reason", "all")
    assert edited.code == 0, edited.err
    shown = json.loads(cli("--config", config, "experiment", "show", "1", "--json").out)
    assert shown["search"] is None and shown["result"] is None
    assert cli("--config", config, "search", "remove", "outages").code == 0


# -- alerts ---------------------------------------------------------------------------------------


def _alert_config(tmp_path: Path, db_url: str, table: str) -> Path:
    extra = "\n[[alerts]]\n" + table + '\nwebhook = "http://127.0.0.1:9/hook"\n'
    return write_config(tmp_path, db_url=db_url, streams=STREAMS, extra=extra)


@pytest.mark.slow  # imports weeks of mentions and measures them
def test_an_alert_on_a_saved_search_counts_only_its_matches(tmp_path: Path, db_url: str, cli: Any) -> None:
    config = _alert_config(tmp_path, db_url, 'name = "outage-spike"\nkind = "spike"\nsearch = "outages"')
    now = datetime(2026, 9, 1, 12, tzinfo=VIENNA)
    lines = []
    for hour in range(1, 24 * 14):  # two weeks of usual hours: 30 plain mentions and 1 outage an hour
        at = now - timedelta(hours=hour)
        lines += [{"platform": "rss", "external_id": f"p-{hour}-{n}", "text": "a plain update",
                   "created_at": (at - timedelta(minutes=n)).isoformat(), "stream": "brand"} for n in range(30)]
        lines.append({"platform": "rss", "external_id": f"o-{hour}", "text": "acme outage",
                      "created_at": (at - timedelta(minutes=40)).isoformat(), "stream": "brand"})
    # the last hour: the usual 30 plain mentions, and 25 outages instead of 1
    lines += [{"platform": "rss", "external_id": f"p-now-{n}", "text": "a plain update",
               "created_at": (now - timedelta(minutes=59 - n)).isoformat(), "stream": "brand"} for n in range(30)]
    lines += [{"platform": "rss", "external_id": f"o-now-{n}", "text": "Acme outage, again",
               "created_at": (now - timedelta(minutes=50 - n)).isoformat(), "stream": "brand"} for n in range(25)]
    data = tmp_path / "hours.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert cli("--config", config, "mentions", "import", data).code == 0
    settings = load_settings(config)
    (alert,) = settings.alerts
    store = open_store(settings.database_url)
    try:
        unknown = evaluate(settings, store, alert, now)
        assert unknown.error is not None and "no saved search 'outages'" in unknown.error
        assert not unknown.holds
        assert cli("--config", config, "search", "add", "outages", "acme outage").code == 0
        verdict = evaluate(settings, store, alert, now)
        everything = evaluate(settings, store, replace(alert, search=None), now)
    finally:
        store.close()
    assert verdict.error is None and verdict.holds, verdict.figures
    assert verdict.figures["mentions"] == 25, "the matching mentions only"
    assert everything.figures["mentions"] == 55, "without the saved search: all of the hour's mentions"


def test_an_unknown_saved_search_of_an_alert_is_said_by_list_and_check(
    tmp_path: Path, db_url: str, cli: Any
) -> None:
    config = _alert_config(tmp_path, db_url, 'name = "outage-words"\nkind = "keyword"\nsearch = "outages"')
    checked = cli("--config", config, "alerts", "check", "--dry-run")  # first: it logs the error too
    listed = cli("--config", config, "alerts", "list")
    assert listed.code == 1 and "alerts outage-words: search: no saved search 'outages'" in listed.err
    assert checked.code == 1 and "outage-words: error (alerts outage-words: search: no saved search" in checked.out
    assert "Traceback" not in checked.err + listed.err


def test_a_keyword_alert_on_a_saved_search(tmp_path: Path, db_url: str, cli: Any) -> None:
    table = 'name = "outage-words"\nkind = "keyword"\nsearch = "outages"\nquery = "-dashboard"'
    config = _alert_config(tmp_path, db_url, table)
    now = datetime.now(VIENNA)
    lines = [{"platform": "rss", "external_id": f"k-{i}", "text": text, "created_at": now.isoformat(),
              "stream": "brand"}
             for i, text in enumerate(["acme outage at noon", "acme outage, the dashboard is down", "acme is fine"])]
    data = tmp_path / "k.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert cli("--config", config, "mentions", "import", data).code == 0
    assert cli("--config", config, "search", "add", "outages", "acme outage").code == 0
    settings = load_settings(config)
    store = open_store(settings.database_url)
    try:
        verdict = evaluate(settings, store, settings.alerts[0], datetime.now(VIENNA) + timedelta(seconds=1))
    finally:
        store.close()
    assert verdict.holds and verdict.figures["matches"] == 1, "in the saved search and not about the dashboard"


def test_a_collection_alert_has_no_saved_search(tmp_path: Path, db_url: str, cli: Any) -> None:
    config = _alert_config(tmp_path, db_url, 'name = "health"\nkind = "collection"\nsearch = "outages"')
    result = cli("--config", config, "alerts", "list")
    assert result.code == 2 and "alerts[0].search: a collection alert watches streams, not mentions" in result.err
