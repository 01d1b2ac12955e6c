"""One experiment's measurement from the stored data (SPEC §6): the result record.

The windows' daily values go through tracker/stats.py (counts and means), engagement
through its robust per-post estimate, several control streams through a synthetic
control (tracker/synthetic.py). Days the collection did not cover, and days a user
confirmed as uncovered (`experiment measure --exclude-days`), are left out; runs of
zero days implausible for a stream (tracker/outages.py) are listed as
`possible_outages`. A running experiment gets an interim estimate with an
always-valid interval (tracker/sequential.py) and may stop early only on it; the
verdict at the end spends what those looks left of the 5 % (`verdict_note` says when
that changes it). A result under an amended plan is `post_hoc` (tracker/plans.py).

Engagement (SPEC §6): each window's `value` is the plain mean engagement per own post;
`typical` beside it is the robust level (the typical post, tracker/stats.py) and the
lift, its intervals and the verdict are those of the typical post: `lift_of` is
"typical" then, "value" for every other metric (`typical` null). A pre_post result
whose streams have fewer than TREND_MIN_HISTORY days with data before the baseline
gets no interval, so no verdict (`note` says why, `trend_warning` too): the baseline
trend cannot be tested, and a trend would pass for an effect.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import plans, sequential, stats, synthetic
from tracker.config import Settings
from tracker.coverage import uncovered_days
from tracker.metrics import COUNT_METRICS, RELATIVE_METRICS, daily, engagement_posts
from tracker.outages import possible_outages
from tracker.results import MeasurementResult, ResultSeries, ResultWindow, Scorers
from tracker.selection import experiment_selection
from tracker.store.enums import Role
from tracker.store.models import Experiment, ExperimentCompetitor, Stream
from tracker.store.queries import first_mention_day, stream_names_by_id
from tracker.timeutil import iso_z

MIN_DAYS = 7
# Days before the baseline used (with it) to test a pre_post baseline for a trend.
TREND_HISTORY_DAYS = 56
# Fewer days with data before the baseline than this, and a pre_post gets no interval
# (stats.short_history): the trend test cannot tell a steady trend from an effect.
TREND_MIN_HISTORY = stats.TREND_MIN_HISTORY


def measure_one(session: Session, settings: Settings, exp: Experiment, now: datetime) -> MeasurementResult:
    from tracker.experiments import baseline_window

    zone = settings.organisation.zone
    today = now.astimezone(zone).date()
    stream_ids, matching = experiment_selection(session, exp)
    control_ids = plans.control_ids(session, exp)
    competitors, compared_with, like_for_like = _competitors_for(session, stream_ids, exp.id)
    base_first, base_last = baseline_window(exp)
    # Only complete days count: today (and the future) is not over yet.
    treat_last = min(exp.end, today - timedelta(days=1))
    last = max(treat_last, base_last)
    watched = stream_ids + control_ids
    if exp.metric == "share_of_voice":
        watched += [c for c in competitors if c not in stream_ids]
    excluded = set(uncovered_days(session, watched, base_first, last, zone))
    excluded |= plans.confirmed_days(session, exp.id)
    outages = _outages(session, stream_ids + control_ids, base_first, last, zone, excluded)

    def series(ids: list[int], first: date, end: date) -> list[stats.Day]:
        """The metric per day; a saved search narrows the experiment's own streams, not controls."""
        if end < first:
            return []
        values = daily(
            session,
            exp.metric,
            ids,
            first,
            end,
            zone,
            competitor_ids=competitors,
            engagement_age=settings.experiments.engagement_age,
            now=now,
            matching=matching if ids is stream_ids else None,
        )
        return [stats.Day(d, v.value, v.weight) for d, v in sorted(values.items()) if d not in excluded]

    def posts(ids: list[int], first: date, end: date) -> dict[date, list[float]]:
        if end < first:
            return {}
        found = engagement_posts(
            session, ids, first, end, zone, settings.experiments.engagement_age, now,
            matching=matching if ids is stream_ids else None,
        )  # fmt: skip
        return {d: v for d, v in found.items() if d not in excluded}

    baseline = series(stream_ids, base_first, base_last)
    treatment = series(stream_ids, exp.start, treat_last)
    history_first = max(
        base_first - timedelta(days=TREND_HISTORY_DAYS), first_mention_day(session, stream_ids, zone)
    )
    history = series(stream_ids, history_first, base_first - timedelta(days=1)) if not control_ids else []
    weights: dict[str, float] | None = None
    drawn: dict[str, Any] | None = None
    names = stream_names_by_id(session)
    share: float | None = None
    estimate: stats.Estimate | None = None
    # Engagement: `value` is the plain mean per post (SPEC §6); `typical` the robust level the
    # lift and the verdict are computed on (tracker/stats.py, "Robust engagement").
    plain: tuple[float | None, float | None] | None = None
    hist_posts: dict[date, list[float]] = {}
    if exp.metric == "engagement":
        base_posts, treat_posts = (
            posts(stream_ids, base_first, base_last),
            posts(stream_ids, exp.start, treat_last),
        )
        share = stats.largest_post_share(base_posts, treat_posts)
        hist_posts = (
            posts(stream_ids, history_first, base_first - timedelta(days=1)) if not control_ids else {}
        )
        plain = (_plain_mean(base_posts), _plain_mean(treat_posts))
        control_posts = None
        if control_ids:
            per = [
                (posts([c], base_first, base_last), posts([c], exp.start, treat_last)) for c in control_ids
            ]
            total = sum(len(v) for b, _ in per for v in b.values()) or 1
            weights = {
                names[c]: sum(len(v) for v in b.values()) / total
                for c, (b, _) in zip(control_ids, per, strict=True)
            }
            control_posts = (
                posts(control_ids, base_first, base_last),
                posts(control_ids, exp.start, treat_last),
            )
        if baseline and treatment:
            estimate = stats.measure_engagement(base_posts, treat_posts, control_posts, history=hist_posts)
    else:
        kind: Literal["count", "mean"] = "count" if exp.metric in COUNT_METRICS else "mean"
        control = None
        if len(control_ids) == 1:
            control = (series(control_ids, base_first, base_last), series(control_ids, exp.start, treat_last))
            weights = {names[control_ids[0]]: 1.0}
        elif control_ids:
            parts = [
                (series([c], base_first, base_last), series([c], exp.start, treat_last)) for c in control_ids
            ]
            found, control = synthetic.combine(kind, baseline, parts)
            weights = {names[c]: w for c, w in zip(control_ids, found, strict=True)}
        if baseline and treatment:
            estimate = stats.measure(kind, baseline, treatment, control, seed=exp.id, history=history)
            if len(control_ids) > 1:
                # the fitted weights' own uncertainty widens the interval (tracker/synthetic.py)
                estimate = synthetic.widen(
                    estimate, synthetic.weight_variance(kind, baseline, parts, seed=exp.id)
                )
        if control is not None:
            # Drawn beside the experiment's own series, and put in words (tracker/explain.py).
            drawn = {
                "stream": ", ".join(names[c] for c in control_ids),
                "baseline": _mean(control[0], kind),
                "treatment": _mean(control[1], kind),
                "series": (control[0], control[1]),
            }
    history_days = len(hist_posts if exp.metric == "engagement" else history) if not control_ids else None
    if history_days is not None and estimate is not None:
        # pre_post: without enough history the trend test cannot work, so no verdict (tracker/stats.py)
        estimate = stats.short_history(estimate, history_days)
    relative = exp.metric in RELATIVE_METRICS
    running = today <= exp.end

    def judge(found: stats.Estimate | None) -> str:
        return stats.verdict(
            found,
            ended=True,
            expect=exp.expect,  # type: ignore[arg-type]
            min_effect=exp.min_effect,
            relative=relative,
            min_days=MIN_DAYS,
        )

    # The verdict at the end spends what the daily looks left of the 5 % (tracker/sequential.py).
    judged = judge(sequential.final_look(estimate))
    judged_note = sequential.verdict_note(judge(estimate), judged)
    interim = None
    verdict = judged
    if running:
        interim = sequential.interim(estimate, (exp.end - exp.start).days + 1)
        enough = judged != "insufficient_data" and estimate is not None and estimate.ci_abs_low is not None
        verdict = sequential.early_verdict(interim, expect=exp.expect, relative=relative, enough_days=enough)
    note = estimate.note if estimate is not None else _why_no_estimate(baseline, treatment, running)
    trend_warning = None
    if history_days is not None and history_days < TREND_MIN_HISTORY and estimate is not None:
        trend_warning = (
            f"only {history_days} days with data before the baseline ({TREND_MIN_HISTORY} needed): "
            "a steady trend cannot be told from an effect, so a before/after comparison may credit "
            "the trend to the practice; add a --control-stream that shares the trend"
        )
    series_of: ResultSeries = {
        "baseline": [[d.day.isoformat(), d.value] for d in baseline],
        "treatment": [[d.day.isoformat(), d.value] for d in treatment],
    }
    if drawn:
        series_of["control_baseline"] = [[d.day.isoformat(), d.value] for d in drawn["series"][0]]
        series_of["control_treatment"] = [[d.day.isoformat(), d.value] for d in drawn["series"][1]]
    result: MeasurementResult = {
        "id": exp.id,
        "title": exp.title,
        "metric": exp.metric,
        "practice": exp.practice,
        "method": "diff_in_diff" if control_ids else "pre_post",
        "expect": exp.expect,
        "min_effect": exp.min_effect,
        "baseline": _window(
            (base_first, base_last), baseline, estimate.baseline_value if estimate else None, plain, 0
        ),
        "treatment": _window(
            (exp.start, exp.end), treatment, estimate.treatment_value if estimate else None, plain, 1
        ),
        "lift_of": "typical" if plain is not None else "value",
        "lift_abs": estimate.lift_abs if estimate else None,
        "lift_rel": estimate.lift_rel if estimate else None,
        "ci_low": estimate.ci_low if estimate else None,
        "ci_high": estimate.ci_high if estimate else None,
        "ci_abs_low": estimate.ci_abs_low if estimate else None,
        "ci_abs_high": estimate.ci_abs_high if estimate else None,
        "verdict": verdict,
        "verdict_note": None if running else judged_note,
        "excluded_days": [d.isoformat() for d in sorted(excluded & _days(base_first, exp.end))],
        "measured_at": iso_z(now),
        "series": series_of,
        "post_hoc": plans.is_amended(session, exp.id),
        "scorers": _scorers(session, exp, stream_ids + control_ids, (base_first, base_last), zone),
        "interim": interim.as_dict() if interim else None,
        "stopped_early": running and verdict in ("success", "failure"),
        "possible_outages": [d.isoformat() for d in outages],
        "weights": weights,
        "note": note,
        "largest_post_share": share,
        "trend_per_day": estimate.trend_per_day if estimate else None,
        "trend_history_days": history_days,
        "trend_warning": trend_warning,
    }
    if drawn:
        result["control"] = {"stream": drawn["stream"], "baseline": drawn["baseline"],
                             "treatment": drawn["treatment"]}  # fmt: skip
    if exp.metric == "share_of_voice":
        result["compared_with"] = compared_with
        result["like_for_like"] = like_for_like
    return result


