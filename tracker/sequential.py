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
only with at least the minimum days of data. tests/test_sequential.py measures the
false verdicts of daily looks with stopping on null data and the power beside the
fixed window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tracker.stats import Estimate

ALPHA = 0.05
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "lift_rel": self.lift_rel,
            "lift_abs": self.lift_abs,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_abs_low": self.ci_abs_low,
            "ci_abs_high": self.ci_abs_high,
            "method": self.method,
        }


def interim(estimate: Estimate | None, planned_days: int, alpha: float = ALPHA) -> Interim:
    """The running estimate with its confidence-sequence intervals (None where no standard error)."""
    if estimate is None:
        return Interim(None, None, None, None, None, None)
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
    return Interim(estimate.lift_rel, estimate.lift_abs, low, high, abs_low, abs_high)


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
