"""The records of a measurement (SPEC §6), apart from the statistics that compute them.

`MeasurementResult` is what `experiment measure --json` prints and a result row stores;
tracker/measuring.py builds it. Readers of stored results (the lifecycle, the reflection,
the digest, the web) import it from here, which imports nothing heavy: reading a result
needs neither numpy nor scipy (tests/test_layers.py).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast


class Lift(TypedDict):
    """A lift with its intervals: relative (`ci_low`/`ci_high`) and absolute (`ci_abs_*`)."""

    lift_rel: float | None
    lift_abs: float | None
    ci_low: float | None
    ci_high: float | None
    ci_abs_low: float | None
    ci_abs_high: float | None


class InterimRecord(Lift):
    """A running experiment's interim estimate as a result gives it (`interim`): `alpha` first,
    then the lift, then `method` (the order of as_dict)."""

    alpha: float
    method: str


class ResultWindow(TypedDict):
    """One window of a result: its days with data, `value` and (engagement) `typical` (SPEC §6)."""

    start: str
    end: str
    days: int
    value: float | None
    typical: float | None


class ResultSeries(TypedDict):
    """The windows' daily values as [ISO day, value]; the control's beside them when there is one."""

    baseline: list[list[Any]]
    treatment: list[list[Any]]
    control_baseline: NotRequired[list[list[Any]]]
    control_treatment: NotRequired[list[list[Any]]]


class Scorers(TypedDict):
    """Which sentiment scorers each window rests on (tracker/labels.py)."""

    baseline: list[str]
    treatment: list[str]


class ControlRecord(TypedDict):
    """The control drawn beside a diff_in_diff result: its streams and its windows' plain levels."""

    stream: str
    baseline: float | None
    treatment: float | None


class MeasurementResult(Lift):
    """One experiment's measurement, as `experiment measure --json` prints it and a result row
    stores it (its `payload`). `control` only with control streams, `compared_with` and
    `like_for_like` only for share_of_voice. The lift and its intervals are Lift's fields; the
    JSON gives them after `lift_of` (the order of the dict measure_one builds)."""

    id: int
    title: str
    metric: str
    practice: str
    method: str
    expect: str
    min_effect: float
    baseline: ResultWindow
    treatment: ResultWindow
    lift_of: str
    verdict: str
    verdict_note: str | None
    excluded_days: list[str]
    measured_at: str
    series: ResultSeries
    post_hoc: bool
    scorers: Scorers | None
    interim: InterimRecord | None
    stopped_early: bool
    possible_outages: list[str]
    weights: dict[str, float] | None
    note: str | None
    largest_post_share: float | None
    trend_per_day: float | None
    trend_history_days: int | None
    trend_warning: str | None
    control: NotRequired[ControlRecord]
    compared_with: NotRequired[list[str]]
    like_for_like: NotRequired[bool]


def stored(payload: dict[str, Any]) -> MeasurementResult:
    """A result row's payload as the record it was stored from. The payload is JSON written by
    measure_one; a result stored by an older version may lack keys added since (read them with .get)."""
    return cast(MeasurementResult, payload)
