"""Safe peeking: an always-valid interval for a running experiment (SPEC §6, `interim`).

A 95 % interval printed every day and acted on the first day it clears zero is not a
95 % interval: over a 28-day window with daily looks it gives about three times the
promised false verdicts. A confidence sequence is an interval that holds at every
look at once: the chance that it ever excludes the truth, however often it is
looked at, is at most 5 %.

The one here is the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu,
Lindon, Ramdas et al. ("Time-uniform central limit theory and asymptotic confidence
sequences", 2023), the normal-mixture boundary of Howard et al. that GrowthBook's
sequential testing uses. For an estimate with standard error ``se`` after ``n``
observations its half-width is

    se * sqrt( 2 (n rho^2 + 1) / (n rho^2) * log( sqrt(n rho^2 + 1) / alpha ) )

where the mixture parameter ``rho`` is tuned so the boundary is tightest at the
planned number of observations N (``rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / N``).
Here ``se`` is the standard error of the same model as the final result (counts: the
quasi-Poisson log-lift with the weekday terms and the serial-correlation guard;
means: weighted least squares), so the sequence inherits its handling of
over-dispersion and weekdays; ``n`` is the number of experiment days with data so
far and N the planned ones. At n = N = 28 the multiplier is about 3.0 (1.96 for the
fixed window): the price of looking every day.

An experiment may stop early with ``success`` or ``failure`` only when this interval
excludes zero on the decision scale (relative for mentions and engagement), and
only with at least the minimum days of data.

One error budget for the whole experiment (alpha spending). The daily looks and the
verdict at the end are one sequence of tests, so they share the 5 %: the confidence
sequence spends ``SEQUENTIAL_ALPHA`` (0.5 %; a 99.5 % always-valid interval) and the
verdict at the end of the window the remaining ``FINAL_ALPHA`` (4.5 %): it is judged
on the fixed-window interval widened from 95 % to 95.5 % (``final_look``). By the
union bound the chance of any false ``success``/``failure``, peeked at every day or
not, is at most 0.5 % + 4.5 % = 5 % (asymptotically). A fresh 5 % test at the end
on top of 5 % looks would allow up to 10 % (measured: 5.1 % to 6.0 %, depending on the
seed). Measured on 1,000 null experiments with daily looks from day 7 and stopping
at the first exclusion: 4.3 % false verdicts (Monte-Carlo standard error 0.6
points); power at +30 %: 61.8 % against 62.5 % for one fixed look at the end
(tests/test_sequential.py). The stored ``ci_low``/``ci_high`` stay the 95 % interval
(SPEC §6); when it excludes 0 but the 95.5 % one does not, ``verdict_note`` says so.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from scipy import stats as _scipy_stats  # type: ignore[import-untyped]  # no stubs installed

from tracker.results import InterimRecord
from tracker.stats import LEVEL, Estimate

ALPHA = 0.05
SEQUENTIAL_ALPHA = 0.005  # spent on the daily looks (the confidence sequence)
FINAL_ALPHA = ALPHA - SEQUENTIAL_ALPHA  # spent on the verdict at the end of the window
FINAL_LEVEL = 1 - FINAL_ALPHA
METHOD = "asymptotic_cs"


def multiplier(n: int, planned: int, alpha: float = ALPHA) -> float:
    """Half-width of the confidence sequence in standard errors after n of `planned` observations."""
    n, planned = max(1, n), max(1, planned)
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / planned
    v = n * rho2
    return math.sqrt(2 * (v + 1) / v * math.log(math.sqrt(v + 1) / alpha))


@dataclass(frozen=True)
class Interim:
    lift_rel: float | None
    lift_abs: float | None
    ci_low: float | None
    ci_high: float | None
    ci_abs_low: float | None
    ci_abs_high: float | None
    method: str = METHOD
    alpha: float = SEQUENTIAL_ALPHA  # the error the sequence spends: a (1 - alpha) interval

    def as_dict(self) -> InterimRecord:
        return {
            "alpha": self.alpha,
            "lift_rel": self.lift_rel,
            "lift_abs": self.lift_abs,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_abs_low": self.ci_abs_low,
            "ci_abs_high": self.ci_abs_high,
            "method": self.method,
        }


def interim(estimate: Estimate | None, planned_days: int, alpha: float = SEQUENTIAL_ALPHA) -> Interim:
    """The running estimate with its confidence-sequence intervals (None where no standard error)."""
    if estimate is None:
        return Interim(None, None, None, None, None, None, alpha=alpha)
    m = multiplier(estimate.treatment_days, planned_days, alpha)
    low = high = abs_low = abs_high = None
    rel = estimate.lift_rel
    if estimate.se is not None and estimate.log_scale and rel is not None and rel > -1:
        coef = math.log1p(rel)
        if coef + m * estimate.se < 700:
            low, high = math.expm1(coef - m * estimate.se), math.expm1(coef + m * estimate.se)
        if low is not None and high is not None and estimate.lift_abs is not None and estimate.se_abs is None:
            # engagement: the absolute interval follows the relative one at the counterfactual level
            level = (estimate.treatment_value or 0.0) - estimate.lift_abs + 1.0
            abs_low, abs_high = level * low, level * high
    if estimate.se_abs is not None and estimate.lift_abs is not None:
        abs_low, abs_high = estimate.lift_abs - m * estimate.se_abs, estimate.lift_abs + m * estimate.se_abs
        if not estimate.log_scale and estimate.baseline_value is not None and estimate.baseline_value > 0:
            # means: relative interval as the absolute one over the baseline value
            low, high = abs_low / estimate.baseline_value, abs_high / estimate.baseline_value
    return Interim(estimate.lift_rel, estimate.lift_abs, low, high, abs_low, abs_high, alpha=alpha)


def early_verdict(found: Interim, *, expect: str, relative: bool, enough_days: bool) -> str:
    """`success`/`failure` when the confidence sequence excludes 0, else `running`."""
    if not enough_days:
        return "running"
    low, high = (found.ci_low, found.ci_high) if relative else (found.ci_abs_low, found.ci_abs_high)
    if low is None or high is None:
        low, high = found.ci_abs_low, found.ci_abs_high
    if low is None or high is None:
        return "running"
    if low > 0 or high < 0:
        return "success" if (low > 0) == (expect == "increase") else "failure"
    return "running"


def final_look(estimate: Estimate | None, level: float = FINAL_LEVEL) -> Estimate | None:
    """The estimate with its intervals widened from 95 % to `level`, for the verdict at the end.

    Each side of an interval is widened by the ratio of the t quantiles, on the scale the
    interval is symmetric on (log for counts and engagement, linear for the absolute lift
    of means; for counts the absolute interval follows the delta method, linear too).
    """
    if estimate is None or estimate.df is None or estimate.df < 1:
        return estimate
    ratio = float(
        _scipy_stats.t.ppf(0.5 + level / 2, estimate.df) / _scipy_stats.t.ppf(0.5 + LEVEL / 2, estimate.df)
    )

    def widen(
        center: float | None, low: float | None, high: float | None, log: bool
    ) -> tuple[float | None, float | None]:
        if center is None or low is None or high is None:
            return low, high
        if log:
            if center <= -1 or low <= -1:
                return low, high
            c, lo, hi = math.log1p(center), math.log1p(low), math.log1p(high)
            top = c + (hi - c) * ratio
            return math.expm1(c - (c - lo) * ratio), (math.expm1(top) if top < 700 else None)
        return center - (center - low) * ratio, center + (high - center) * ratio

    ci_low, ci_high = widen(estimate.lift_rel, estimate.ci_low, estimate.ci_high, estimate.log_scale)
    abs_low, abs_high = widen(estimate.lift_abs, estimate.ci_abs_low, estimate.ci_abs_high, False)
    return dataclasses.replace(
        estimate, ci_low=ci_low, ci_high=ci_high, ci_abs_low=abs_low, ci_abs_high=abs_high
    )


def verdict_note(fixed: str, final: str) -> str | None:
    """Why the verdict at the end differs from what the 95 % interval alone would say."""
    if fixed == final or fixed not in ("success", "failure", "no_effect"):
        return None
    return (
        f"the 95 % interval alone would say {fixed.replace('_', ' ')}, but not the {FINAL_LEVEL * 100:.1f} % "
        f"interval the verdict is judged on: {SEQUENTIAL_ALPHA * 100:.1f} % of the 5 % error budget is spent "
        "on the daily always-valid looks"
    )
