"""Power up front: the smallest effect a planned window can detect (SPEC §6, `mde`).

An experiment whose window is too short for its streams ends "inconclusive" after a
month of work. This module predicts, from the streams' recent daily data, the power
of the measurement tracker/stats.py will make, before the window starts.

Counts (mentions): the baseline days are fitted with the quasi-Poisson model and
weekday terms of tracker/stats.py, giving the mean daily count ``level`` and the
dispersion ``phi`` (Pearson chi2 / df, at least 1). The log-lift's variance with
``n_b`` baseline and ``n_t`` experiment days at a true lift ``e`` is

    phi / level * (1 / n_b + 1 / (n_t * (1 + e)))      (+ the control's term, same form)

Means (sentiment, positive_share, share_of_voice; engagement on log(1 + engagement)
per post): the weighted residual variance ``sigma2`` per unit weight (a scored
mention, a post) of the weighted-least-squares fit with weekday terms, and the mean
weight per day ``w``: the lift's variance is ``sigma2 / w * (1 / n_b + 1 / n_t)``.

Counts: the variance is multiplied by ``INFLATION``, the average variance inflation
of the measured interval over this textbook one (the serial-correlation guard never
narrows an interval): measured on the simulations of tests/test_power.py. Power is
then that of the t interval excluding 0 on the expected side, with the model's
residual degrees of freedom.

Means: a formula is not good enough at low volume. At 3 scored mentions a day the
HC2 standard error of the daily model is itself noisy and about 10 % above the
textbook one, so a formula said 72 % where the model finds a +0.2 shift 60 % of the
time. Power of means is therefore simulated with the model itself
(``_null_draws``): ``SIMULATIONS`` seeded experiments whose days have a Poisson
number of observations around the stream's mean weight (days without any are gaps)
and values with the stream's residual variance per observation, measured by
tracker/stats.py exactly as a result is. Adding a shift to every experiment day
moves that model's lift by exactly the shift and leaves its standard error as it
is, so the power of any effect is the share of the draws whose ``(lift + effect) /
se`` clears the quantile: one set of draws serves every effect. With 200 draws a
predicted power is known to about ±3.5 points (one standard error at 50 %).

Both use the level the verdict at the end is judged on (``sequential.FINAL_LEVEL``,
95.5 %: the daily looks spend 0.5 % of the 5 %). The MDE is the effect with 80 %
power: relative for mentions and engagement, absolute for score and share metrics.
tests/test_power.py checks the predicted power against simulated power at 2, 5, 20
and 200 mentions a day, and for sentiment at 3 and 20 scored mentions a day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypedDict

import numpy as np
from scipy import stats as _scipy_stats  # type: ignore[import-untyped]  # no stubs installed
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.config import Settings
from tracker.sequential import FINAL_LEVEL
from tracker.stats import Day, _clean, _poisson_irls
from tracker.stats import measure as _measure
from tracker.store.enums import Role
from tracker.store.models import Experiment, MentionStream, Stream
from tracker.store.queries import stream_ids

POWER = 0.80
LEVEL = FINAL_LEVEL
INFLATION = {"count": 1.30, "mean": 1.10}
SIMULATIONS = 200
WEEKDAY_TERMS = 7  # const + treatment + 6 weekdays (pre_post); diff_in_diff doubles the weekdays


@dataclass(frozen=True)
class Noise:
    """What one stream's days say about the noise of its metric."""

    kind: str  # count | mean
    level: float  # counts: mean per day; means: mean value
    variance: float  # counts: dispersion phi; means: residual variance per unit weight
    weight: float  # means: mean weight per day (1 for counts)
    days: int


def noise(kind: str, days: Sequence[Day]) -> Noise | None:
    """Fit the stream's days (at least 7 with data); None when they say nothing."""
    cleaned = _clean(days, "count" if kind == "count" else "mean")
    if len(cleaned) < 7:
        return None
    order = sorted(cleaned)
    y = np.array([cleaned[d][0] for d in order])
    w = np.array([cleaned[d][1] for d in order])
    weekday = np.array([d.weekday() for d in order])
    present = sorted(set(weekday.tolist()))
    X = np.column_stack([np.ones(len(y))] + [(weekday == d).astype(np.float64) for d in present[1:]])
    df = len(y) - X.shape[1]
    if df < 1:
        return None
    if kind == "count":
        if not y.any():
            return None
        with np.errstate(all="ignore"):
            beta = _poisson_irls(X, y) if all(y[weekday == d].any() for d in present) else None
        if beta is None:
            phi = max(1.0, float(np.var(y, ddof=1)) / float(np.mean(y)))
        else:
            mu = np.exp(X @ beta)
            phi = max(1.0, float(np.sum((y - mu) ** 2 / mu)) / df)
        return Noise("count", float(np.mean(y)), phi, 1.0, len(y))
    sw = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    resid = (y - X @ beta) * sw
    sigma2 = float(resid @ resid) / df
    if not sigma2 > 0:
        return None
    # observations per calendar day: days without any are gaps, and the simulated days have them too
    span = (order[-1] - order[0]).days + 1
    return Noise("mean", float(np.average(y, weights=w)), sigma2, float(np.sum(w)) / span, len(y))


