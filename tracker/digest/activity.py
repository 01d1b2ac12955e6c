"""What the team did in the week: experiments and the maturity stage (from the reflection)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import select

from tracker.config import Settings
from tracker.digest.weeks import Week
from tracker.experiments import ExperimentRecord, Registry
from tracker.maturity import Model
from tracker.reflection import MoveRecord, StageRecord, StageRef, reflect
from tracker.report import lift_text
from tracker.results import Lift, MeasurementResult, stored
from tracker.store.db import Store
from tracker.store.models import Experiment, ExperimentResult
from tracker.store.queries import newest_valid_result_ids
from tracker.timeutil import parse_instant

TAGS = ("started", "running", "ended", "measured", "concluded")


def experiments(
    store: Store, settings: Settings, model: Model, week: Week, now: datetime
) -> dict[str, list[DigestExperiment]]:
    """Experiments started, running, ended, measured and concluded in the week (one may be in several).

    The result shown is the newest measured by the end of the week after (or now, if
    earlier): the final verdict of an experiment that ended on Sunday is measured on
    Monday, in time for Monday's digest, and an old week's digest stays as it was.
    "Measured" is news only: a first result, or a verdict that changed since the week
    began (experiments are re-measured daily, and an unchanged verdict is not news).
    """
    zone = settings.organisation.zone
    lo, hi = week.bounds(zone)
    cutoff = min(now, hi + timedelta(days=7))
    results = _results_before(store, cutoff)
    earlier = _verdicts_before(store, lo)
    tagged: dict[int, list[str]] = {}

    def news(exp: Experiment) -> bool:
        """Whether the week has news of it (its tags, kept in `tagged`): read from the row alone."""
        if exp.cancelled_at is not None:
            return False
        result = results.get(exp.id)
        measured = (
            result is not None
            and parse_instant(result["measured_at"]) >= lo
            and result["verdict"] != earlier.get(exp.id)
        )
        tagged[exp.id] = _tags(exp, week, zone, measured=measured)
        return bool(tagged[exp.id])

    found: dict[str, list[DigestExperiment]] = {tag: [] for tag in TAGS}
    for record in Registry(store, settings, model).records_of(news):
        tags = tagged[record["id"]]
        entry = _entry(record, results.get(record["id"]), tags, model)
        for tag in tags:
            found[tag].append(entry)
    return found


def _results_before(store: Store, cutoff: datetime) -> dict[int, MeasurementResult]:
    """Per experiment, the payload of its newest valid result measured before `cutoff`."""
    newest = newest_valid_result_ids(cutoff)
    with store.read() as session:
        rows = session.scalars(select(ExperimentResult).where(ExperimentResult.id.in_(newest)))
        return {r.experiment_id: stored({**r.payload, "id": r.experiment_id}) for r in rows}


def _verdicts_before(store: Store, moment: datetime) -> dict[int, str]:
    """Per experiment, the verdict of its newest valid result measured before `moment`."""
    newest = newest_valid_result_ids(moment)
    query = select(ExperimentResult.experiment_id, ExperimentResult.verdict).where(
        ExperimentResult.id.in_(newest)
    )
    with store.read() as session:
        return {exp_id: verdict for exp_id, verdict in session.execute(query)}


def _tags(exp: Experiment, week: Week, zone: Any, *, measured: bool) -> list[str]:
    start, end, concluded = exp.start, exp.end, exp.concluded_at
    tags = []
    if week.start <= start <= week.end:
        tags.append("started")
    if start < week.start and end > week.end:
        tags.append("running")
    if week.start <= end <= week.end:
        tags.append("ended")
    if measured:
        tags.append("measured")
    if concluded and week.start <= concluded.astimezone(zone).date() <= week.end:
        tags.append("concluded")
    return tags


class DigestResult(Lift):
    """An experiment's newest result as the digest shows it: verdict, method and the lift (Lift's
    fields), then the windows' levels (the order of the dict _entry builds)."""

    verdict: str | None
    method: str | None
    baseline_value: float | None
    treatment_value: float | None
    baseline_typical: float | None
    treatment_typical: float | None
    lift_of: str
    excluded_days: int
    measured_at: str
    text: str