def _competitors_for(
    session: Session, stream_ids: list[int], exp_id: int
) -> tuple[list[int], list[str], bool]:
    """Share of voice like for like: the competitors named with --competitors, else the competitor
    streams on the experiment's streams' platforms (all competitor streams when none is on those
    platforms). Returns their ids, their names, and whether the comparison is like for like."""
    from tracker.registry import connector_class

    named = session.execute(
        select(Stream.id, Stream.name)
        .join(ExperimentCompetitor, ExperimentCompetitor.stream_id == Stream.id)
        .where(ExperimentCompetitor.experiment_id == exp_id)
        .order_by(Stream.name)
    ).all()
    if named:
        return [r.id for r in named], [r.name for r in named], True

    def platform(connector: str) -> str:
        return str(getattr(connector_class(connector), "platform", connector))

    rows = session.execute(select(Stream.id, Stream.name, Stream.connector, Stream.role)).all()
    ours = {platform(r.connector) for r in rows if r.id in stream_ids}
    rivals = [r for r in rows if r.role == Role.COMPETITOR and r.id not in stream_ids]
    same = [r for r in rivals if platform(r.connector) in ours]
    chosen = same or rivals
    return [r.id for r in chosen], sorted(r.name for r in chosen), bool(same)


def _why_no_estimate(baseline: list[stats.Day], treatment: list[stats.Day], running: bool) -> str:
    if not baseline and not treatment:
        return "no days with data in either window"
    if not baseline:
        return "no days with data in the baseline window"
    return (
        "the experiment window has no complete day with data yet"
        if running
        else ("no days with data in the experiment window")
    )