def _variance(n: Noise, n_b: int, n_t: int, effect: float, relative: bool) -> float:
    if n.kind == "count":
        return n.variance / n.level * (1 / n_b + 1 / (n_t * max(1e-9, 1 + effect)))
    return n.variance / n.weight * (1 / n_b + 1 / n_t)


def power(
    effect: float,
    experiment: Noise,
    n_b: int,
    n_t: int,
    control: Noise | None = None,
    *,
    relative: bool = True,
) -> float:
    """Chance that the measured interval excludes 0 on the side of `effect` (its sign)."""
    if effect == 0:
        return (1 - LEVEL) / 2
    if experiment.kind == "mean":
        if relative and effect <= -1:
            return 1.0
        shift = math.log1p(effect) if relative else effect
        lift, se, quantile = _null_draws(experiment, n_b, n_t, control)
        if len(lift) == 0:
            return 0.0
        z = (lift + shift) / se
        return float(np.mean(z > quantile) if shift > 0 else np.mean(z < -quantile))
    var = _variance(experiment, n_b, n_t, effect, relative)
    if control is not None:
        var += _variance(control, n_b, n_t, 0.0, relative)
    var *= INFLATION[experiment.kind]
    if experiment.kind == "count" or relative:
        if effect <= -1:
            return 1.0
        signal = abs(math.log1p(effect))
    else:
        signal = abs(effect)
    terms = WEEKDAY_TERMS + (8 if control is not None else 0)
    df = max(1, n_b + n_t - terms if control is None else 2 * (n_b + n_t) - terms)
    q = float(_scipy_stats.t.ppf(0.5 + LEVEL / 2, df))
    return float(_scipy_stats.t.sf(q - signal / math.sqrt(var), df))


