"""Safe peeking (tracker/sequential.py), proven on simulated experiments with known truth.

Each simulated experiment is the count world of tests/test_stats.py (negative
binomial, shape 8, 12 to 40 mentions a day, weekday swing): a 28-day baseline and a
28-day window, looked at every day from day 7 of the window (the minimum days) on.

* before: the fixed 95 % interval, acted on the first day it excludes 0;
* after (the product's rule, tracker/measuring.py): the confidence sequence
  (``SEQUENTIAL_ALPHA``), acted on the first day it excludes 0; an experiment that
  never stops gets the verdict at the end on the remaining alpha (``final_look``).

`pytest -s` prints the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.test_stats import DAYS, simulate_counts, windows
from tracker import sequential
from tracker.stats import measure, verdict

FIRST_LOOK = 7


@dataclass(frozen=True)
class Peeking:
    n: int
    naive_false: float  # stop at the first fixed-interval exclusion
    sequential_false: float  # stop at the first confidence-sequence exclusion, else the final verdict
    sequential_early: float  # stopped by the confidence sequence at some look (day 28 included)
    fixed_false: float  # one look at the end, the plain 95 % interval
    final_false: float  # one look at the end on the remaining alpha (the product's verdict at the end)

    def error(self, rate: float) -> float:
        """Monte-Carlo standard error of a rate over these experiments."""
        return float(np.sqrt(max(rate * (1 - rate), 1e-12) / self.n))


def peek(seed: int, n: int, effect: float = 0.0) -> Peeking:
    rng = np.random.default_rng(seed)
    y, start = simulate_counts(rng, n, effect=effect)
    naive = seq = early = fixed = at_end = 0
    wanted = ("success", "failure") if effect == 0 else ("success",)
    for i in range(n):
        base, treat = windows(y[i], start[i])
        naive_stop = seq_stop = None
        final = last = None
        for k in range(FIRST_LOOK, DAYS + 1):
            e = measure("count", base, treat[:k])
            fixed_verdict = verdict(e, ended=True, expect="increase", min_effect=0.05, relative=True)
            last = verdict(sequential.final_look(e), ended=True, expect="increase", min_effect=0.05, relative=True)
            if naive_stop is None and fixed_verdict in ("success", "failure"):
                naive_stop = fixed_verdict
            found = sequential.interim(e, DAYS)
            v = sequential.early_verdict(found, expect="increase", relative=True, enough_days=k >= FIRST_LOOK)
            if seq_stop is None and v != "running":
                seq_stop = v
            final = fixed_verdict
        outcome = seq_stop or last
        naive += naive_stop in wanted
        seq += outcome in wanted
        early += seq_stop in wanted
        fixed += final in wanted
        at_end += last in wanted
    return Peeking(n, naive / n, seq / n, early / n, fixed / n, at_end / n)


def test_multiplier_is_wider_than_the_fixed_interval_and_tightest_near_the_plan() -> None:
    m = [sequential.multiplier(n, 28) for n in range(1, 57)]
    assert all(x > 1.96 for x in m)
    assert 2.9 < sequential.multiplier(28, 28) < 3.1
    assert sequential.multiplier(7, 28) > sequential.multiplier(28, 28)


def test_daily_peeking_with_stopping_is_safe_on_null_data() -> None:
    f = peek(seed=101, n=60)
    print(f"\npeeking, null, {f.n} experiments: {f}")
    assert f.sequential_false <= 0.10  # a 5 % rate, known to about ±3 % at this size
    assert f.naive_false >= f.sequential_false + 0.03  # the fixed interval is not made to be peeked at


@pytest.mark.slow
def test_peeking_false_verdicts_and_power_over_1000_experiments() -> None:
    null = peek(seed=7001, n=1000)
    effect = peek(seed=7002, n=400, effect=0.30)
    print(
        f"\npeeking, null, {null.n} experiments: {null}; false verdicts {null.sequential_false:.3f} "
        f"± {null.error(null.sequential_false):.3f} (one standard error)"
        f"\npeeking, +30 %, {effect.n} experiments: {effect}"
    )
    # Measured (seeds 7001/7002): false verdicts 4.3 % ± 0.6 with the product's rule (daily
    # looks at the 0.5 % confidence sequence, then the verdict at the end on the 4.5 % left);
    # before (the same looks and then a fresh 5 % verdict at the end) 5.1 %; stopping at the
    # first fixed-interval exclusion about 15 %. Power at +30 %: 61.8 % against 62.5 % for
    # one fixed look, 17 % of real effects stopped early.
    assert null.sequential_false <= 0.05
    assert null.sequential_early <= 0.01  # the stopping rule spends its 0.5 % and no more
    assert null.naive_false >= 0.10
    # power beside the fixed window: at most a point or two lower, with early stops
    assert effect.sequential_false >= effect.fixed_false - 0.02
    assert effect.sequential_early >= 0.12


def test_final_look_widens_to_the_remaining_alpha() -> None:
    from tests.test_stats import windows as split

    rng = np.random.default_rng(9)
    y, start = simulate_counts(rng, 1, effect=0.2)
    e = measure("count", *split(y[0], start[0]))
    wide = sequential.final_look(e)
    assert wide is not None and e.ci_low is not None and wide.ci_low is not None
    assert wide.ci_low < e.ci_low < e.lift_rel < e.ci_high < wide.ci_high  # type: ignore[operator]
    assert pytest.approx(0.05) == sequential.SEQUENTIAL_ALPHA + sequential.FINAL_ALPHA
    assert sequential.verdict_note("success", "inconclusive") is not None
    assert sequential.verdict_note("success", "success") is None
