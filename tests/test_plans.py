"""Experiments that cannot fool their owners, through the CLI: plans that hold, post-hoc
results, power up front, possible outages, empty windows, synthetic controls, interim."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.test_experiments import TODAY, add, history
from tracker.reflection import load_record
from tracker.store.db import open_store


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    return write_config(tmp_path, db_url=db_url, streams=[
        {"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"},
        {"name": "other", "connector": "hackernews", "query": "acme", "every": "1h"},
        {"name": "third", "connector": "hackernews", "query": "acme", "every": "1h"},
        {"name": "quiet", "connector": "hackernews", "query": "acme", "every": "1h"},
    ])  # fmt: skip


def run(cli: Any, config: Path, *args: str) -> Any:
    return cli("--config", config, *args)


def boosted(tmp_path: Path, cli: Any, config: Path, stream: str = "brand", name: str = "h.jsonl",
            lift: int = 12, seed: int = 1) -> None:  # fmt: skip
    path = history(tmp_path / name, date(2026, 6, 1), 56,
                   lambda rng, i: rng.randint(14, 26) + (lift if i >= 28 else 0), stream, seed=seed,
                   lead_in=49)  # fmt: skip
    assert run(cli, config, "mentions", "import", path).code == 0


def test_the_plan_holds_once_started_and_amendments_are_post_hoc(tmp_path: Path, config: Path, cli: Any,
                                                                db_url: str) -> None:  # fmt: skip
    boosted(tmp_path, cli, config)
    add(cli, config)
    first = json.loads(run(cli, config, "experiment", "measure", "1", "--json").out)[0]
    assert first["verdict"] == "success" and first["post_hoc"] is False and first["interim"] is None
    for change in (["--end", "2026-07-19"], ["--start", "2026-06-30"], ["--baseline-start", "2026-06-01",
                   "--baseline-end", "2026-06-20"], ["--metric", "sentiment"], ["--stream", "other"],
                   ["--control-stream", "other"], ["--expect", "decrease"]):  # fmt: skip
        refused = run(cli, config, "experiment", "edit", "1", *change)
        assert refused.code == 2 and "is locked" in refused.err and "--amend --reason" in refused.err, change
    assert run(cli, config, "experiment", "edit", "1", "--title", "Renamed").code == 0, "not part of the plan"
    no_reason = run(cli, config, "experiment", "edit", "1", "--end", "2026-07-19", "--amend")
    assert no_reason.code == 2 and "--reason" in no_reason.err
    amended = run(
        cli, config, "experiment", "edit", "1", "--end", "2026-07-19", "--amend", "--reason", "cut short"
    )
    assert amended.code == 0, amended.err
    shown = json.loads(run(cli, config, "experiment", "show", "1", "--json").out)
    assert shown["post_hoc"] is True and shown["end"] == "2026-07-19"
    assert shown["original_plan"]["end"] == "2026-07-26" and shown["amendments"][0]["reason"] == "cut short"
    assert shown["amendments"][0]["after"]["end"] == "2026-07-19"
    again = json.loads(run(cli, config, "experiment", "measure", "1", "--json").out)[0]
    assert again["post_hoc"] is True and again["verdict"] == "success"
    assert "post hoc" in run(cli, config, "experiment", "measure", "1").out
    assert "plan amended" in run(cli, config, "experiment", "show", "1").out
    # a post-hoc success is not evidence for adoption; the same success under the plan is
    add(cli, config, title="Held", stream="brand")
    run(cli, config, "experiment", "measure", "2")
    for exp_id in ("1", "2"):
        done = run(cli, config, "experiment", "conclude", exp_id, "--learning", "The lift held over the window.")
        assert done.code == 0, done.err
    store = open_store(db_url)
    with store.read() as session:
        record = load_record(session)
    store.close()
    adopts = {e.id: e.adopts(datetime.now(UTC)) for e in record.experiments}
    assert adopts == {1: None, 2: "evidence"}


def test_a_planned_experiment_can_still_change(config: Path, cli: Any) -> None:
    start = TODAY + timedelta(days=5)
    add(cli, config, start=start.isoformat(), end=(start + timedelta(days=27)).isoformat())
    edited = run(cli, config, "experiment", "edit", "1", "--end", (start + timedelta(days=20)).isoformat())
    assert edited.code == 0, edited.err
    assert json.loads(run(cli, config, "experiment", "show", "1", "--json").out)["post_hoc"] is False


def test_add_reports_the_detectable_effect_and_warns(tmp_path: Path, config: Path, cli: Any) -> None:
    boosted(tmp_path, cli, config, lift=0)
    small = add(cli, config, "--json", min_effect="0.01")
    record = json.loads(small.out)
    assert 0.05 < record["mde"] < 0.6
    (warning,) = [w for w in record["warnings"] if "--min-effect" in w]
    assert "smaller than the smallest effect" in warning and warning in small.err
    big = json.loads(add(cli, config, "--json", min_effect="0.9", title="Big").out)
    assert not [w for w in big["warnings"] if "--min-effect" in w]
    quiet = json.loads(add(cli, config, "--json", stream="quiet", title="Quiet").out)
    assert quiet["mde"] is None, "no data: nothing to predict from"
    planned = run(cli, config, "experiment", "plan", "--metric", "mentions", "--stream", "brand", "--days", "28",
                  "--effect", "0.3", "--json")  # fmt: skip
    assert planned.code == 0, planned.err
    found = json.loads(planned.out)
    assert found["mde"] is not None and found["suggested_days"] is not None
    assert [r["power"] for r in found["windows"]] == sorted(r["power"] for r in found["windows"])
    text = run(cli, config, "experiment", "plan", "--metric", "mentions", "--stream", "brand")
    assert text.code == 0 and "plan at least" in text.out
    assert run(cli, config, "experiment", "plan", "--metric", "vibes", "--stream", "brand").code == 2
    assert run(cli, config, "experiment", "plan", "--metric", "mentions", "--stream", "nowhere").code == 2


def test_possible_outages_are_flagged_and_can_be_confirmed(tmp_path: Path, config: Path, cli: Any) -> None:
    holes = {35, 36, 37, 38, 39}
    path = history(tmp_path / "h.jsonl", date(2026, 6, 1), 56,
                   lambda rng, i: 0 if i in holes else rng.randint(14, 26), "brand")  # fmt: skip
    run(cli, config, "mentions", "import", path)
    add(cli, config)
    result = json.loads(run(cli, config, "experiment", "measure", "1", "--json").out)[0]
    lost = [(date(2026, 6, 1) + timedelta(days=i)).isoformat() for i in sorted(holes)]
    assert result["possible_outages"] == lost and result["excluded_days"] == []
    assert "possible outage" in run(cli, config, "experiment", "measure", "1").out
    with_data = run(cli, config, "experiment", "measure", "1", "--exclude-days", "2026-07-01")
    assert with_data.code == 2 and "has mentions" in with_data.err
    bad = run(cli, config, "experiment", "measure", "1", "--exclude-days", "yesterday")
    assert bad.code == 2 and "expected days like" in bad.err
    confirmed = run(
        cli, config, "experiment", "measure", "1", "--exclude-days", f"{lost[0]}..{lost[-1]}", "--json"
    )
    assert confirmed.code == 0, confirmed.err
    after = json.loads(confirmed.out)[0]
    assert after["excluded_days"] == lost and after["possible_outages"] == []
    assert after["treatment"]["days"] == 23
    kept = json.loads(run(cli, config, "experiment", "measure", "1", "--json").out)[0]
    assert kept["excluded_days"] == lost, "the confirmation is kept"


def test_empty_windows_are_insufficient_and_say_why(config: Path, cli: Any) -> None:
    add(cli, config, stream="quiet")
    result = json.loads(run(cli, config, "experiment", "measure", "1", "--json").out)[0]
    assert result["verdict"] == "insufficient_data"
    assert result["note"] and result["ci_low"] is None
    assert "no interval:" in run(cli, config, "experiment", "measure", "1").out


def test_several_control_streams_are_a_synthetic_control(tmp_path: Path, config: Path, cli: Any) -> None:
    boosted(tmp_path, cli, config)
    boosted(tmp_path, cli, config, stream="other", name="o.jsonl", lift=0, seed=2)
    boosted(tmp_path, cli, config, stream="third", name="t.jsonl", lift=0, seed=3)
    added = add(cli, config, "--control-stream", "other", "--control-stream", "third", "--json")
    record = json.loads(added.out)
    assert record["control_stream"] == "other" and record["control_streams"] == ["other", "third"]
    result = json.loads(run(cli, config, "experiment", "measure", "1", "--json").out)[0]
    assert result["method"] == "diff_in_diff" and set(result["weights"]) == {"other", "third"}
    assert sum(result["weights"].values()) == pytest.approx(1.0)
    assert result["verdict"] == "success"
    single = json.loads(add(cli, config, "--json", control_stream="other", title="One").out)
    assert single["control_streams"] == ["other"]
    one = json.loads(run(cli, config, "experiment", "measure", "2", "--json").out)[0]
    assert one["weights"] == {"other": 1.0}
    alone = json.loads(run(cli, config, "experiment", "measure", "--all", "--json").out)
    assert all("weights" in r and "note" in r and "largest_post_share" in r for r in alone)


def test_a_running_experiment_has_an_interim_estimate(tmp_path: Path, config: Path, cli: Any) -> None:
    first = TODAY - timedelta(days=48)
    path = history(tmp_path / "h.jsonl", first, 48, lambda rng, i: rng.randint(14, 26) + (30 if i >= 28 else 0),
                   "brand", lead_in=49)  # fmt: skip
    run(cli, config, "mentions", "import", path)
    start = first + timedelta(days=28)
    add(cli, config, start=start.isoformat(), end=(start + timedelta(days=27)).isoformat())
    result = json.loads(run(cli, config, "experiment", "measure", "1", "--json").out)[0]
    interim = result["interim"]
    assert interim["method"] == "asymptotic_cs"
    assert set(interim) == {
        "lift_rel",
        "lift_abs",
        "ci_low",
        "ci_high",
        "ci_abs_low",
        "ci_abs_high",
        "method",
        "alpha",
    }
    # the always-valid interval is wider than the fixed one
    assert interim["ci_low"] < result["ci_low"] and interim["ci_high"] > result["ci_high"]
    # +30 a day on about 20: it excludes 0, so the experiment may stop early
    assert result["verdict"] == "success" and result["stopped_early"] is True
    assert "interim" in run(cli, config, "experiment", "measure", "1").out


def test_the_reason_for_a_missing_interval_and_post_hoc_reach_the_text() -> None:
    from tracker.report import lift_text, result_line

    result = {"id": 3, "metric": "engagement", "method": "pre_post", "verdict": "inconclusive",
              "baseline": {"value": 51.93}, "treatment": {"value": 244.34}, "lift_rel": 3.705, "lift_abs": 192.4,
              "ci_low": None, "ci_high": None, "ci_abs_low": None, "ci_abs_high": None, "excluded_days": [],
              "note": "no residual degrees of freedom: no interval", "post_hoc": True, "interim": None,
              "possible_outages": ["2026-07-01"], "weights": {"a": 0.7, "b": 0.3}, "largest_post_share": 0.97}  # fmt: skip
    text = lift_text(result)  # the digest's and the web page's phrasing
    assert "no interval: no residual degrees of freedom" in text and "post hoc" in text
    line = result_line(result)
    assert "possible outage: 2026-07-01" in line and "synthetic control a 0.70, b 0.30" in line
    assert "97 % of the plain lift in mean engagement is owed to one post" in line
    assert "owed to one post (without it" in result_line({**result, "largest_post_share": 4.5})
    assert "owed to one post" not in result_line({**result, "largest_post_share": -4.5})
    running = {**result, "post_hoc": False, "note": None, "interim": {"lift_rel": 0.2, "lift_abs": 4.0,
               "ci_low": -0.1, "ci_high": 0.6, "ci_abs_low": -2.0, "ci_abs_high": 12.0, "method": "asymptotic_cs",
               "alpha": 0.005}}  # fmt: skip
    assert lift_text(running).startswith("interim lift +20.0 % (always-valid 99.5 % CI -10.0 % to +60.0 %)")
    warned = {**result, "verdict": "success", "note": None, "trend_warning": "only 3 days with data",
              "ci_low": 0.1, "ci_high": 0.9, "ci_abs_low": 5.0, "ci_abs_high": 40.0}  # fmt: skip
    assert "trend not checked: only 3 days with data" in lift_text(warned)
    assert "trend not checked" not in lift_text({**warned, "verdict": "inconclusive"})
    # a young stream's running before/after comparison has no interval: the reason is said once
    young = {**warned, "verdict": "running", "ci_low": None, "ci_high": None, "ci_abs_low": None,
             "ci_abs_high": None, "note": "only 20 days with data before the baseline"}  # fmt: skip
    assert lift_text(young).count("days with data") == 1 and "trend not checked" not in lift_text(young)
    # a result stored before the daily looks spent 0.5 % (no alpha) keeps its 95 % label
    older = {**running, "interim": {k: v for k, v in running["interim"].items() if k != "alpha"}}
    assert lift_text(older).startswith("interim lift +20.0 % (always-valid 95 % CI")


def test_engagement_is_robust_to_one_viral_post_end_to_end(tmp_path: Path, config: Path, cli: Any) -> None:
    import random

    rng = random.Random(5)
    lines = []
    for i in range(-49, 56):  # 49 days before the baseline: the history a pre_post needs
        day = date(2026, 6, 1) + timedelta(days=i)
        for n in range(rng.randint(3, 5)):
            likes = int(30 * rng.lognormvariate(0, 1))
            if i == 40 and n == 0:
                likes = 20000  # one viral post in the experiment window
            lines.append({"platform": "rss", "external_id": f"own-{day}-{n}", "text": "our post", "kind": "own",
                          "likes": likes, "created_at": f"{day}T10:{n:02d}:00+02:00", "stream": "brand"})  # fmt: skip
    path = tmp_path / "own.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert run(cli, config, "mentions", "import", path).code == 0
    add(cli, config, metric="engagement")
    result = json.loads(run(cli, config, "experiment", "measure", "1", "--json").out)[0]
    assert result["ci_low"] is not None and result["ci_high"] is not None
    assert result["ci_low"] < 0 < result["ci_high"] and result["verdict"] in ("inconclusive", "no_effect")
    assert result["largest_post_share"] is not None and result["largest_post_share"] > 0.9
    assert result["note"] is None
    # SPEC §6: `value` is the plain mean engagement per own post; the lift (and the verdict) is
    # that of the robust typical post, beside it in `typical`, and says so in `lift_of`.
    posts: dict[str, list[int]] = {"baseline": [], "treatment": []}
    for line in lines:
        day = date.fromisoformat(str(line["created_at"])[:10])
        window = "treatment" if day >= date.fromisoformat(result["treatment"]["start"]) else "baseline"
        if str(day) >= result["baseline"]["start"] and str(day) <= result["treatment"]["end"]:
            posts[window].append(int(line["likes"]))  # type: ignore[call-overload]
    for window, values in posts.items():
        assert result[window]["value"] == pytest.approx(sum(values) / len(values))
        assert 0 < result[window]["typical"] < result[window]["value"]
    assert result["lift_of"] == "typical"
    assert result["trend_history_days"] == 49 and result["trend_warning"] is None
    assert result["treatment"]["value"] > 2 * result["baseline"]["value"]  # the viral post's plain mean
    text = run(cli, config, "experiment", "measure", "1").out
    assert "owed to one post" in text and "per post (typical post " in text and "lift of the typical post" in text


def test_a_before_after_comparison_on_a_young_stream_gets_no_verdict(tmp_path: Path, config: Path,
                                                                     cli: Any) -> None:  # fmt: skip
    """Without 49 days before the baseline a trend passes for an effect (tests/test_trend.py)."""
    path = history(tmp_path / "h.jsonl", date(2026, 6, 1), 56,
                   lambda rng, i: rng.randint(14, 26) + (12 if i >= 28 else 0), "brand")  # fmt: skip
    assert run(cli, config, "mentions", "import", path).code == 0
    assert run(cli, config, "mentions", "import",
               history(tmp_path / "c.jsonl", date(2026, 6, 1), 56, lambda rng, i: rng.randint(14, 26), "other",
                       seed=2)).code == 0  # fmt: skip
    added = add(cli, config, "--json")
    assert added.code == 0, added.err
    (warning,) = [w for w in json.loads(added.out)["warnings"] if "no verdict" in w]
    assert "only 0 days before the baseline" in warning and "--control-stream" in warning
    assert warning in added.err, "warnings are printed to stderr too"
    result = json.loads(run(cli, config, "experiment", "measure", "1", "--json").out)[0]
    assert result["method"] == "pre_post" and result["verdict"] == "inconclusive"
    assert result["lift_rel"] > 0.3, "the lift is still shown"
    assert result["ci_low"] is None and result["ci_abs_low"] is None
    assert "only 0 days with data before the baseline" in result["note"] and "needs 49" in result["note"]
    assert result["trend_history_days"] == 0 and "(49 needed)" in result["trend_warning"]
    text = run(cli, config, "experiment", "measure", "1").out
    assert "no interval: only 0 days with data before the baseline" in text
    # a control stream shares any trend: the same data then get a verdict, and no warning
    controlled = add(cli, config, "--json", control_stream="other", title="With control")
    assert not [w for w in json.loads(controlled.out)["warnings"] if "no verdict" in w]
    result = json.loads(run(cli, config, "experiment", "measure", "2", "--json").out)[0]
    assert result["method"] == "diff_in_diff" and result["verdict"] == "success" and result["ci_low"] > 0


def test_planning_on_a_young_stream_warns_that_a_control_is_needed(tmp_path: Path, config: Path, cli: Any) -> None:
    young = history(tmp_path / "y.jsonl", TODAY - timedelta(days=20), 20, lambda rng, i: rng.randint(14, 26), "quiet")
    assert run(cli, config, "mentions", "import", young).code == 0
    planned = run(cli, config, "experiment", "plan", "--metric", "mentions", "--stream", "quiet", "--json")
    assert planned.code == 0, planned.err
    (warning,) = json.loads(planned.out)["warnings"]
    assert "no verdict" in warning and "--control-stream" in warning and warning in planned.err
    assert run(cli, config, "mentions", "import",
               history(tmp_path / "o.jsonl", TODAY - timedelta(days=20), 20, lambda rng, i: 20, "other")).code == 0
    controlled = run(cli, config, "experiment", "plan", "--metric", "mentions", "--stream", "quiet",
                     "--control-stream", "other", "--json")  # fmt: skip
    assert controlled.code == 0 and json.loads(controlled.out)["warnings"] == []