@lru_cache(maxsize=64)
def _null_draws(
    experiment: Noise, n_b: int, n_t: int, control: Noise | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lift, standard error, quantile) of the mean model on SIMULATIONS seeded null experiments."""
    # the same seed for every window length (common random numbers): powers of windows compare
    rng = np.random.default_rng(20240607)
    first = date(2024, 1, 1)

    def days(noise: Noise, offset: int, count: int) -> list[Day]:
        weights = rng.poisson(noise.weight, count)
        values = noise.level + rng.normal(0, 1, count) * np.sqrt(noise.variance / np.maximum(weights, 1))
        return [
            Day(first + timedelta(days=offset + i), float(v), float(w))
            for i, (v, w) in enumerate(zip(values, weights, strict=True))
            if w > 0
        ]

    lifts, ses, qs = [], [], []
    for _ in range(SIMULATIONS):
        base, treat = days(experiment, 0, n_b), days(experiment, n_b, n_t)
        pair = (days(control, 0, n_b), days(control, n_b, n_t)) if control is not None else None
        e = _measure("mean", base, treat, pair, check_trend=False)
        if e.se_abs is None or e.lift_abs is None or e.df is None or not e.se_abs > 0:
            continue  # no interval: never a verdict
        lifts.append(e.lift_abs)
        ses.append(e.se_abs)
        qs.append(float(_scipy_stats.t.ppf(0.5 + LEVEL / 2, e.df)))
    # draws without an interval count as not found
    missing = SIMULATIONS - len(lifts)
    return (
        np.array(lifts + [0.0] * missing),
        np.array(ses + [1.0] * missing),
        np.array(qs + [math.inf] * missing),
    )


def mde(
    experiment: Noise,
    n_b: int,
    n_t: int,
    control: Noise | None = None,
    *,
    relative: bool = True,
    decrease: bool = False,
    target: float = POWER,
) -> float | None:
    """Smallest effect (a magnitude) detected with `target` power; None beyond any plausible one."""
    sign = -1.0 if decrease else 1.0
    log_scale = experiment.kind == "count" or relative
    high = 0.95 if (decrease and log_scale) else (20.0 if log_scale else 10.0)
    if power(sign * high, experiment, n_b, n_t, control, relative=relative) < target:
        return None
    low = 0.0
    for _ in range(60):
        mid = (low + high) / 2
        if power(sign * mid, experiment, n_b, n_t, control, relative=relative) >= target:
            high = mid
        else:
            low = mid
    return high


def log_days(posts: dict[object, list[float]]) -> list[Day]:
    """Engagement posts per day -> daily means of log(1 + engagement), weight posts (as stats does)."""
    out = []
    for day, values in sorted(posts.items(), key=lambda item: str(item[0])):
        if values:
            out.append(Day(day, float(np.mean(np.log1p(np.maximum(values, 0.0)))), float(len(values))))  # type: ignore[arg-type]
    return out


# -- from the store ---------------------------------------------------------------------------

WINDOWS = (7, 14, 21, 28, 42, 56, 84, 112)
RECENT_DAYS = 28


def describe(value: float, relative: bool) -> str:
    return f"{value * 100:+.1f} %" if relative else f"{value:.3f}"


def stream_noise(
    session: Session,
    settings: Settings,
    metric: str,
    stream_ids: Sequence[int],
    first: date,
    last: date,
    now: datetime,
    matching: Any = None,
) -> Noise | None:
    """The noise of `metric` on the streams over first..last (days the collection covered);
    `matching`: only these mentions count (a saved search, tracker/selection.py)."""
    from tracker.coverage import uncovered_days
    from tracker.metrics import COUNT_METRICS, daily, engagement_posts

    zone = settings.organisation.zone
    if last < first or not stream_ids:
        return None
    uncovered = set(uncovered_days(session, list(stream_ids), first, last, zone))
    if metric == "engagement":
        posts = engagement_posts(
            session, stream_ids, first, last, zone, settings.experiments.engagement_age, now,
            matching=matching,
        )  # fmt: skip
        return noise("mean", [d for d in log_days(dict(posts.items())) if d.day not in uncovered])
    competitors = list(session.scalars(select(Stream.id).where(Stream.role == Role.COMPETITOR)))
    values = daily(
        session,
        metric,
        stream_ids,
        first,
        last,
        zone,
        competitor_ids=competitors,
        engagement_age=settings.experiments.engagement_age,
        now=now,
        matching=matching,
    )
    days = [Day(d, v.value, v.weight) for d, v in sorted(values.items()) if d not in uncovered]
    return noise("count" if metric in COUNT_METRICS else "mean", days)


def source_window(first: date, last: date, today: date) -> tuple[date, date]:
    """The planned baseline where it is already over, else the RECENT_DAYS before today."""
    if last < today and (last - first).days + 1 >= 7:
        return first, last
    return today - timedelta(days=RECENT_DAYS), today - timedelta(days=1)


def for_experiment(
    session: Session, settings: Settings, exp: Experiment, today: date
) -> tuple[float | None, list[str]]:
    """(mde of the planned window, warnings) for a registered experiment."""
    from tracker import plans
    from tracker.experiments import baseline_window
    from tracker.metrics import RELATIVE_METRICS
    from tracker.selection import experiment_selection
    from tracker.timeutil import utcnow

    now = utcnow()
    stream_ids, matching = experiment_selection(session, exp)
    base_first, base_last = baseline_window(exp)
    first, last = source_window(base_first, base_last, today)
    own = stream_noise(session, settings, exp.metric, stream_ids, first, last, now, matching)
    if own is None and last < today - timedelta(days=1):
        # an old baseline without data: the streams' recent days say what they are like now
        first, last = today - timedelta(days=RECENT_DAYS), today - timedelta(days=1)
        own = stream_noise(session, settings, exp.metric, stream_ids, first, last, now, matching)
    controls = plans.control_ids(session, exp)
    control = stream_noise(session, settings, exp.metric, controls, first, last, now) if controls else None
    relative = exp.metric in RELATIVE_METRICS
    if own is None or (controls and control is None):
        return None, []  # no data yet: nothing to predict from (mde null)
    n_b, n_t = (base_last - base_first).days + 1, (exp.end - exp.start).days + 1
    found = mde(own, n_b, n_t, control, relative=relative, decrease=exp.expect == "decrease")
    if found is None:
        return None, [
            f"this {n_t}-day window cannot detect any plausible effect with 80 % power on these streams: "
            "make it longer or add streams (see `tracker experiment plan`)"
        ]
    warnings = [] if controls else _history_warning(session, settings, stream_ids, base_first)
    if exp.min_effect < found:
        warnings.append(
            f"--min-effect {describe(exp.min_effect, relative).lstrip('+')} is smaller than the smallest "
            f"effect this {n_t}-day window can detect with 80 % power "
            f"({describe(found, relative).lstrip('+')}): "
            "a real effect of that size would most likely end inconclusive; "
            "`tracker experiment plan` suggests a longer window"
        )
    return found, warnings


def _history_warning(
    session: Session, settings: Settings, stream_ids: Sequence[int], base_first: date
) -> list[str]:
    """A pre_post whose streams cannot have TREND_MIN_HISTORY days before the baseline gets no verdict."""
    from tracker.stats import TREND_MIN_HISTORY
    from tracker.store.queries import first_mention_day

    first = first_mention_day(session, stream_ids, settings.organisation.zone)
    days = max(0, (base_first - first).days) if first != date.max else 0
    if days >= TREND_MIN_HISTORY:
        return []
    return [
        f"the streams have data for only {days} days before the baseline, and a before/after "
        f"comparison needs {TREND_MIN_HISTORY} to tell a steady trend from an effect: this "
        "experiment will get no verdict; add a --control-stream that shares the trend"
    ]


class PlanWindow(TypedDict):
    """One window length of a plan: the smallest effect it detects and its power for the target."""

    days: int
    mde: float | None
    power: float


class PlanData(TypedDict):
    """The recent days the plan's noise was measured on, and the streams' level over them."""

    start: str
    end: str
    days: int
    level: float


class PlanRecord(TypedDict):
    """`tracker experiment plan --json`: the MDE of the planned window and the window a target needs."""

    metric: str
    streams: list[str]
    control_streams: list[str]
    warnings: list[str]
    days: int
    mde: float | None
    effect: float
    relative: bool
    suggested_days: int | None
    windows: list[PlanWindow]
    data: PlanData


def plan(
    session: Session,
    settings: Settings,
    metric: str,
    streams: Sequence[str],
    controls: Sequence[str],
    days: int,
    effect: float | None,
    expect: str,
    today: date,
) -> PlanRecord:
    """`tracker experiment plan`: the MDE of a `days`-day window and the window a target effect needs."""
    from tracker.errors import UserError
    from tracker.metrics import METRICS, RELATIVE_METRICS
    from tracker.timeutil import utcnow

    if metric not in METRICS:
        raise UserError(f"--metric: unknown metric {metric!r} (one of {', '.join(METRICS)})")
    if not streams:
        raise UserError("--stream: name at least one stream")
    if not 1 <= days <= 365:
        raise UserError(f"--days: expected 1 to 365, got {days}")
    known = stream_ids(session)
    for name in [*streams, *controls]:
        if name not in known:
            raise UserError(f"unknown stream {name!r} (see `tracker status`)")
    relative = metric in RELATIVE_METRICS
    target = effect if effect is not None else (0.2 if relative else 0.05)
    now = utcnow()
    # the streams' newest data: the days up to their latest mention (today is not over)
    newest = session.scalar(
        select(func.max(MentionStream.created_at)).where(
            MentionStream.stream_id.in_([known[n] for n in streams])
        )
    )
    last = today - timedelta(days=1)
    if newest is not None:
        newest = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
        last = min(last, newest.astimezone(settings.organisation.zone).date())
    first = last - timedelta(days=max(RECENT_DAYS, days) - 1)
    own = stream_noise(session, settings, metric, [known[n] for n in streams], first, last, now)
    control = stream_noise(session, settings, metric, [known[n] for n in controls], first, last, now)
    if own is None or (controls and control is None):
        raise UserError(
            f"not enough data on the streams from {first} to {last} (7 days with data needed) to plan"
        )
    decrease = expect == "decrease"
    signed = -abs(target) if decrease else abs(target)
    rows: list[PlanWindow] = []
    suggested: int | None = None
    for n in sorted({*WINDOWS, days}):
        chance = power(signed, own, n, n, control, relative=relative)
        if suggested is None and chance >= POWER:
            suggested = n
        rows.append(
            {"days": n, "mde": mde(own, n, n, control, relative=relative, decrease=decrease), "power": chance}
        )
    # a window starting tomorrow has its baseline from today - days on
    own_ids = [known[n] for n in streams]
    warnings = [] if controls else _history_warning(session, settings, own_ids, today - timedelta(days=days))
    return {
        "metric": metric,
        "streams": list(streams),
        "control_streams": list(controls),
        "warnings": warnings,
        "days": days,
        "mde": next(r["mde"] for r in rows if r["days"] == days),
        "effect": target,
        "relative": relative,
        "suggested_days": suggested,
        "windows": rows,
        "data": {"start": first.isoformat(), "end": last.isoformat(), "days": own.days, "level": own.level},
    }
