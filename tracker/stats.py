"""Honest effect estimates for experiments (SPEC §6): daily values in, lift and 95 % intervals out.

Daily social data break the textbook tests in two ways. Mention counts are
over-dispersed (a day's variance is several times its mean), so a Poisson test on
totals reports effects that are not there; and weekdays differ, so a plain t-test on
daily values carries the weekday swing as noise (and is biased when a window misses
some weekdays). The methods here account for both:

* ``kind="count"`` (mentions): a quasi-Poisson GLM with a log link, fitted by IRLS,
  with weekday terms and a treatment term (pre_post) or group, period,
  group x period and per-group weekday terms (diff_in_diff). The dispersion is the
  Pearson chi2 / df, never below 1 (counts are at least Poisson-noisy, and a
  constant series must not give a zero-width interval). The Wald interval for the
  treatment (or interaction) coefficient uses a t quantile and is exponentiated:
  ``lift_rel = exp(coef) - 1``.
* ``kind="mean"`` (sentiment, positive share, engagement per post, share of voice):
  weighted least squares on the same terms, weights = ``Day.weight``, with HC2
  (leverage-corrected sandwich; ``MEAN_SANDWICH``) standard errors and a t quantile.
  The relative interval is Fieller's interval for ``lift_abs / baseline_value``.
  With weights = scored mentions per day this is the mention-level model of a
  day's mean; HC2 is unbiased for it under constant variance where HC3 is
  conservative: at 3 scored mentions a day and a +0.115 shift, 29 % of experiments
  find it (HC3: 24 %; a Welch t-test on the single mentions, which ignores weekdays
  and serial correlation: 33 %), with 4-5 % false verdicts on null data.

Both add a guard against serial correlation: a Newey-West (Bartlett kernel, lags
up to ``HAC_MAX_LAG`` calendar days, within a stream) estimate of the target
coefficient's variance is compared with its no-lag counterpart, and when the ratio
is above 1 (residuals positively autocorrelated: bursts that last days, weekly
campaigns) the variance is inflated by it. It never narrows an interval; on
independent days it costs about 2 points of power. It is a partial fix: with strong
multi-day bursts (latent AR(1), rho 0.5) coverage of the 95 % interval is about
0.86 with it and 0.78 without (tests/test_stats.py measures both).

The absolute lift of counts is a smooth function of the coefficients (the typical
days below); its interval is the delta method with the same covariance.

Weekday adjustment of the reported values: ``baseline_value`` and
``treatment_value`` are the model's fitted daily values of the experiment streams
averaged with equal weight over the weekdays present in their data, i.e. the value
of a typical day of a full week. With whole weeks and no gaps this equals the plain
mean of the window (for counts exactly); with gaps it corrects for the weekdays
that are missing.

Days with data are the days present in a sequence with a finite value and a
positive weight; absent days are gaps, not zeros. Duplicate days in one sequence
are merged (counts summed, means weight-averaged).

Robust engagement (``measure_engagement``): engagement per post is lognormal-like
and one viral post moves a plain mean by several times the effect looked for. Each
post's engagement becomes ``log(1 + engagement)``; posts further than ``TRIM_Z``
(3.5) robust standard deviations (1.4826 x MAD) from the median of their streams'
posts in both windows are set aside (symmetrically); each day's value is the mean
of its kept posts, weight how many, and the mean model above gives the lift on the
log scale. ``lift_rel = exp(lift) - 1`` is the change of the typical post (the
geometric mean of 1 + engagement), ``baseline_value``/``treatment_value`` are
typical posts' engagement, and the absolute interval is the relative one at the
counterfactual level. With about 4 posts a day, one post of 100 times the median
changes the verdict in 0 of 1,000 null simulations (the plain mean: median lift
+0.4 % -> +54 %); ``largest_post_share`` reports how much of the plain lift the
single largest post makes (tests/test_robust_engagement.py).

Trends (pre_post only): before/after comparisons credit a steady trend to the
experiment. ``baseline_trend`` fits the baseline (with the up to 56 days before
it that the caller passes as ``history``) with a time term and weekday terms in
the same model; when the slope's 99 % interval excludes 0 (``TREND_LEVEL``) the
result keeps its lift but has no interval, so the verdict is ``inconclusive``, and
``note`` says so and recommends a control stream. With fewer than
``TREND_MIN_HISTORY`` (49) days with data before the baseline the test cannot
tell a trend from an effect at 12-40 mentions a day (the slope's standard error
over a 28-day baseline alone is about as large as a +1 %/day trend), so
``short_history`` gives no interval at all and says why: a young stream needs a
control stream for a verdict. Under +1 %/day and no effect (tests/test_trend.py;
400 simulations per row unless said): false successes 62-65 % without the test;
0 % with under 49 days of history (no verdict); 12.5 % with 42 days (200
simulations: why 49, not 42), 5.2 % with 49 and 2.5 % with 56. Without a trend,
power at +30 % is 63.0 % against 63.7 % without the test with 49 days of
history, and 62.3 % against 62.5 % with 56.

Degenerate data never raise. When no interval can be computed the Estimate
carries ``None`` intervals and says why in ``note``: a window without days with
data (values are plain means then, no lift for diff_in_diff), no residual degrees
of freedom, a model that fits every day exactly (a constant mean metric; constant
counts still get the Poisson interval), the experiment streams without a single
mention in either window (``empty``: the verdict is insufficient_data), or
(relative interval of a mean metric only) a baseline value not clearly above 0.
When the count model has no finite fit (a window, or for diff_in_diff a control
window, with zero mentions in total) or IRLS does not converge, the lift and its
absolute interval come from the weighted-least-squares model on the counts and the
relative interval is ``None``. A weekday without a single mention in either
window is fitted as exactly 0 rather than making the fit diverge. Weekday dummies
confounded with the windows (say Mondays only before, Tuesdays only after) are left
out, so such an estimate is not weekday-adjusted.

The module is pure: no database, no configuration. It is imported only by the
measuring commands, so numpy and scipy are imported at the top.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats as _scipy_stats  # type: ignore[import-untyped]  # no stubs installed

__all__ = [
    "HAC_MAX_LAG",
    "Day",
    "Estimate",
    "baseline_trend",
    "largest_post_share",
    "measure",
    "measure_engagement",
    "verdict",
]

Kind = Literal["count", "mean"]
Array = NDArray[np.float64]

LEVEL = 0.95
# Bartlett-kernel bandwidth in calendar days: a week, so a burst or a weekly campaign
# that spans several days widens the interval.
HAC_MAX_LAG = 6
MIN_DISPERSION = 1.0
# Leverage correction of the sandwich of mean metrics: HC2 (unbiased under constant
# variance; tests/test_stats.py measures its false verdicts and power against HC3).
MEAN_SANDWICH: Literal["HC2", "HC3"] = "HC2"
# A baseline slope whose 99 % interval excludes 0 is "clearly non-zero" (see Trends).
TREND_LEVEL = 0.99
TREND_MIN_DAYS = 14
# Days with data before a pre_post baseline needed before a verdict without a control stream
# is given at all (``short_history``; tests/test_trend.py has the simulation behind it).
TREND_MIN_HISTORY = 49
_MAX_IRLS_ITER = 100
_IRLS_TOL = 1e-10
_EXPERIMENT, _CONTROL = 1, 0


@dataclass(frozen=True)
class Day:
    """One day's value of a metric.

    ``value`` is a count for ``kind="count"`` and a mean or share for ``kind="mean"``;
    ``weight`` is the number of observations behind the value (mentions scored that
    day, posts, ...), used as the regression weight of mean metrics. Counts ignore
    it except that a day with a weight <= 0 is a day without data.
    """

    day: datetime.date
    value: float
    weight: float = 1.0


@dataclass(frozen=True)
class Estimate:
    """A measured lift with its 95 % intervals.

    ``baseline_value``/``treatment_value`` are weekday-adjusted mean daily values of
    the experiment streams (see the module docstring). ``lift_abs`` is
    ``treatment_value - baseline_value`` for pre_post. For diff_in_diff it is the
    treatment value minus the counterfactual one: for counts the baseline moved by
    the control's relative change (multiplicative, as in the log-link model), for
    means the baseline plus the control's change (additive). ``lift_rel`` is
    ``exp(interaction) - 1`` for counts (relative to the counterfactual) and
    ``lift_abs / baseline_value`` for means; it is None when the baseline value is
    not positive. ``ci_*`` are 95 % intervals; None where they cannot be computed,
    with the reason in ``note``.
    """

    method: str
    baseline_value: float | None
    treatment_value: float | None
    baseline_days: int
    treatment_days: int
    lift_abs: float | None
    lift_rel: float | None
    ci_abs_low: float | None
    ci_abs_high: float | None
    ci_low: float | None
    ci_high: float | None
    control_baseline_days: int | None = None
    control_treatment_days: int | None = None
    dispersion: float | None = None  # quasi-Poisson dispersion used (counts)
    autocorrelation_factor: float | None = None  # variance inflation for serial correlation (>= 1)
    df: int | None = None  # residual degrees of freedom of the t quantile
    note: str | None = None  # why an interval is missing, or which fallback was used
    se: float | None = None  # standard error of the target coefficient (log scale when log_scale)
    se_abs: float | None = None  # standard error of lift_abs
    log_scale: bool = False  # the target coefficient is log(1 + lift_rel) (counts, engagement)
    empty: bool = False  # no mentions (no posts, no scores) at all in the experiment streams
    trend_per_day: float | None = None  # baseline slope when it was tested (relative for counts)


# --------------------------------------------------------------------------- verdict


def verdict(
    estimate: Estimate | None,
    *,
    ended: bool,
    expect: Literal["increase", "decrease"],
    min_effect: float,
    relative: bool,
    min_days: int = 7,
) -> str:
    """The SPEC §6 verdict, the first that applies.

    ``running`` (not ended), ``insufficient_data`` (no estimate, no mentions at all
    in the experiment streams, or fewer than ``min_days`` days with data in any
    window, the control's included), then on the
    decision scale (relative interval when ``relative`` else absolute): ``success``
    (excludes 0 on the expected side), ``failure`` (excludes 0 on the other side),
    ``no_effect`` (inside ±min_effect, bounds included), ``inconclusive``. When the
    relative interval is missing but the absolute one exists (a baseline without
    mentions), the absolute one decides success and failure, which depend only on
    its sign; ``no_effect`` then cannot be told and the verdict is ``inconclusive``.
    """
    if not ended:
        return "running"
    if estimate is None or estimate.empty or _too_few_days(estimate, min_days):
        return "insufficient_data"
    low, high = estimate.ci_abs_low, estimate.ci_abs_high
    if relative:
        low, high = estimate.ci_low, estimate.ci_high
    scale_known = low is not None and high is not None
    if not scale_known:
        low, high = estimate.ci_abs_low, estimate.ci_abs_high
    if low is None or high is None:
        return "inconclusive"
    if low > 0 or high < 0:
        return "success" if (low > 0) == (expect == "increase") else "failure"
    if scale_known and -min_effect <= low and high <= min_effect:
        return "no_effect"
    return "inconclusive"


def _too_few_days(estimate: Estimate, min_days: int) -> bool:
    days = [estimate.baseline_days, estimate.treatment_days]
    if estimate.method == "diff_in_diff":
        days += [estimate.control_baseline_days or 0, estimate.control_treatment_days or 0]
    return min(days) < min_days


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class _Data:
    """All days of all windows as parallel arrays."""

    y: Array
    w: Array
    t: NDArray[np.int64]  # day ordinal
    weekday: NDArray[np.int64]
    group: NDArray[np.int64]  # _EXPERIMENT or _CONTROL
    period: NDArray[np.int64]  # 0 baseline, 1 treatment


def _clean(days: Sequence[Day], kind: Kind) -> dict[datetime.date, tuple[float, float]]:
    """Days with data -> (value, weight); duplicates merged."""
    merged: dict[datetime.date, tuple[float, float]] = {}
    for d in days:
        value, weight = float(d.value), float(d.weight)
        if not (math.isfinite(value) and math.isfinite(weight) and weight > 0):
            continue
        if kind == "count" and value < 0:
            raise ValueError(f"negative count {value} on {d.day}")
        if d.day in merged:
            old_value, old_weight = merged[d.day]
            if kind == "count":
                value, weight = old_value + value, 1.0
            else:
                value = (old_value * old_weight + value * weight) / (old_weight + weight)
                weight = old_weight + weight
        merged[d.day] = (value, 1.0 if kind == "count" else weight)
    return merged


def _assemble(windows: Sequence[tuple[dict[datetime.date, tuple[float, float]], int, int]]) -> _Data:
    rows = [(day, v, w, g, p) for days, g, p in windows for day, (v, w) in sorted(days.items())]
    return _Data(
        y=np.array([r[1] for r in rows], dtype=np.float64),
        w=np.array([r[2] for r in rows], dtype=np.float64),
        t=np.array([r[0].toordinal() for r in rows], dtype=np.int64),
        weekday=np.array([r[0].weekday() for r in rows], dtype=np.int64),
        group=np.array([r[3] for r in rows], dtype=np.int64),
        period=np.array([r[4] for r in rows], dtype=np.int64),
    )


def _subset(data: _Data, keep: NDArray[np.bool_]) -> _Data:
    return _Data(
        data.y[keep], data.w[keep], data.t[keep], data.weekday[keep], data.group[keep], data.period[keep]
    )


# --------------------------------------------------------------------------- design


@dataclass(frozen=True)
class _Design:
    """Design matrix plus the rows describing the experiment streams' typical days."""

    X: Array
    target: int  # column of the treatment (pre_post) or group x period (diff_in_diff) term
    base_rows: Array  # one row per experiment weekday: baseline period
    treat_rows: Array  # ... treatment period
    counterfactual_rows: Array  # ... treatment period without the effect


def _design(data: _Data, did: bool, weekdays: Sequence[int]) -> _Design:
    """Columns: const, [group], period, [group x period], then per-group weekday dummies.

    Weekday dummies that would make the matrix rank-deficient (a weekday seen in one
    period only, when that confounds it with the treatment) are left out, so the
    treatment term always stays in the model.
    """
    g = (data.group == _EXPERIMENT).astype(np.float64)
    p = data.period.astype(np.float64)
    base = np.column_stack([np.ones_like(p), g, p, g * p] if did else [np.ones_like(p), p])
    dummies = _select_dummies(base, _weekday_dummies(data, did))
    X = np.column_stack([base, *[col for _, col in dummies]])
    keys = [key for key, _ in dummies]

    def rows(period: float, effect: float) -> Array:
        head = [1.0, 1.0, period, effect] if did else [1.0, effect]
        out = [head + [1.0 if key == (_EXPERIMENT, day) else 0.0 for key in keys] for day in weekdays]
        return np.array(out, dtype=np.float64).reshape(len(weekdays), X.shape[1])

    return _Design(X, 3 if did else 1, rows(0, 0), rows(1, 1), rows(1, 0))


def _weekday_dummies(data: _Data, did: bool) -> list[tuple[tuple[int, int], Array]]:
    """(group, weekday) indicators, the first weekday of each group as reference."""
    out: list[tuple[tuple[int, int], Array]] = []
    for grp in (_EXPERIMENT, _CONTROL) if did else (_EXPERIMENT,):
        in_group = data.group == grp
        present = sorted(set(data.weekday[in_group].tolist()))
        for day in present[1:]:
            out.append(((grp, day), (in_group & (data.weekday == day)).astype(np.float64)))
    return out


def _select_dummies(
    base: Array, dummies: list[tuple[tuple[int, int], Array]]
) -> list[tuple[tuple[int, int], Array]]:
    """All dummies when the matrix has full rank, else those that add information."""
    full = np.column_stack([base, *[col for _, col in dummies]])
    if np.linalg.matrix_rank(full) == full.shape[1]:
        return dummies
    kept: list[tuple[tuple[int, int], Array]] = []
    for key, col in dummies:
        trial = np.column_stack([base, *[c for _, c in kept], col])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            kept.append((key, col))
    return kept


# --------------------------------------------------------------------------- public entry


def measure(
    kind: Kind,
    baseline: Sequence[Day],
    treatment: Sequence[Day],
    control: tuple[Sequence[Day], Sequence[Day]] | None = None,
    *,
    seed: int = 0,
    history: Sequence[Day] = (),
    check_trend: bool = True,
) -> Estimate:
    """Lift of ``treatment`` over ``baseline`` with 95 % intervals (see the module docstring).

    ``control`` = (control's baseline days, control's treatment days) switches to
    difference-in-differences. The methods are analytic and deterministic; ``seed``
    is accepted for resampling methods and does not change the result. Raises
    ValueError only for an unknown kind or a negative count; degenerate data give an
    Estimate with None where nothing can be said, and so does a numerical failure of
    the model (values of absurd magnitude), with the reason in ``note``.

    pre_post only: the trend of the baseline (with ``history``, days before it, when
    known) is tested first (``baseline_trend``); a clear one removes the intervals
    and says so in ``note`` (see "Trends" in the module docstring).
    ``check_trend=False`` skips the test.
    """
    del seed
    estimate = _measure(kind, baseline, treatment, control)
    if control is not None or not check_trend:
        return estimate
    trend = baseline_trend(kind, [*history, *baseline])
    if trend is None:
        return estimate
    per_day = math.expm1(trend.slope) if kind == "count" else trend.slope
    estimate = dataclasses.replace(estimate, trend_per_day=per_day)
    if not trend.clear or estimate.ci_abs_low is None:
        return estimate
    note = _trend_note(
        f"{abs(per_day) * 100:.1f} %" if kind == "count" else f"{abs(per_day):.4f}", per_day > 0
    )
    return without_interval(estimate, note)


def without_interval(estimate: Estimate, note: str) -> Estimate:
    """The estimate with its lift but no interval (so no verdict), and why in ``note``."""
    return dataclasses.replace(
        estimate,
        ci_low=None,
        ci_high=None,
        ci_abs_low=None,
        ci_abs_high=None,
        se=None,
        se_abs=None,
        note=note,
    )


def short_history(estimate: Estimate, history_days: int) -> Estimate:
    """No interval for a pre_post whose streams have too little history to test a trend.

    ``history_days`` is the number of days with data before the baseline. Fewer than
    TREND_MIN_HISTORY and the baseline's slope cannot be told from an effect (see
    "Trends" in the module docstring), so the intervals go and ``note`` says why and
    what to do; the lift stays. Only for pre_post: a control stream shares the trend.
    """
    if history_days >= TREND_MIN_HISTORY or estimate.ci_abs_low is None:
        return estimate
    return without_interval(
        estimate,
        f"only {history_days} days with data before the baseline, and a before/after comparison "
        f"needs {TREND_MIN_HISTORY} to tell a steady trend from an effect, so no interval is "
        "given; add a --control-stream that shares the trend",
    )


def _trend_note(size: str, rising: bool) -> str:
    return (
        f"the baseline {'rises' if rising else 'falls'} by {size} a day: a before/after "
        "comparison cannot tell that trend from an effect, so no interval is given; "
        "add a --control-stream that shares the trend"
    )


def _measure(
    kind: Kind,
    baseline: Sequence[Day],
    treatment: Sequence[Day],
    control: tuple[Sequence[Day], Sequence[Day]] | None,
) -> Estimate:
    if kind not in ("count", "mean"):
        raise ValueError(f"unknown kind {kind!r}")
    did = control is not None
    windows = [(_clean(baseline, kind), _EXPERIMENT, 0), (_clean(treatment, kind), _EXPERIMENT, 1)]
    if control is not None:
        windows += [(_clean(control[0], kind), _CONTROL, 0), (_clean(control[1], kind), _CONTROL, 1)]
    counts = [len(days) for days, _, _ in windows]
    data = _assemble(windows)
    outline = _EstimateOutline("diff_in_diff" if did else "pre_post", counts)
    if min(counts) == 0:
        return outline.without_model(data, "a window has no days with data")
    try:
        # Numerical trouble (absurd magnitudes, near-singular fits) must not pass silently.
        with np.errstate(divide="raise", over="raise", invalid="raise"):
            if kind == "count":
                return _measure_counts(data, did, outline)
            return _measure_means(data, did, outline)
    except (FloatingPointError, OverflowError, ValueError, np.linalg.LinAlgError) as exc:
        return outline.without_model(data, f"the model could not be fitted: {exc}")


@dataclass(frozen=True)
class _EstimateOutline:
    """Method and day counts shared by every outcome."""

    method: str
    counts: list[int]

    def make(self, **fields: Any) -> Estimate:
        """An Estimate with these fields set and everything else None."""
        control = self.counts[2:] if len(self.counts) == 4 else [None, None]
        blank = Estimate(
            method=self.method,
            baseline_value=None,
            treatment_value=None,
            baseline_days=self.counts[0],
            treatment_days=self.counts[1],
            lift_abs=None,
            lift_rel=None,
            ci_abs_low=None,
            ci_abs_high=None,
            ci_low=None,
            ci_high=None,
            control_baseline_days=control[0],
            control_treatment_days=control[1],
        )
        return dataclasses.replace(blank, **fields)

    def without_model(self, data: _Data, note: str) -> Estimate:
        """Plain weighted means of the experiment windows, no lift interval."""
        base, treat = (_raw_mean(data, _EXPERIMENT, p) for p in (0, 1))
        lift = treat - base if base is not None and treat is not None and self.method == "pre_post" else None
        rel = lift / base if lift is not None and base is not None and base > 0 else None
        return self.make(baseline_value=base, treatment_value=treat, lift_abs=lift, lift_rel=rel, note=note)


def _raw_mean(data: _Data, group: int, period: int) -> float | None:
    sel = (data.group == group) & (data.period == period)
    if not sel.any():
        return None
    return float(np.average(data.y[sel], weights=data.w[sel]))


# --------------------------------------------------------------------------- counts


def _measure_counts(data: _Data, did: bool, outline: _EstimateOutline) -> Estimate:
    experiment = data.group == _EXPERIMENT
    if not data.y[experiment].any():
        return outline.make(
            baseline_value=0.0,
            treatment_value=0.0,
            lift_abs=0.0,
            empty=True,
            note="no mentions in either window",
        )
    weekdays = sorted(set(data.weekday[experiment].tolist()))
    fit_data, absent = _drop_silent_weekdays(data)
    if not _cells_have_counts(fit_data, did):
        return _linear_fallback(data, did, outline, "a window has no mentions at all: no finite count model")
    design = _design(fit_data, did, [d for d in weekdays if d not in absent])
    beta = _poisson_irls(design.X, fit_data.y)
    if beta is None:
        return _linear_fallback(data, did, outline, "the count model did not converge")
    return _count_estimate(fit_data, design, beta, outline, len(weekdays))


def _drop_silent_weekdays(data: _Data) -> tuple[_Data, set[int]]:
    """Leave out (stream, weekday) cells without any mention: their fit is exactly 0.

    Returns the remaining data and the experiment weekdays left out.
    """
    keep = np.ones(len(data.y), dtype=bool)
    absent: set[int] = set()
    for grp in (_EXPERIMENT, _CONTROL):
        for day in range(7):
            cell = (data.group == grp) & (data.weekday == day)
            if cell.any() and not data.y[cell].any():
                keep &= ~cell
                if grp == _EXPERIMENT:
                    absent.add(day)
    return _subset(data, keep), absent


def _cells_have_counts(data: _Data, did: bool) -> bool:
    for grp in (_EXPERIMENT, _CONTROL) if did else (_EXPERIMENT,):
        for period in (0, 1):
            cell = (data.group == grp) & (data.period == period)
            if not data.y[cell].any():
                return False
    return True


def _poisson_irls(X: Array, y: Array) -> Array | None:
    """Poisson log-link MLE by iteratively reweighted least squares; None if it fails."""
    mu = (y + y.mean()) / 2 + 1e-3
    eta = np.log(mu)
    deviance_old = math.inf
    for _ in range(_MAX_IRLS_ITER):
        z = eta + (y - mu) / mu
        xtw = X.T * mu
        try:
            beta = np.linalg.solve(xtw @ X, xtw @ z)
            eta = X @ beta
            if not np.all(np.isfinite(eta)) or eta.max() > 700 or eta.min() < -700:
                return None
            mu = np.exp(eta)
            deviance = _poisson_deviance(y, mu)
        except (np.linalg.LinAlgError, FloatingPointError):
            return None
        if abs(deviance - deviance_old) <= _IRLS_TOL * (abs(deviance) + 0.1):
            return np.asarray(beta, dtype=np.float64)
        deviance_old = deviance
    return None


def _poisson_deviance(y: Array, mu: Array) -> float:
    positive = y > 0
    ratio = np.where(positive, y, 1.0) / mu
    return float(2 * np.sum(np.where(positive, y * np.log(ratio), 0.0) - (y - mu)))


def _count_estimate(
    data: _Data, design: _Design, beta: Array, outline: _EstimateOutline, n_weekdays: int
) -> Estimate:
    X, y = design.X, data.y
    mu = np.exp(X @ beta)
    df = len(y) - X.shape[1]
    b = _typical_day(design.base_rows, beta, n_weekdays)
    t = _typical_day(design.treat_rows, beta, n_weekdays)
    c = _typical_day(design.counterfactual_rows, beta, n_weekdays)
    coef = float(beta[design.target])
    values: dict[str, Any] = dict(
        baseline_value=b[0], treatment_value=t[0], lift_abs=t[0] - c[0], lift_rel=math.expm1(coef)
    )
    if df < 1:
        return outline.make(**values, note="no residual degrees of freedom: no interval")
    bread = np.linalg.inv((X.T * mu) @ X)
    phi = max(MIN_DISPERSION, float(np.sum((y - mu) ** 2 / mu)) / df)
    psi = (bread @ X.T)[design.target] * (y - mu)
    factor = _autocorrelation_factor(psi, data, reference=phi * float(bread[design.target, design.target]))
    cov = phi * factor * bread
    q = _t_quantile(df)
    se = math.sqrt(float(cov[design.target, design.target]))
    grad = t[1] - c[1]
    se_abs = math.sqrt(max(0.0, float(grad @ cov @ grad)))
    lift_abs = t[0] - c[0]
    # An upper bound beyond exp(700) says nothing and cannot be stored: no relative interval.
    bounded = coef + q * se < 700
    return outline.make(
        **values,
        ci_low=math.expm1(coef - q * se) if bounded else None,
        ci_high=math.expm1(coef + q * se) if bounded else None,
        ci_abs_low=lift_abs - q * se_abs,
        ci_abs_high=lift_abs + q * se_abs,
        dispersion=phi,
        autocorrelation_factor=factor,
        df=df,
        note=None if bounded else "relative interval unbounded: no relative interval",
        se=se,
        se_abs=se_abs,
        log_scale=True,
    )


def _typical_day(rows: Array, beta: Array, n_weekdays: int) -> tuple[float, Array]:
    """Mean fitted count over the experiment weekdays (silent ones count as 0), and its gradient."""
    fitted = np.exp(rows @ beta)
    value = float(fitted.sum()) / n_weekdays
    return value, (rows * fitted[:, None]).sum(axis=0) / n_weekdays


def _linear_fallback(data: _Data, did: bool, outline: _EstimateOutline, note: str) -> Estimate:
    """Absolute lift of counts from the robust linear model; no relative interval."""
    estimate = _measure_means(data, did, outline)
    return outline.make(
        baseline_value=estimate.baseline_value,
        treatment_value=estimate.treatment_value,
        lift_abs=estimate.lift_abs,
        lift_rel=estimate.lift_rel,
        ci_abs_low=estimate.ci_abs_low,
        ci_abs_high=estimate.ci_abs_high,
        autocorrelation_factor=estimate.autocorrelation_factor,
        df=estimate.df,
        se_abs=estimate.se_abs,
        note=note if estimate.note is None else f"{note}; {estimate.note}",
    )


# --------------------------------------------------------------------------- means


def _measure_means(data: _Data, did: bool, outline: _EstimateOutline) -> Estimate:
    weekdays = sorted(set(data.weekday[data.group == _EXPERIMENT].tolist()))
    design = _design(data, did, weekdays)
    sw = np.sqrt(data.w)
    Xw, yw = design.X * sw[:, None], data.y * sw
    gram_inv = np.asarray(np.linalg.inv(Xw.T @ Xw), dtype=np.float64)
    beta = gram_inv @ Xw.T @ yw
    b, t, c = (
        np.asarray(rows.mean(axis=0), dtype=np.float64)
        for rows in (design.base_rows, design.treat_rows, design.counterfactual_rows)
    )
    scale = float(np.abs(data.y).max()) or 1.0
    base, treat, lift = (_tidy(float(v @ beta), scale) for v in (b, t, t - c))
    values: dict[str, Any] = dict(
        baseline_value=base, treatment_value=treat, lift_abs=lift, lift_rel=lift / base if base > 0 else None
    )
    df = len(yw) - Xw.shape[1]
    resid = yw - Xw @ beta
    if df < 1:
        return outline.make(**values, note="no residual degrees of freedom: no interval")
    if float(np.abs(resid).max()) <= 1e-12 * scale * float(sw.max()):
        return outline.make(
            **values, df=df, note="the model fits every day exactly (no variation left): no interval"
        )
    cov, factor = _hc3_cov(Xw, resid, gram_inv, design.target, data)
    q = _t_quantile(df)
    var = float(cov[design.target, design.target])
    if not var > 1e-20 * scale * scale:
        # Only days fitted exactly (leverage 1) inform the lift: its noise cannot be estimated.
        return outline.make(**values, df=df, note="no residual variation informs the lift: no interval")
    se = math.sqrt(var)
    rel = _fieller(lift, base, cov, t - c, b, q) if base > 0 else None
    return outline.make(
        **values,
        ci_abs_low=lift - q * se,
        ci_abs_high=lift + q * se,
        ci_low=rel[0] if rel else None,
        ci_high=rel[1] if rel else None,
        autocorrelation_factor=factor,
        df=df,
        se=se,
        se_abs=se,
        note=None if rel or base <= 0 else "baseline not clearly above 0: no relative interval",
    )


def _tidy(value: float, scale: float) -> float:
    """Rounding noise of an exact fit (1e-16 where the data say 0) shown as 0."""
    return 0.0 if abs(value) <= 1e-12 * scale else value


def _hc3_cov(Xw: Array, resid: Array, gram_inv: Array, target: int, data: _Data) -> tuple[Array, float]:
    """HC2 (or HC3, ``MEAN_SANDWICH``) sandwich covariance, inflated for serial correlation;
    and the inflation factor."""
    leverage = np.einsum("ij,jk,ik->i", Xw, gram_inv, Xw)
    # A day with leverage 1 is fitted exactly (residual 0) and adds nothing.
    room = 1.0 - leverage
    free = room > 1e-8
    divisor = np.where(free, room, 1.0) ** (0.5 if MEAN_SANDWICH == "HC2" else 1.0)
    adjusted = np.where(free, resid / divisor, 0.0)
    score = Xw * adjusted[:, None]
    cov = gram_inv @ (score.T @ score) @ gram_inv
    psi = (gram_inv @ Xw.T)[target] * resid
    factor = _autocorrelation_factor(psi, data, reference=float(cov[target, target]))
    return cov * factor, factor


def _fieller(
    lift: float, base: float, cov: Array, g_lift: Array, g_base: Array, q: float
) -> tuple[float, float] | None:
    """Fieller 95 % interval for lift / base; None when base is not clearly positive."""
    v_ll = float(g_lift @ cov @ g_lift)
    v_lb = float(g_lift @ cov @ g_base)
    v_bb = float(g_base @ cov @ g_base)
    a = base * base - q * q * v_bb
    if a <= 0:
        return None
    half_b = lift * base - q * q * v_lb
    c = lift * lift - q * q * v_ll
    disc = half_b * half_b - a * c
    root = math.sqrt(max(0.0, disc))
    return (half_b - root) / a, (half_b + root) / a


# --------------------------------------------------------------------------- engagement

Posts = Mapping[datetime.date, Sequence[float]]  # day -> engagement of each post of that day
TRIM_Z = 3.5  # posts whose log(1 + engagement) lies this many robust sds from the median are set aside


def measure_engagement(
    baseline: Posts,
    treatment: Posts,
    control: tuple[Posts, Posts] | None = None,
    *,
    history: Posts | None = None,
) -> Estimate:
    """Robust engagement lift (see "Robust engagement" in the module docstring).

    Each post's engagement becomes log(1 + engagement); posts further than TRIM_Z
    robust standard deviations (1.4826 x MAD) from the median of their streams'
    posts in both windows are set aside; each day's value is the mean of its kept
    posts (weight: how many). The mean model then gives the lift on the log scale:
    ``lift_rel = exp(lift) - 1`` is the change of the typical post (geometric mean
    of 1 + engagement), and the values are typical posts' engagement.
    """
    groups = [(baseline, treatment)] + ([control] if control is not None else [])
    trimmed: list[tuple[list[Day], list[Day]]] = []
    for before, after in groups:
        pooled = np.log1p(
            [max(0.0, float(v)) for posts in (before, after) for vs in posts.values() for v in vs]
        )
        keep = _trim_bounds(pooled)
        trimmed.append((_log_days(before, keep), _log_days(after, keep)))
    hist = _log_days(
        history or {}, _trim_bounds(np.log1p([v for vs in (history or {}).values() for v in vs]))
    )
    est = measure(
        "mean",
        *trimmed[0],
        (trimmed[1][0], trimmed[1][1]) if control is not None else None,
        history=hist,
    )
    if not trimmed[0][0] and not trimmed[0][1]:
        est = dataclasses.replace(est, empty=True, note="no posts in either window")
    elif est.trend_per_day is not None and est.note and est.note.startswith("the baseline "):
        relative = math.expm1(est.trend_per_day)
        est = dataclasses.replace(est, note=_trend_note(f"{abs(relative) * 100:.1f} %", relative > 0))

    def typical(v: float | None) -> float | None:
        return None if v is None else math.expm1(v)

    base, treat, lift = est.baseline_value, est.treatment_value, est.lift_abs
    counterfactual = treat - lift if treat is not None and lift is not None else None
    level = math.exp(counterfactual) if counterfactual is not None else None

    def absolute(v: float | None) -> float | None:
        return None if v is None or level is None else level * math.expm1(v)

    return dataclasses.replace(
        est,
        baseline_value=typical(base),
        treatment_value=typical(treat),
        lift_rel=typical(lift),
        lift_abs=absolute(lift),
        ci_low=typical(est.ci_abs_low),
        ci_high=typical(est.ci_abs_high),
        ci_abs_low=absolute(est.ci_abs_low),
        ci_abs_high=absolute(est.ci_abs_high),
        se_abs=None,
        log_scale=True,
        trend_per_day=typical(est.trend_per_day),
    )


def _trim_bounds(values: Array) -> tuple[float, float]:
    if len(values) == 0:
        return (-math.inf, math.inf)
    center = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - center)))
    if spread <= 0:
        spread = float(np.mean(np.abs(values - center)))
    if spread <= 0:
        return (-math.inf, math.inf)
    return (center - TRIM_Z * spread, center + TRIM_Z * spread)