def _window(
    bounds: tuple[date, date],
    days: list[stats.Day],
    value: float | None,
    plain: tuple[float | None, float | None] | None,
    which: int,
) -> ResultWindow:
    """One window of the result. With `plain` (engagement) `value` is the plain mean per post
    and `typical` the model's robust level; otherwise `value` is the model's level, `typical` null."""
    shown, typical = (value, None) if plain is None else (plain[which], value)
    return {
        "start": bounds[0].isoformat(),
        "end": bounds[1].isoformat(),
        "days": len(days),
        "value": shown,
        "typical": typical,
    }


def _plain_mean(posts: dict[date, list[float]]) -> float | None:
    """Mean engagement per post over a window's posts (SPEC §6), None without posts."""
    values = [max(0.0, float(v)) for vs in posts.values() for v in vs]
    return sum(values) / len(values) if values else None


def _scorers(
    session: Session, exp: Experiment, ids: list[int], baseline: tuple[date, date], zone: Any
) -> Scorers | None:
    """Which sentiment scorers the two windows rest on (tracker/labels.py); None for other metrics."""
    if exp.metric not in ("sentiment", "positive_share"):
        return None
    from tracker.labels import scorers_between

    return {
        "baseline": scorers_between(session, ids, baseline[0], baseline[1], zone),
        "treatment": scorers_between(session, ids, exp.start, exp.end, zone),
    }


def _days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}


def _outages(
    session: Session, stream_ids: list[int], first: date, last: date, zone: Any, excluded: set[date]
) -> list[date]:
    """Days in implausible runs of zero mentions on any of the streams (not already excluded)."""
    if last < first:
        return []
    flagged: set[date] = set()
    for sid in stream_ids:
        counts = daily(session, "mentions", [sid], first, last, zone)
        values = {d: v.value for d, v in counts.items() if d not in excluded}
        flagged |= set(possible_outages(values))
    return sorted(flagged)


def _mean(days: list[stats.Day], kind: str) -> float | None:
    """A window's plain level: the mean daily count, or the observation-weighted mean."""
    kept = [d for d in days if d.weight is None or d.weight > 0]
    if not kept:
        return None
    if kind == "count":
        return float(sum(d.value for d in kept) / len(kept))
    weights = [float(d.weight or 1.0) for d in kept]
    return float(sum(d.value * w for d, w in zip(kept, weights, strict=True)) / sum(weights))
