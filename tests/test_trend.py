"""Trends without a control (tracker/stats.py "Trends"), on simulated experiments with known truth.

Counts as in tests/test_stats.py (negative binomial, shape 8, 12 to 40 mentions a day,
±25 % weekday swing), with a steady trend of +1 % a day (log-linear) over the whole
history and no effect; the product tests the trend on the 28-day baseline and the
56 days before it (`TREND_HISTORY_DAYS`, when the stream has them). Before: the same
pre_post without the trend test. The power check uses a +30 % effect and no trend.
With fewer than `TREND_MIN_HISTORY` days before the baseline the product gives no
verdict (`short_history`), as tracker/measuring.py does for every pre_post.
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import pytest

from tracker.measuring import TREND_HISTORY_DAYS
from tracker.stats import TREND_MIN_HISTORY, Day, baseline_trend, measure, short_history, verdict

D0 = datetime.date(2024, 1, 1)
DAYS = 28
SHAPE = 8.0


def world(
    rng: np.random.Generator, n: int, *, trend: float, effect: float, history: int
) -> tuple[np.ndarray, np.ndarray]:
    start = rng.integers(0, 7, n)
    total = history + 2 * DAYS
    t = np.arange(total)
    phase = rng.uniform(0, 2 * math.pi, n)
    level = rng.uniform(12, 40, n)
    mu = level[:, None] * (
        1 + 0.25 * np.sin(2 * math.pi * (start[:, None] + t[None, :]) / 7 + phase[:, None])
    )
    mu = (
        mu
        * np.exp(math.log1p(trend) * (t - history - DAYS))[None, :]
        * np.where(t >= history + DAYS, 1 + effect, 1)
    )
    return rng.poisson(mu * rng.gamma(SHAPE, 1 / SHAPE, mu.shape)).astype(float), start


def rates(
    seed: int, n: int, *, trend: float, effect: float, history: int = TREND_HISTORY_DAYS
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    y, start = world(rng, n, trend=trend, effect=effect, history=history)
    out = {"before": 0.0, "after": 0.0, "after_baseline_only": 0.0}
    for i in range(n):
        first = D0 + datetime.timedelta(days=int(start[i]))
        days = [Day(first + datetime.timedelta(days=k), float(v)) for k, v in enumerate(y[i])]
        hist, base, treat = days[:history], days[history : history + DAYS], days[history + DAYS :]
        for name, kwargs in (
            ("before", {"check_trend": False}),
            ("after", {"history": hist}),
            ("after_baseline_only", {}),
        ):
            e = measure("count", base, treat, **kwargs)  # type: ignore[arg-type]
            if name != "before":  # what tracker/measuring.py does for a pre_post
                e = short_history(e, len(kwargs.get("history", ())))  # type: ignore[arg-type]
            out[name] += (
                verdict(e, ended=True, expect="increase", min_effect=0.05, relative=True) == "success"
            )
    return {k: v / n for k, v in out.items()}


@pytest.mark.parametrize("history", [TREND_MIN_HISTORY, TREND_HISTORY_DAYS])
def test_a_trend_is_not_an_effect(history: int) -> None:
    trended = rates(7, 150, trend=0.01, effect=0.0, history=history)
    flat = rates(8, 150, trend=0.0, effect=0.30, history=history)
    print(f"\n+1 %/day, no effect, successes: {trended}\nno trend, +30 %, successes: {flat}")
    assert trended["before"] >= 0.5  # the trend passed off as an effect
    assert trended["after"] <= 0.10
    assert flat["after"] >= flat["before"] - 0.10
    # the baseline alone cannot tell a trend from an effect: no verdict either way
    assert trended["after_baseline_only"] == 0 and flat["after_baseline_only"] == 0


@pytest.mark.parametrize("history", [0, 14, 28, TREND_MIN_HISTORY - 1])
def test_too_little_history_gives_no_verdict(history: int) -> None:
    assert rates(9, 40, trend=0.01, effect=0.0, history=history)["after"] == 0
    assert rates(10, 40, trend=0.0, effect=0.5, history=history)["after"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("history", [TREND_MIN_HISTORY, TREND_HISTORY_DAYS])
def test_a_trend_is_not_an_effect_400(history: int) -> None:
    trended = rates(17, 400, trend=0.01, effect=0.0, history=history)
    flat = rates(18, 400, trend=0.0, effect=0.30, history=history)
    print(f"\n+1 %/day, no effect, successes: {trended}\nno trend, +30 %, successes: {flat}")
    assert trended["after"] <= 0.10
    assert flat["after"] >= flat["before"] - 0.10


def test_the_refusal_says_why_and_recommends_a_control() -> None:
    rng = np.random.default_rng(3)
    y, _ = world(rng, 1, trend=0.02, effect=0.0, history=TREND_HISTORY_DAYS)
    days = [Day(D0 + datetime.timedelta(days=k), float(v)) for k, v in enumerate(y[0])]
    h = TREND_HISTORY_DAYS
    e = measure("count", days[h : h + DAYS], days[h + DAYS :], history=days[:h])
    assert e.ci_low is None and e.ci_abs_low is None and e.lift_rel is not None
    assert e.note and "rises by" in e.note and "--control-stream" in e.note
    assert e.trend_per_day is not None and 0.01 < e.trend_per_day < 0.03
    assert verdict(e, ended=True, expect="increase", min_effect=0.05, relative=True) == "inconclusive"
    trend = baseline_trend("count", days[: h + DAYS])
    assert trend is not None and trend.clear