class DigestExperiment(TypedDict):
    """One experiment in the digest, with what it did this week (`this_week`) and its result."""

    id: int
    title: str
    practice: str
    practice_name: str
    metric: str
    expect: str
    status: str
    owner: str | None
    team: str | None
    streams: list[str]
    start: str
    end: str
    this_week: list[str]
    verdict: str | None
    result: DigestResult | None
    learning: str | None
    decision: str | None
    adopted_by: str | None


def _entry(
    record: ExperimentRecord, result: MeasurementResult | None, tags: list[str], model: Model
) -> DigestExperiment:
    practice = model.practice(record["practice"])
    shown: DigestResult | None = None
    if result is not None:
        # a stored result: .get, as one stored by an older version may lack a field
        shown = {
            "verdict": result.get("verdict"),
            "method": result.get("method"),
            "lift_abs": result.get("lift_abs"),
            "lift_rel": result.get("lift_rel"),
            "ci_low": result.get("ci_low"),
            "ci_high": result.get("ci_high"),
            "ci_abs_low": result.get("ci_abs_low"),
            "ci_abs_high": result.get("ci_abs_high"),
            "baseline_value": result["baseline"]["value"],
            "treatment_value": result["treatment"]["value"],
            # engagement: the typical post's levels, which the lift is of (`lift_of`)
            "baseline_typical": result["baseline"].get("typical"),
            "treatment_typical": result["treatment"].get("typical"),
            "lift_of": result.get("lift_of", "value"),
            "excluded_days": len(result.get("excluded_days", [])),
            "measured_at": result["measured_at"],
            "text": lift_text(result),
        }
    return {
        "id": record["id"],
        "title": record["title"],
        "practice": record["practice"],
        "practice_name": practice.name if practice else record["practice"],
        "metric": record["metric"],
        "expect": record["expect"],
        "status": record["status"],
        "owner": record["owner"],
        "team": record["team"],
        "streams": record["streams"],
        "start": record["start"],
        "end": record["end"],
        "this_week": tags,
        "verdict": result["verdict"] if result else None,
        "result": shown,
        "learning": record["learning"],
        "decision": record["decision"],
        "adopted_by": record.get("adopted_by"),  # evidence | judgement | None (tracker/lifecycle.py)
    }


class PracticeName(TypedDict):
    key: str
    name: str


class DigestStep(TypedDict):
    """A next step toward the next stage: the requirement, the advice and the practices that meet it."""

    requirement: str
    advice: str
    practices: list[PracticeName]
    stage: StageRef


class DigestMaturity(TypedDict):
    """The stage as of the week's last day, the week's moves and the next steps (SPEC §7)."""

    as_of: str
    stage: StageRecord
    stages: int
    since: str | None
    moves: list[MoveRecord]
    last_move: MoveRecord | None
    next_steps: list[DigestStep]
    dimensions: dict[str, Any]


def maturity(store: Store, settings: Settings, model: Model, week: Week) -> DigestMaturity:
    """The stage as of the week's last day, the moves made in the week, and the next steps."""
    result = reflect(store, settings, model, as_of=week.end)
    moves = [m for m in result["moves"] if week.start.isoformat() <= m["date"] <= week.end.isoformat()]
    steps: list[DigestStep] = []
    for step in result["next_steps"]:
        names: list[PracticeName] = [
            {"key": k, "name": p.name if (p := model.practice(k)) else k} for k in step["practices"]
        ]
        steps.append(
            {
                "requirement": step["requirement"],
                "advice": step["advice"],
                "practices": names,
                "stage": step["stage"],
            }
        )
    return {
        "as_of": result["as_of"],
        "stage": result["stage"],
        "stages": len(model.stages),
        "since": result["since"],
        "moves": moves,
        "last_move": result["moves"][-1] if result["moves"] else None,
        "next_steps": steps,
        "dimensions": {name: d["score"] for name, d in result["dimensions"].items()},
    }