def _log_days(posts: Posts, bounds: tuple[float, float]) -> list[Day]:
    out = []
    for day, values in sorted(posts.items()):
        logs = [v for v in np.log1p([max(0.0, float(x)) for x in values]) if bounds[0] <= v <= bounds[1]]
        if logs:
            out.append(Day(day, float(np.mean(logs)), float(len(logs))))
    return out


def largest_post_share(baseline: Posts, treatment: Posts) -> float | None:
    """Share of the plain (arithmetic mean per post) lift owed to the single largest post.

    The lift in mean engagement per post, minus the same lift with the largest post
    of either window left out, over the former. Near 1: one post made the lift (the
    robust estimate above does not follow it). None without posts in both windows or
    without a plain lift.
    """
    before = [float(v) for vs in baseline.values() for v in vs]
    after = [float(v) for vs in treatment.values() for v in vs]
    if not before or not after:
        return None
    lift = sum(after) / len(after) - sum(before) / len(before)
    if lift == 0:
        return None
    if max(after) >= max(before):
        rest = sorted(after)[:-1]
        without = (sum(rest) / len(rest) if rest else 0.0) - sum(before) / len(before)
    else:
        rest = sorted(before)[:-1]
        without = sum(after) / len(after) - (sum(rest) / len(rest) if rest else 0.0)
    return (lift - without) / lift


