"""Effects in their metric's own unit, and the unit-free ranking rule of practices (issue 14, item 2)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tests.conftest import write_config
from tracker.reflection import _Exp, effect_of, effect_text, rank_key, review_text


def payload(metric: str, *, verdict: str = "success", lift_abs: float, lift_rel: float | None,
            base: float = 1.0, treat: float = 1.0) -> dict[str, Any]:  # fmt: skip
    return {
        "metric": metric, "verdict": verdict, "lift_abs": lift_abs, "lift_rel": lift_rel,
        "baseline": {"days": 14, "value": base}, "treatment": {"days": 14, "value": treat},
        "series": {"baseline": [["2026-01-01", base]], "treatment": [["2026-01-15", treat]]},
    }  # fmt: skip


def exp(metric: str, *, min_effect: float = 0.05, expect: str = "increase", exp_id: int = 1) -> _Exp:
    return _Exp(exp_id, "p", None, None, date(2026, 1, 15), date(2026, 1, 28),
                datetime(2026, 1, 1, tzinfo=UTC), metric, expect, min_effect)  # fmt: skip


def test_each_effect_is_in_its_metric_unit() -> None:
    sentiment = effect_of(exp("sentiment"), payload("sentiment", lift_abs=0.219, lift_rel=2.46,
                                                    base=0.089, treat=0.308))  # fmt: skip
    share = effect_of(exp("positive_share"), payload("positive_share", lift_abs=0.15, lift_rel=0.35))
    sov = effect_of(exp("share_of_voice"), payload("share_of_voice", lift_abs=-0.04, lift_rel=-0.1))
    mentions = effect_of(exp("mentions"), payload("mentions", lift_abs=12.0, lift_rel=0.6, base=20, treat=32))
    assert sentiment and share and sov and mentions
    assert (sentiment["value"], sentiment["unit"]) == (0.219, "points"), "never +246 %"
    assert (share["value"], share["unit"]) == (15.0, "percentage points"), "never +35 %"
    assert (sov["value"], sov["unit"]) == (-4.0, "percentage points")
    assert (mentions["value"], mentions["unit"]) == (60.0, "%")
    assert effect_text(sentiment) == "sentiment +0.219 points"
    assert effect_text(share) == "positive share +15.0 percentage points"
    assert effect_text(mentions) == "mentions +60.0 %"
    # The unit-free size: the judged change over min_effect, the expected direction positive.
    assert sentiment["size"] == round(0.219 / 0.05, 3) and mentions["size"] == 12.0
    down = effect_of(exp("mentions", expect="decrease", min_effect=0.1), payload("mentions", lift_abs=-5,
                                                                                 lift_rel=-0.2))  # fmt: skip
    assert down and down["size"] == 2.0


def test_results_that_are_not_evidence_have_no_effect() -> None:
    assert effect_of(exp("mentions"), payload("mentions", verdict="running", lift_abs=1, lift_rel=0.1)) is None
    assert effect_of(exp("mentions"), payload("mentions", verdict="insufficient_data", lift_abs=1,
                                              lift_rel=0.1)) is None  # fmt: skip
    zero = payload("mentions", verdict="inconclusive", lift_abs=0, lift_rel=None, base=0, treat=0)
    assert effect_of(exp("mentions"), zero) is None, "0 -> 0 is no data, not an effect"


def row(key: str, *, successes: int = 0, score: float | None = None, measured: bool = True,
        adopted: bool = False, experiments: int = 1) -> dict[str, Any]:  # fmt: skip
    return {"key": key, "successes": successes, "score": score, "status": "measured" if measured else "not measured",
            "adopted": adopted, "experiments": experiments}  # fmt: skip


def test_the_ranking_rule_with_mixed_metrics() -> None:
    rows = [
        row("big-relative", successes=1, score=12.0),  # +60 % mentions, min_effect 5 %
        row("small-sentiment", successes=1, score=4.38),  # +0.219 points, min_effect 0.05
        row("two-wins", successes=2, score=1.5),
        row("unmeasured-adopted", measured=False, adopted=True, experiments=3),
        row("measured-nothing", successes=0, score=-0.5),
        row("measured-zero", successes=0, score=None),
    ]
    ranked = [r["key"] for r in sorted(rows, key=rank_key)]
    assert ranked == ["two-wins", "big-relative", "small-sentiment", "measured-nothing", "measured-zero",
                      "unmeasured-adopted"]  # fmt: skip


def test_review_text_never_ranks_unmeasured_practices_nor_shows_percent_for_scores() -> None:
    base = {"as_of": "2026-03-01", "stage": {"number": 2, "name": "Testing"}, "since": None, "dimensions": {},
            "moves": [], "next_steps": []}  # fmt: skip
    practices = [
        {**row("answers", successes=1, score=4.38), "rank": 1, "name": "Public answers", "dimension": "strategy",
         "adopted_by": "evidence", "adopted_on": "2026-02-01", "adopted": True,
         "effects": [{"metric": "sentiment", "unit": "points", "value": 0.219}]},
        {**row("shepherd", measured=False, adopted=True), "rank": 2, "name": "A shepherd", "dimension": "people",
         "adopted_by": "judgement", "adopted_on": "2026-02-02", "effects": []},
    ]  # fmt: skip
    text = review_text({**base, "practices": practices})
    most = text.split("Practices that moved us most")[1].split("Not measured yet:")[0]
    assert "Public answers" in most and "sentiment +0.219 points" in most and "%" not in most.split(":", 1)[1]
    assert "A shepherd" not in most
    assert "A shepherd: 1 experiment, not measured (adopted on the team's judgement)" in text


def test_practices_command_lists_the_keys(tmp_path: Path, cli: Any) -> None:
    path = write_config(tmp_path)
    listed = json.loads(cli("--config", path, "practices", "--json").out)
    shepherd = next(p for p in listed if p["key"] == "shepherd")
    assert shepherd == {**shepherd, "name": "A shepherd who coordinates", "dimension": "people", "stage": 3}
    text = cli("--config", path, "practices").out
    assert text.splitlines()[0].split() == ["KEY", "STAGE", "DIMENSION", "NAME"] and "shepherd" in text
    bad = cli("--config", path, "experiment", "add", "--title", "t", "--hypothesis", "h", "--practice", "nope",
              "--metric", "mentions", "--stream", "x", "--start", "2026-01-01", "--end", "2026-01-10")  # fmt: skip
    assert bad.code == 2 and "see `tracker practices` for the keys" in bad.err
