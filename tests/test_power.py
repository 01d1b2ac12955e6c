"""Power up front (tracker/power.py): predicted power against simulated power.

Each simulated experiment has its own stream: negative binomial counts (shape 3,
the heavier over-dispersion; and 8 in the slow run) at a level of 2, 5, 20 or 200
mentions a day with a ±25 % weekday swing, a 28-day baseline and a 28-day window
with a true lift. The prediction is made, as `experiment add` makes it, from that
experiment's baseline days only; the simulated power is the share of `success`
verdicts of tracker/stats.py. The lifts tried are the MDE at the true noise and
half of it (about 80 % and 35 % power). `pytest -s` prints the figures.
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import pytest

from tracker import power, sequential
from tracker.stats import Day, measure, verdict

D0 = datetime.date(2024, 1, 1)
DAYS = 28


def _days(values: np.ndarray, first: datetime.date) -> list[Day]:
    return [Day(first + datetime.timedelta(days=i), float(v)) for i, v in enumerate(values)]


def simulated_and_predicted(
    seed: int, level: float, shape: float, n: int
) -> list[tuple[float, float, float]]:
    """[(lift, mean predicted power, simulated power)] at the MDE and half of it."""
    rng = np.random.default_rng(seed)
    truth = power.Noise("count", level, 1 + level / shape, 1.0, DAYS)
    mde = power.mde(truth, DAYS, DAYS)
    assert mde is not None
    out = []
    for lift in (mde, mde / 2):
        start = rng.integers(0, 7, n)
        phase = rng.uniform(0, 2 * math.pi, n)
        t = np.arange(2 * DAYS)
        mu = level * (1 + 0.25 * np.sin(2 * math.pi * (start[:, None] + t[None, :]) / 7 + phase[:, None]))
        mu = mu * np.where(t >= DAYS, 1 + lift, 1.0)[None, :]
        y = rng.poisson(mu * rng.gamma(shape, 1 / shape, mu.shape))
        found = predicted = 0.0
        for i in range(n):
            first = D0 + datetime.timedelta(days=int(start[i]))
            base = _days(y[i, :DAYS], first)
            e = measure("count", base, _days(y[i, DAYS:], first + datetime.timedelta(days=DAYS)))
            final = sequential.final_look(e)  # the product's verdict at the end (tracker/measuring.py)
            found += verdict(final, ended=True, expect="increase", min_effect=0.05, relative=True) == "success"
            noise = power.noise("count", base)
            predicted += power.power(lift, noise, DAYS, DAYS) if noise else 0.0
        out.append((lift, predicted / n, found / n))
    return out


@pytest.mark.parametrize("level", [2, 5, 20, 200])
def test_predicted_power_matches_simulated_power(level: int) -> None:
    for lift, predicted, simulated in simulated_and_predicted(1000 + level, level, 3.0, 150):
        print(f"\n{level}/day, lift {lift:+.3f}: predicted {predicted:.3f}, simulated {simulated:.3f}")
        assert abs(predicted - simulated) <= 0.10


@pytest.mark.slow
@pytest.mark.parametrize("shape", [3.0, 8.0])
@pytest.mark.parametrize("level", [2, 5, 20, 200])
def test_predicted_power_matches_simulated_power_400(level: int, shape: float) -> None:
    for lift, predicted, simulated in simulated_and_predicted(2000 + level, level, shape, 400):
        print(
            f"\n{level}/day shape {shape}, lift {lift:+.3f}: predicted {predicted:.3f}, simulated {simulated:.3f}"
        )
        assert abs(predicted - simulated) <= 0.10


def test_mde_shrinks_with_volume_and_window() -> None:
    def mde(level: float, days: int) -> float:
        found = power.mde(power.Noise("count", level, 1 + level / 3, 1.0, 28), days, days)
        assert found is not None
        return found

    assert mde(200, 28) < mde(20, 28) < mde(2, 28)
    assert mde(5, 56) < mde(5, 28) < mde(5, 14)
    # a decrease is bounded by -100 %
    down = power.mde(power.Noise("count", 20, 3.0, 1.0, 28), 28, 28, decrease=True)
    assert down is not None and 0 < down < 1


def test_mean_metrics_have_an_absolute_mde() -> None:
    rng = np.random.default_rng(4)
    days = [
        Day(D0 + datetime.timedelta(days=i), float(v), 20.0) for i, v in enumerate(rng.normal(0.1, 0.1, 28))
    ]
    noise = power.noise("mean", days)
    assert noise is not None
    found = power.mde(noise, 28, 28, relative=False)
    # sd of a day's mean 0.1, 28 + 28 days: (1.96 + 0.84) * 0.1 * sqrt(2 / 28) = 0.075, inflated a little
    assert found is not None and 0.06 < found < 0.10


def sentiment_power(seed: int, n: int, shift: float, per_day: int, *, from_baseline: bool) -> tuple[float, float]:
    """(predicted, simulated) power for a sentiment shift, in the world of tests/test_means.py.

    Predicted as `experiment add` predicts it (tracker/power.py, the mean model simulated)
    from each experiment's own baseline days, or (``from_baseline=False``) from the true
    noise: 0.25 per scored mention plus the day effect, `per_day` scored mentions a day.
    Simulated: the share of `success` verdicts the product gives (the verdict at the end,
    on the alpha the daily looks left).
    """
    import tests.test_stats as T
    from tests.test_means import world

    rng = np.random.default_rng(seed)
    daily, scored, start, _, _ = world(rng, n, shift, per_day=per_day)
    truth = power.Noise("mean", 0.1, 0.25 + 0.03**2 * per_day, float(per_day), DAYS)
    found = predicted = 0.0
    for i in range(n):
        base, treat = T.windows(daily[i], start[i], scored[i])
        e = measure("mean", base, treat, check_trend=False)
        final = sequential.final_look(e)
        found += verdict(final, ended=True, expect="increase", min_effect=0.05, relative=False) == "success"
        if from_baseline:
            noise = power.noise("mean", base)
            predicted += power.power(shift, noise, DAYS, DAYS, relative=False) if noise else 0.0
    if not from_baseline:
        predicted = n * power.power(shift, truth, DAYS, DAYS, relative=False)
    return predicted / n, found / n


@pytest.mark.parametrize("per_day,shift", [(3, 0.115), (3, 0.2), (20, 0.06)])
def test_predicted_sentiment_power_matches_the_model_it_fits(per_day: int, shift: float) -> None:
    predicted, simulated = sentiment_power(40 + per_day, 150, shift, per_day, from_baseline=False)
    print(f"\nsentiment {per_day} scored/day, +{shift}: predicted {predicted:.3f}, simulated {simulated:.3f}")
    assert abs(predicted - simulated) <= 0.10


@pytest.mark.slow
@pytest.mark.parametrize("per_day,shift", [(3, 0.115), (3, 0.2), (20, 0.06)])
def test_predicted_sentiment_power_from_each_baseline(per_day: int, shift: float) -> None:
    predicted, simulated = sentiment_power(50 + per_day, 200, shift, per_day, from_baseline=True)
    print(f"\nsentiment {per_day} scored/day, +{shift}, from each baseline: "
          f"predicted {predicted:.3f}, simulated {simulated:.3f}")  # fmt: skip
    assert abs(predicted - simulated) <= 0.10
