"""Mean metrics at low volume: HC2 against HC3 (tracker/stats.py ``MEAN_SANDWICH``).

Sentiment as in tests/test_stats.py (scores with sd 0.5 around a daily mean with a
weekday swing and day effects) but only about 3 scored mentions a day, 28 + 28 days.
A shift of +0.115: the share of experiments that find it, with each sandwich, and a
Welch t-test on the single mentions for reference; and the false verdicts on null data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from scipy import stats as sps

import tests.test_stats as T
from tracker import stats
from tracker.stats import measure, verdict


@contextmanager
def sandwich(name: str) -> Iterator[None]:
    saved = stats.MEAN_SANDWICH
    stats.MEAN_SANDWICH = name  # type: ignore[assignment]
    try:
        yield
    finally:
        stats.MEAN_SANDWICH = saved


def world(rng: np.random.Generator, n: int, shift: float, per_day: int = 3) -> tuple[np.ndarray, ...]:
    start = rng.integers(0, 7, n)
    after = np.arange(2 * T.DAYS) >= T.DAYS
    swing = 0.05 * (T._weekday_multiplier(rng, n, start, swing=1.0) - 1)
    mean = rng.uniform(-0.1, 0.3, n)[:, None] + swing + rng.normal(0, 0.03, (n, 2 * T.DAYS)) + shift * after
    unit = (mean + 1) / 2
    concentration = unit * (1 - unit) / 0.25**2 - 1
    scored = rng.poisson(per_day, mean.shape)
    width = int(scored.max())
    draws = 2 * rng.beta((unit * concentration)[..., None], ((1 - unit) * concentration)[..., None],
                         (*mean.shape, width)) - 1  # fmt: skip
    used = np.arange(width)[None, None, :] < scored[..., None]
    total = np.where(used, draws, 0.0).sum(axis=-1)
    daily = np.where(scored > 0, total / np.maximum(scored, 1), np.nan)
    return daily, scored.astype(float), start, draws, used


def figures(seed: int, n: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for name, shift in (("null", 0.0), ("shift", 0.115)):
        daily, scored, start, draws, used = world(rng, n, shift)
        wanted = ("success", "failure") if shift == 0 else ("success",)
        for kind in ("HC2", "HC3"):
            with sandwich(kind):
                found = 0
                for i in range(n):
                    e = measure("mean", *T.windows(daily[i], start[i], scored[i]), check_trend=False)
                    found += (
                        verdict(e, ended=True, expect="increase", min_effect=0.05, relative=False) in wanted
                    )
            out[f"{name}_{kind}"] = found / n
        hits = 0
        for i in range(n):
            a, b = draws[i, : T.DAYS][used[i, : T.DAYS]], draws[i, T.DAYS :][used[i, T.DAYS :]]
            r = sps.ttest_ind(b, a, equal_var=False)
            hits += bool(r.pvalue < 0.05 and (r.statistic > 0 or shift == 0))
        out[f"{name}_mention_t_test"] = hits / n
    return out


def test_hc2_raises_power_and_keeps_false_verdicts_low() -> None:
    f = figures(5, 200)
    print(f"\nsentiment, 3 scored a day, 200 experiments each: {f}")
    assert f["null_HC2"] <= 0.06
    assert f["shift_HC2"] >= f["shift_HC3"] + 0.02


@pytest.mark.slow
def test_hc2_raises_power_and_keeps_false_verdicts_low_600() -> None:
    f = figures(6, 600)
    print(f"\nsentiment, 3 scored a day, 600 experiments each: {f}")
    assert f["null_HC2"] <= 0.06
    assert f["shift_HC2"] >= f["shift_HC3"] + 0.02
