"""Several control streams as a synthetic control (tracker/synthetic.py), with known truth.

Two latent daily patterns drive the streams: pattern A has a +40 % step in the
experiment window (a campaign of the whole market), pattern B none; both have
their own weekday swing and day-to-day gamma noise. The experiment stream follows
0.6 A + 0.4 B; control 1 follows A, control 2 follows B, control 3 follows an
unrelated pattern C with a -30 % step. No effect: the truth is a lift of 0. A
single control (the unrelated one, or the A one) gets the counterfactual wrong; the
synthetic control of all three finds the weights and covers the truth.
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import pytest

from tracker.stats import Day, measure, verdict
from tracker.synthetic import combine, simplex_weights, weight_variance, widen

D0 = datetime.date(2024, 1, 1)
DAYS = 28


def pattern(rng: np.random.Generator, step: float) -> np.ndarray:
    t = np.arange(2 * DAYS)
    swing = 1 + 0.25 * np.sin(2 * math.pi * t / 7 + rng.uniform(0, 2 * math.pi))
    return swing * rng.gamma(30, 1 / 30, 2 * DAYS) * np.where(t >= DAYS, 1 + step, 1.0)


def split(values: np.ndarray) -> tuple[list[Day], list[Day]]:
    days = [Day(D0 + datetime.timedelta(days=i), float(v)) for i, v in enumerate(values)]
    return days[:DAYS], days[DAYS:]


def coverage(seed: int, n: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    out = {"before_coverage": 0.0, "synthetic_coverage": 0.0, "synthetic_false": 0.0, "single_unrelated_false": 0.0,
           "single_a_false": 0.0, "weight_a": 0.0, "weight_c": 0.0}  # fmt: skip
    for i in range(n):
        a, b, c = pattern(rng, 0.4), pattern(rng, 0.0), pattern(rng, -0.3)
        own = rng.poisson(30 * (0.6 * a + 0.4 * b))
        controls = [rng.poisson(level * p) for level, p in ((50, a), (20, b), (40, c))]
        base, treat = split(own)
        parts = [split(x) for x in controls]
        weights, synthetic = combine("count", base, parts)
        plain = measure("count", base, treat, synthetic)
        out["before_coverage"] += plain.ci_low is not None and plain.ci_low <= 0 <= plain.ci_high  # type: ignore[operator]
        e = widen(plain, weight_variance("count", base, parts, seed=i))
        out["synthetic_coverage"] += e.ci_low is not None and e.ci_low <= 0 <= e.ci_high  # type: ignore[operator]
        v = verdict(e, ended=True, expect="increase", min_effect=0.05, relative=True)
        out["synthetic_false"] += v in ("success", "failure")
        for name, single in (("single_unrelated_false", parts[2]), ("single_a_false", parts[0])):
            s = measure("count", base, treat, single)
            out[name] += verdict(s, ended=True, expect="increase", min_effect=0.05, relative=True) in (
                "success",
                "failure",
            )
        out["weight_a"] += weights[0]
        out["weight_c"] += weights[2]
    return {k: v / n for k, v in out.items()}


def test_synthetic_control_covers_the_truth() -> None:
    f = coverage(61, 60)
    print(f"\nsynthetic control, 60 null experiments: {f}")
    assert f["synthetic_coverage"] >= 0.90
    assert f["synthetic_false"] <= 0.10
    assert f["single_unrelated_false"] >= 0.5  # before: the wrong single control
    assert 0.4 < f["weight_a"] < 0.8 and f["weight_c"] < 0.2


@pytest.mark.slow
def test_synthetic_control_covers_the_truth_400() -> None:
    f = coverage(62, 400)
    n = 400
    se = (f["synthetic_coverage"] * (1 - f["synthetic_coverage"]) / n) ** 0.5
    print(f"\nsynthetic control, {n} null experiments: {f}; coverage ± {se:.3f} (one standard error)")
    # Before: the combination treated as one observed control covered 0.89-0.90 (its fitted
    # weights give the misleading control about 0.12 by chance). After: the weights' bootstrap
    # variance added to the lift's (tracker/synthetic.py); measured 0.975 on 200 of these.
    assert f["before_coverage"] <= 0.92
    assert 0.93 <= f["synthetic_coverage"] <= 0.99
    assert f["synthetic_false"] <= 0.06


def test_simplex_weights() -> None:
    rng = np.random.default_rng(1)
    columns = rng.normal(10, 2, (40, 3))
    target = columns @ np.array([0.7, 0.3, 0.0])
    w = simplex_weights(target, columns)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert w == pytest.approx([0.7, 0.3, 0.0], abs=0.02)
    assert simplex_weights(target, columns[:, :1]).tolist() == [1.0]