# --------------------------------------------------------------------------- trend


@dataclass(frozen=True)
class Trend:
    """The baseline's slope per day (log scale for counts, absolute for means)."""

    slope: float
    se: float
    df: int
    clear: bool  # the TREND_LEVEL interval of the slope excludes 0


def baseline_trend(kind: Kind, days: Sequence[Day]) -> Trend | None:
    """Slope of a linear (counts: log-linear) time term fitted with weekday terms.

    Same model as the lift (quasi-Poisson with the dispersion floor, or weighted
    least squares with HC2), the same serial-correlation guard, with a time term in
    place of the treatment term. None when fewer than TREND_MIN_DAYS days have data,
    or no finite fit exists.
    """
    cleaned = _clean(days, kind)
    if len(cleaned) < TREND_MIN_DAYS:
        return None
    data = _assemble([(cleaned, _EXPERIMENT, 0)])
    if kind == "count" and not data.y.any():
        return None
    time = (data.t - data.t.mean()).astype(np.float64)
    present = sorted(set(data.weekday.tolist()))
    columns = [np.ones_like(time), time] + [(data.weekday == d).astype(np.float64) for d in present[1:]]
    X = np.column_stack(columns)
    df = len(data.y) - X.shape[1]
    if df < 2 or np.linalg.matrix_rank(X) < X.shape[1]:
        return None
    try:
        with np.errstate(divide="raise", over="raise", invalid="raise"):
            if kind == "count":
                fit_data, _ = _drop_silent_weekdays(data)
                if len(fit_data.y) != len(data.y):
                    return None
                beta = _poisson_irls(X, data.y)
                if beta is None:
                    return None
                mu = np.exp(X @ beta)
                bread = np.linalg.inv((X.T * mu) @ X)
                phi = max(MIN_DISPERSION, float(np.sum((data.y - mu) ** 2 / mu)) / df)
                psi = (bread @ X.T)[1] * (data.y - mu)
                var = phi * float(bread[1, 1])
                var *= _autocorrelation_factor(psi, data, reference=var)
            else:
                sw = np.sqrt(data.w)
                Xw, yw = X * sw[:, None], data.y * sw
                gram_inv = np.asarray(np.linalg.inv(Xw.T @ Xw), dtype=np.float64)
                beta = gram_inv @ Xw.T @ yw
                resid = yw - Xw @ beta
                cov, _ = _hc3_cov(Xw, resid, gram_inv, 1, data)
                var = float(cov[1, 1])
    except (FloatingPointError, OverflowError, ValueError, np.linalg.LinAlgError):
        return None
    if not var > 0:
        return None
    slope, se = float(beta[1]), math.sqrt(var)
    q = float(_scipy_stats.t.ppf(0.5 + TREND_LEVEL / 2, df))
    return Trend(slope, se, df, abs(slope) > q * se)


# --------------------------------------------------------------------------- shared


def _autocorrelation_factor(psi: Array, data: _Data, reference: float) -> float:
    """Newey-West / no-lag variance ratio of a coefficient, floored at 1.

    ``psi`` are the coefficient's per-day influence terms (residual times its row of
    the inverse information). Pairs of days of the same stream up to HAC_MAX_LAG
    calendar days apart get Bartlett weights; gaps simply have no pairs. A ratio
    rather than the HAC variance itself, because the latter is biased down in
    samples this small. ``reference`` is the coefficient's model variance: residuals
    negligible against it (a constant series) have no correlation to measure.
    """
    plain = float(psi @ psi)
    if not plain > 1e-12 * reference:
        return 1.0
    lag = np.abs(data.t[:, None] - data.t[None, :])
    same_stream = data.group[:, None] == data.group[None, :]
    kernel = np.where(same_stream, np.clip(1.0 - lag / (HAC_MAX_LAG + 1), 0.0, None), 0.0)
    return max(1.0, float(psi @ kernel @ psi) / plain)


@lru_cache(maxsize=256)
def _t_quantile(df: int) -> float:
    return float(_scipy_stats.t.ppf(0.5 + LEVEL / 2, df))
