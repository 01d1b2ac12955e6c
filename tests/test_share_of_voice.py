"""Share of voice like for like (issue 14, item 6): an experiment's streams against the competitor
streams on the same platforms, and the result says which ones."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.test_experiments import add, history


@pytest.mark.slow
def test_share_of_voice_compares_with_competitors_on_the_same_platform(tmp_path: Path, cli: Any) -> None:
    config = write_config(tmp_path, streams=[
        {"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"},
        {"name": "rival", "connector": "hackernews", "query": "globex", "every": "1h", "role": "competitor"},
        {"name": "rival-news", "connector": "rss", "url": "https://news.example/feed.xml", "every": "1h",
         "role": "competitor"},
    ])  # fmt: skip
    for stream, per_day in (("brand", 20), ("rival", 20), ("rival-news", 200)):
        path = history(tmp_path / f"{stream}.jsonl", date(2026, 6, 1), 56, lambda rng, i, n=per_day: n, stream)
        assert cli("--config", config, "mentions", "import", path).code == 0
    assert add(cli, config, metric="share_of_voice", title="Voice", practice="influencer-outreach").code == 0
    (result,) = json.loads(cli("--config", config, "experiment", "measure", "1", "--json").out)
    assert result["compared_with"] == ["rival"] and result["like_for_like"] is True
    assert abs(result["baseline"]["value"] - 0.5) < 1e-9, "20 of 20 + 20 on Hacker News, not 20 of 240 everywhere"
    text = cli("--config", config, "experiment", "show", "1").out
    assert "share of voice against rival" in text


@pytest.mark.slow
def test_named_competitors_are_what_it_compares_with(tmp_path: Path, cli: Any) -> None:
    config = write_config(tmp_path, streams=[
        {"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"},
        {"name": "rival", "connector": "hackernews", "query": "globex", "every": "1h", "role": "competitor"},
        {"name": "rival-news", "connector": "rss", "url": "https://news.example/feed.xml", "every": "1h",
         "role": "competitor"},
    ])  # fmt: skip
    for stream, per_day in (("brand", 20), ("rival", 20), ("rival-news", 180)):
        path = history(tmp_path / f"{stream}.jsonl", date(2026, 6, 1), 56, lambda rng, i, n=per_day: n, stream)
        assert cli("--config", config, "mentions", "import", path).code == 0
    bad = add(cli, config, "--competitors", "nobody", metric="share_of_voice", practice="influencer-outreach")
    assert bad.code == 2 and "--competitors: unknown stream 'nobody'" in bad.err
    wrong = add(cli, config, "--competitors", "rival", metric="mentions")
    assert wrong.code == 2 and "--competitors: only for the share_of_voice metric" in wrong.err
    made = add(cli, config, "--competitors", "rival-news", "--json", metric="share_of_voice",
               practice="influencer-outreach")  # fmt: skip
    assert made.code == 0 and json.loads(made.out)["competitors"] == ["rival-news"]
    (result,) = json.loads(cli("--config", config, "experiment", "measure", "1", "--json").out)
    assert result["compared_with"] == ["rival-news"] and abs(result["baseline"]["value"] - 0.1) < 1e-9
    edited = cli("--config", config, "experiment", "edit", "1", "--competitors", "rival,rival-news", "--json")
    assert edited.code == 0 and json.loads(edited.out)["competitors"] == ["rival", "rival-news"]
    assert json.loads(cli("--config", config, "experiment", "show", "1", "--json").out)["result"] is None, (
        "a changed comparison voids the old result"
    )
