"""The reflection: where the organisation stands on the maturity stages, and why (SPEC §7).

Everything is computed from the record: experiments registered, measured and
concluded, digests sent and collection runs. `as_of` reflects on the data as it
stood at the end of that day (organisation time zone), so the history of moves is
replayed day by day from the first event with the same rules.

Only evidence counts (so the stages cannot be gamed): an experiment is measured
when its latest result has a usable verdict (not running / insufficient_data)
computed from data in both windows; a conclusion counts when its learning is a
sentence (20+ characters, 3+ words); owners and teams count for measured
experiments only. Adoption (tracker/lifecycle.py): a practice is adopted when an
experiment on it was concluded with --adopt on a usable verdict, or concluded while
its latest usable result said `success` (unless --reject) — `adopted_by:
"evidence"` — or concluded with --judgement TEXT, `adopted_by: "judgement"`.
A reopened conclusion stops counting from the moment it was reopened.

Practices are ranked by a unit-free rule (`rank_key`): a measured result first,
then measured successes, then the mean effect size (each effect divided by its
experiment's min_effect); each effect is reported in its metric's own unit (% for
mentions and engagement, points for sentiment, percentage points for shares).
A practice without a measured result is "not measured", never ranked among those
that moved us.

POST dimension scores (0-100), each the sum of two parts:
  * practices (60 points): the adopted practices of the dimension, weighted by the
    stage they are characteristic of, as a share of all the dimension's practices
    weighted the same way; a later-stage practice counts for more;
  * the dimension's own evidence (40 points):
      people      distinct owners and teams that ran experiments (8 together = full)
      objectives  share of ended experiments with a usable measured verdict (20) and
                  experiments concluded with a learning (10 = full, 20)
      strategy    experiments on the dimension's practices, and how many different
                  practices the organisation tried (12 practices = full)
      technology  platforms collected successfully in the last 14 days (5 = full, 20)
                  and weeks of the last 8 with a digest sent (20)
The evidence list of each dimension says what the score rests on.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.config import Settings
from tracker.lifecycle import is_sentence, usable
from tracker.maturity import DIMENSIONS, Adopted, AdoptedPerDimension, MeasuredShare, Model, Stage
from tracker.results import MeasurementResult, stored
from tracker.store.db import Store
from tracker.store.enums import RunStatus, SendStatus
from tracker.store.models import (
    CollectionRun,
    DigestSend,
    Experiment,
    ExperimentEvent,
    ExperimentResult,
    MaturitySnapshot,
    Stream,
)
from tracker.timeutil import day_start, utcnow

UNUSABLE = ("running", "insufficient_data")
PLATFORM_WINDOW = timedelta(days=14)


@dataclass
class _Exp:
    id: int
    practice: str
    owner: str | None
    team: str | None
    start: date
    end: date
    created: datetime
    metric: str = "mentions"
    expect: str = "increase"
    min_effect: float = 0.05
    # (at, state, detail): state open | concluded | cancelled; detail of a conclusion
    timeline: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)
    results: list[tuple[datetime, MeasurementResult]] = field(default_factory=list)  # measured_at, payload

    def state(self, cutoff: datetime) -> tuple[str, dict[str, Any], datetime | None]:
        found: tuple[str, dict[str, Any], datetime | None] = ("open", {}, None)
        for at, state, detail in self.timeline:
            if at > cutoff:
                break
            found = (state, detail, at)
        return found

    def alive(self, cutoff: datetime) -> bool:
        return self.created <= cutoff and self.state(cutoff)[0] != "cancelled"

    def conclusion(self, cutoff: datetime) -> tuple[dict[str, Any], datetime] | None:
        """The conclusion standing at `cutoff`, when its learning is a sentence (else it does not count)."""
        state, detail, at = self.state(cutoff)
        if state != "concluded" or at is None or not is_sentence(detail.get("learning")):
            return None
        return detail, at

    def concluded_by(self, cutoff: datetime) -> bool:
        return self.conclusion(cutoff) is not None

    def latest(self, cutoff: datetime) -> MeasurementResult | None:
        known = [r for at, r in self.results if at <= cutoff]
        return known[-1] if known else None

    def measured(self, cutoff: datetime) -> bool:
        return usable(self.latest(cutoff))

    def adopts(self, cutoff: datetime) -> str | None:
        """How the standing conclusion adopts the practice: "evidence", "judgement" or None."""
        found = self.conclusion(cutoff)
        if found is None or found[0].get("decision") == "reject":
            return None
        detail = found[0]
        if detail.get("adopted_by") == "judgement":
            return "judgement"
        latest = self.latest(cutoff)
        if not usable(latest):
            return None
        assert latest is not None
        if latest.get("post_hoc"):  # measured under an amended plan: reported, never evidence (issue 16)
            return None
        return "evidence" if detail.get("decision") == "adopt" or latest["verdict"] == "success" else None


@dataclass
class _Record:
    """Everything the reflection reads, loaded once."""

    experiments: list[_Exp]
    digests: list[datetime]  # sent_at of each sent digest
    runs: dict[str, list[date]]  # platform -> sorted UTC days with a successful run


def load_record(session: Session) -> _Record:
    exps: dict[int, _Exp] = {}
    columns: dict[int, Experiment] = {}
    for e in session.scalars(select(Experiment).order_by(Experiment.id)):
        columns[e.id] = e
        exps[e.id] = _Exp(e.id, e.practice, e.owner, e.team, e.start, e.end, e.created_at, e.metric,
                          e.expect, e.min_effect)  # fmt: skip
    for ev in session.scalars(select(ExperimentEvent).order_by(ExperimentEvent.at, ExperimentEvent.id)):
        if ev.experiment_id in exps:
            state = {"reopened": "open"}.get(ev.status, ev.status)
            exps[ev.experiment_id].timeline.append((ev.at, state, dict(ev.detail)))
    for exp_id, exp in exps.items():
        e = columns[exp_id]
        if not exp.timeline:  # recorded before status events were kept: the columns are the history
            if e.concluded_at is not None:
                exp.timeline.append(
                    (e.concluded_at, "concluded", {"learning": e.learning, "decision": e.decision})
                )
            if e.cancelled_at is not None:
                exp.timeline.append((e.cancelled_at, "cancelled", {}))
            exp.timeline.sort(key=lambda t: t[0])
    results = session.execute(
        select(ExperimentResult.experiment_id, ExperimentResult.measured_at, ExperimentResult.payload)
        .where(ExperimentResult.valid.is_(True))
        .order_by(ExperimentResult.measured_at, ExperimentResult.id)
    )
    for exp_id, measured, payload in results:
        if exp_id in exps:
            exps[exp_id].results.append((measured, stored(dict(payload))))
    digests = list(
        session.scalars(
            select(DigestSend.sent_at).where(
                DigestSend.status == SendStatus.SENT, DigestSend.sent_at.is_not(None)
            )
        )
    )
    runs: dict[str, list[date]] = defaultdict(list)
    day = func.date(CollectionRun.started_at)  # UTC day: fine for a 14-day window
    query = (
        select(Stream.connector, day)
        .join(CollectionRun, CollectionRun.stream_id == Stream.id)
        .where(CollectionRun.status == RunStatus.OK, Stream.source == "config")
        .group_by(Stream.connector, day)
    )
    for connector, started in session.execute(query):
        runs[connector].append(started if isinstance(started, date) else date.fromisoformat(str(started)))
    return _Record(
        list(exps.values()),
        sorted(d for d in digests if d is not None),
        {k: sorted(v) for k, v in runs.items()},
    )


# -- evaluating requirements ------------------------------------------------------------------


@dataclass
class _Facts:
    """The quantities the requirement keys speak of, at one cutoff."""

    experiments: int
    concluded: int
    ended: int
    measured: int
    owners: int
    teams: int
    platforms: int
    digest_weeks: int
    adopted: dict[str, datetime]  # practice key -> when it was adopted
    tried: set[str]
    adopted_by: dict[str, str] = field(default_factory=dict)  # practice key -> evidence | judgement

    @property
    def measured_share(self) -> float:
        return self.measured / self.ended if self.ended else 0.0


def facts(record: _Record, cutoff: datetime, today: date) -> _Facts:
    """Only what is evidence counts: a measured experiment has a usable verdict from data in both
    windows, a conclusion counts when its learning is a sentence, adoption follows the lifecycle
    rules (tracker/lifecycle.py), and owners and teams count for measured experiments only."""
    alive = [e for e in record.experiments if e.alive(cutoff)]
    ended = [e for e in alive if e.end < today or e.concluded_by(cutoff)]
    measured = [e for e in ended if e.measured(cutoff)]
    measured_any = [e for e in alive if e.measured(cutoff)]
    adopted: dict[str, datetime] = {}
    adopted_by: dict[str, str] = {}
    for e in alive:
        how = e.adopts(cutoff)
        found = e.conclusion(cutoff)
        if how is None or found is None:
            continue
        when = found[1]
        if e.practice not in adopted or when < adopted[e.practice]:
            adopted[e.practice] = when
        if adopted_by.get(e.practice) != "evidence":
            adopted_by[e.practice] = how
    last_day, first_day = cutoff.date(), (cutoff - PLATFORM_WINDOW).date()
    platforms = 0
    for days in record.runs.values():
        i = bisect_right(days, last_day)
        platforms += bool(i and days[i - 1] >= first_day)
    weeks = 0
    for k in range(52):
        if any(
            cutoff - timedelta(days=7 * (k + 1)) < d <= cutoff - timedelta(days=7 * k) for d in record.digests
        ):
            weeks += 1
        else:
            break
    return _Facts(
        experiments=len(alive),
        concluded=sum(1 for e in alive if e.concluded_by(cutoff)),
        ended=len(ended),
        measured=len(measured),
        owners=len({e.owner for e in measured_any if e.owner}),
        teams=len({e.team for e in measured_any if e.team}),
        platforms=platforms,
        digest_weeks=weeks,
        adopted=adopted,
        tried={e.practice for e in alive},
        adopted_by=adopted_by,
    )


def unmet(stage: Stage, f: _Facts, model: Model) -> dict[str, tuple[Any, Any]]:
    """Requirement key -> (needed, have) for each requirement of the stage that does not hold."""
    missing: dict[str, tuple[Any, Any]] = {}
    for r in stage.requires:
        if isinstance(r, MeasuredShare):
            if (f.ended == 0 and r.needed > 0) or f.measured_share < r.needed:
                missing[r.key] = (r.needed, round(f.measured_share, 3))
        elif isinstance(r, Adopted):
            lacking = [k for k in r.needed if k not in f.adopted]
            if lacking:
                missing[r.key] = (r.needed, sorted(k for k in r.needed if k in f.adopted))
        elif isinstance(r, AdoptedPerDimension):
            counts = _per_dimension(f, model)
            short = {d: n for d, n in r.needed.items() if counts.get(d, 0) < n}
            if short:
                missing[r.key] = (r.needed, {d: counts.get(d, 0) for d in r.needed})
        else:
            have: int = getattr(f, r.key)
            if have < r.needed:
                missing[r.key] = (r.needed, have)
    return missing


def _per_dimension(f: _Facts, model: Model) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for key in f.adopted:
        practice = model.practice(key)
        if practice:
            counts[practice.dimension] += 1
    return counts


def stage_of(model: Model, f: _Facts) -> Stage:
    """The highest stage whose requirements, and those of every stage below, hold."""
    reached = model.stages[0]
    for stage in model.stages:
        if unmet(stage, f, model):
            break
        reached = stage
    return reached


# -- the reflection ---------------------------------------------------------------------------


class StageRef(TypedDict):
    key: str
    number: int
    name: str


class StageRecord(StageRef):
    description: str


# A change of stage on one day, and the requirements that made it (`from` is a keyword).
MoveRecord = TypedDict(
    "MoveRecord", {"date": str, "from": StageRef, "to": StageRef, "because": list[str], "reasons": list[str]}
)


class SnapshotRef(TypedDict):
    as_of: str
    stage: int
    key: str


class Reflection(TypedDict):
    """Where the organisation stands on the stage model: `tracker reflect --json`, the web's
    maturity page, the digest and the weekly snapshot (SPEC §7)."""

    as_of: str
    model: str
    stage: StageRecord
    since: str | None
    dimensions: dict[str, dict[str, Any]]
    practices: list[dict[str, Any]]
    moves: list[MoveRecord]
    next_steps: list[dict[str, Any]]
    snapshots: list[SnapshotRef]


def reflect(store: Store, settings: Settings, model: Model, *, as_of: date | None = None) -> Reflection:
    """The whole reflection as of the end of `as_of` (default: now)."""
    zone = settings.organisation.zone
    now = utcnow()
    cutoff = (
        now
        if as_of is None
        else min(now, day_start(as_of + timedelta(days=1), zone) - timedelta(microseconds=1))
    )
    today = cutoff.astimezone(zone).date()
    with store.read() as session:
        record = load_record(session)
        snapshots: list[SnapshotRef] = [
            {"as_of": s.as_of.isoformat(), "stage": s.stage_number, "key": s.stage_key}
            for s in session.scalars(select(MaturitySnapshot).order_by(MaturitySnapshot.as_of))
            if s.as_of <= today
        ]
    f = facts(record, cutoff, today)
    stage = stage_of(model, f)
    moves = _moves(record, model, cutoff, zone)
    return {
        "as_of": today.isoformat(),
        "model": str(model.source),
        "stage": _stage(stage),
        "since": moves[-1]["date"] if moves else None,
        "dimensions": _dimensions(model, f),
        "practices": _practices(model, record, f, moves, cutoff),
        "moves": moves,
        "next_steps": _next_steps(model, stage, f),
        "snapshots": snapshots,
    }


def _stage(stage: Stage) -> StageRecord:
    return {"key": stage.key, "number": stage.number, "name": stage.name, "description": stage.description}


def _moves(record: _Record, model: Model, cutoff: datetime, zone: Any) -> list[MoveRecord]:
    """Replay the record day by day; every change of stage is a move with its causes."""
    events = [e.created for e in record.experiments] + record.digests
    if not events and not record.runs:
        return []
    firsts = [min(events).astimezone(zone).date()] if events else []
    firsts += [days[0] for days in record.runs.values() if days]
    day = min(firsts)
    last = cutoff.astimezone(zone).date()
    moves: list[MoveRecord] = []
    current = model.stages[0]
    before = None
    while day <= last:
        end = min(cutoff, day_start(day + timedelta(days=1), zone) - timedelta(microseconds=1))
        f = facts(record, end, day)
        stage = stage_of(model, f)
        if stage.number != current.number:
            moves.append(_move(day, current, stage, model, f, before))
            current = stage
        before = f
        day += timedelta(days=1)
    return moves


def _move(
    day: date, old: Stage, new: Stage, model: Model, f: _Facts, before: _Facts | None
) -> MoveRecord:
    because: list[str] = []
    reasons: list[str] = []
    if new.number > old.number:
        for stage in model.stages:
            if old.number < stage.number <= new.number:
                for r in stage.requires:
                    because.append(r.key)
                    if isinstance(r, Adopted):
                        because.extend(r.needed)
                    elif isinstance(r, AdoptedPerDimension):
                        because.extend(_dimension_practices(model, f, r.needed))
                    reasons.extend(_held(r.key, r.needed, f, model))
    else:
        dropped = next((s for s in model.stages if s.number == old.number), old)
        lost = unmet(dropped, f, model)
        because = [f"lost:{key}" for key in lost]
        reasons = [
            f"no longer {text}" for key, (needed, _) in lost.items() for text in _held(key, needed, f, model)
        ]
    return {
        "date": day.isoformat(),
        "from": _stage_ref(old),
        "to": _stage_ref(new),
        "because": list(dict.fromkeys(because)),
        "reasons": list(dict.fromkeys(reasons)),
    }


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _name(model: Model, key: str) -> str:
    practice = model.practice(key)
    return practice.name if practice else key


def _held(key: str, needed: Any, f: _Facts, model: Model) -> list[str]:
    """A requirement of a stage in words, with the figure that meets it (for moves)."""
    if key == "experiments":
        return [f"{_plural(f.experiments, 'experiment')} registered (needed {needed})"]
    if key == "concluded":
        return [f"{_plural(f.concluded, 'experiment')} concluded with a learning (needed {needed})"]
    if key == "measured_share":
        return [f"{f.measured} of {f.ended} ended experiments measured (needed {needed:.0%})"]
    if key in ("owners", "teams"):
        return [f"{_plural(getattr(f, key), key[:-1])} ran measured experiments (needed {needed})"]
    if key == "platforms":
        return [f"{_plural(f.platforms, 'platform')} collected in the last 14 days (needed {needed})"]
    if key == "digest_weeks":
        return [f"the digest sent {_plural(f.digest_weeks, 'week')} in a row (needed {needed})"]
    if key == "adopted":
        return [_adopted_text(k, f, model) for k in needed]
    if key == "adopted_per_dimension":
        return [_adopted_text(k, f, model) for k in _dimension_practices(model, f, needed)]
    return [key]


def _adopted_text(key: str, f: _Facts, model: Model) -> str:
    how = " on the team's judgement" if f.adopted_by.get(key) == "judgement" else ""
    return f"adopted {_name(model, key)}{how}"


def _stage_ref(stage: Stage) -> StageRef:
    return {"key": stage.key, "number": stage.number, "name": stage.name}


def _dimension_practices(model: Model, f: _Facts, needed: dict[str, int]) -> list[str]:
    """The adopted practices that fill each named dimension's quota (earliest adopted first)."""
    keys: list[str] = []
    for dimension, count in needed.items():
        mine = sorted(
            (when, key)
            for key, when in f.adopted.items()
            if (p := model.practice(key)) and p.dimension == dimension
        )
        keys.extend(key for _, key in mine[:count])
    return keys


def _dimensions(model: Model, f: _Facts) -> dict[str, dict[str, Any]]:
    scores: dict[str, dict[str, Any]] = {}
    for dimension in DIMENSIONS:
        practices = [p for p in model.practices if p.dimension == dimension]
        adopted = [p for p in practices if p.key in f.adopted]
        weight = sum(p.stage for p in practices) or 1
        practice_part = 60 * sum(p.stage for p in adopted) / weight
        evidence = [
            f"{len(adopted)} of {len(practices)} {dimension} practices adopted"
            + (
                f": {', '.join(_adopted_text(p.key, f, model).removeprefix('adopted ') for p in adopted)}"
                if adopted
                else ""
            )
        ]
        own, lines = _own_evidence(dimension, f, model)
        scores[dimension] = {"score": round(min(100.0, practice_part + own)), "evidence": evidence + lines}
    return scores


def _own_evidence(dimension: str, f: _Facts, model: Model) -> tuple[float, list[str]]:
    if dimension == "people":
        return 40 * min(1.0, (f.owners + f.teams) / 8), [
            f"{_plural(f.owners, 'owner')} and {_plural(f.teams, 'team')} ran measured experiments"
        ]
    if dimension == "objectives":
        part = 20 * f.measured_share + 20 * min(1.0, f.concluded / 10)
        return part, [
            f"{f.measured} of {f.ended} ended experiments have a usable measured verdict",
            f"{_plural(f.concluded, 'experiment')} concluded with a learning",
        ]
    if dimension == "strategy":
        strategy_keys = {p.key for p in model.practices if p.dimension == "strategy"}
        on_strategy = len(f.tried & strategy_keys)
        part = 20 * min(1.0, on_strategy / max(1, len(strategy_keys))) + 20 * min(1.0, len(f.tried) / 12)
        return part, [
            f"{_plural(len(f.tried), 'different practice')} tried, {on_strategy} of them strategy practices"
        ]
    part = 20 * min(1.0, f.platforms / 5) + 20 * min(1.0, f.digest_weeks / 8)
    digests = (
        "no digest sent in the last week"
        if not f.digest_weeks
        else f"a digest went out in each of the last {_plural(f.digest_weeks, 'week')}"
    )
    return part, [f"{_plural(f.platforms, 'platform')} collected successfully in the last 14 days", digests]


# -- practices: effects in their own unit, ranked by a unit-free rule ---------------------------

UNITS = {"mentions": "%", "engagement": "%", "sentiment": "points", "positive_share": "percentage points",
         "share_of_voice": "percentage points"}  # fmt: skip


class Effect(TypedDict):
    """One measured experiment's effect, as a practice's `effects` in `reflect --json` list it."""

    experiment: int
    metric: str
    unit: str  # UNITS': "%", "points" or "percentage points"
    value: float  # the change in `unit`
    verdict: str
    min_effect: float
    size: float | None  # the judged change over min_effect, expected direction positive


def effect_of(exp: _Exp, result: MeasurementResult) -> Effect | None:
    """One measured experiment's effect in its metric's own unit, and its unit-free size.

    `value`: relative change in % for mentions and engagement, the absolute change of the
    mean score in points for sentiment, percentage points for positive_share and
    share_of_voice. `size`: the change the verdict is judged on divided by the
    experiment's min_effect, signed so that positive is the expected direction (1.0 =
    exactly the smallest effect that matters). None when the result is not evidence.
    """
    if not usable(result):
        return None
    metric = result.get("metric", exp.metric)
    relative = metric in ("mentions", "engagement")
    change = result.get("lift_rel") if relative else result.get("lift_abs")
    if change is None:
        return None
    scale = 100 if metric != "sentiment" else 1
    sign = -1 if exp.expect == "decrease" else 1
    size = sign * change / exp.min_effect if exp.min_effect > 0 else None
    return {
        "experiment": exp.id,
        "metric": metric,
        "unit": UNITS.get(metric, ""),
        "value": round(change * scale, 1 if scale == 100 else 3),
        "verdict": result["verdict"],
        "min_effect": exp.min_effect,
        "size": round(size, 3) if size is not None else None,
    }


def effect_text(effect: Effect) -> str:
    """`mentions +60.0 %`, `sentiment +0.219 points`, `positive share +15.0 percentage points`."""
    value = f"{effect['value']:+.3f}" if effect["unit"] == "points" else f"{effect['value']:+.1f}"
    return f"{effect['metric'].replace('_', ' ')} {value} {effect['unit']}"


def rank_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """The documented ranking rule, free of units: practices with a measured result first; then
    more measured successes; then the larger mean effect size (each effect divided by its
    experiment's min_effect, expected direction positive); then adopted; then more experiments."""
    score = row["score"]
    return (
        row["status"] != "measured",
        -row["successes"],
        -(score if score is not None else -1e9),
        not row["adopted"],
        -row["experiments"],
        row["key"],
    )


def _practices(
    model: Model, record: _Record, f: _Facts, moves: Sequence[MoveRecord], cutoff: datetime
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in model.practices:
        exps = [e for e in record.experiments if e.practice == p.key and e.alive(cutoff)]
        latest = [(e, r) for e in exps if (r := e.latest(cutoff)) is not None and usable(r)]
        effects = [x for e, r in latest if (x := effect_of(e, r)) is not None]
        sizes = [x["size"] for x in effects if x["size"] is not None]
        lifts = [x["value"] / 100 for x in effects if x["unit"] == "%"]
        moved = [m["date"] for m in moves if p.key in m["because"]]
        rows.append(
            {
                "key": p.key,
                "name": p.name,
                "dimension": p.dimension,
                "stage": p.stage,
                "experiments": len(exps),
                "measured": len(latest),
                "status": "measured" if latest else "not measured",
                "successes": sum(1 for _, r in latest if r["verdict"] == "success"),
                "failures": sum(1 for _, r in latest if r["verdict"] == "failure"),
                # the mean relative lift of its mentions and engagement experiments only (never mixed units)
                "mean_lift": round(sum(lifts) / len(lifts), 4) if lifts else None,
                "effects": effects,
                "score": round(sum(sizes) / len(sizes), 3) if sizes else None,
                "adopted": p.key in f.adopted,
                "adopted_on": f.adopted[p.key].date().isoformat() if p.key in f.adopted else None,
                "adopted_by": f.adopted_by.get(p.key),
                "moves": moved,
            }
        )
    rows.sort(key=rank_key)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def _next_steps(model: Model, stage: Stage, f: _Facts) -> list[dict[str, Any]]:
    """Each unmet requirement of the next stage, with what would satisfy it, in words."""
    upcoming = next((s for s in model.stages if s.number > stage.number), None)
    if upcoming is None:
        return []
    steps = []
    candidates = sorted(
        (p for p in model.practices if p.key not in f.adopted and p.stage <= upcoming.number),
        key=lambda p: (p.key in f.tried, -p.stage, p.key),
    )
    for key, (needed, have) in unmet(upcoming, f, model).items():
        practices: list[str] = []
        if key == "adopted":
            practices = [k for k in needed if k not in f.adopted]
            names = " and ".join(_name(model, k) for k in practices)
            advice = (
                f"adopt {names}: run an experiment on {'it' if len(practices) == 1 else 'each'}, measure it "
                "and conclude it (a measured success adopts it)"
            )
        elif key == "adopted_per_dimension":
            short = {d: n - have.get(d, 0) for d, n in needed.items() if have.get(d, 0) < n}
            practices = [p.key for p in candidates if p.dimension in short][:5]
            advice = "adopt " + " and ".join(
                f"{n} more {d} practice{'s' if n > 1 else ''}" for d, n in short.items()
            )
        elif key == "experiments":
            practices = [p.key for p in candidates][:3]
            advice = f"register {_plural(needed - have, 'more experiment', 'more experiments')}"
        elif key == "concluded":
            advice = (
                f"conclude {_plural(needed - have, 'more ended experiment', 'more ended experiments')} "
                "with a learning written as a sentence"
            )
        elif key == "measured_share":
            if f.ended == 0:
                advice = (
                    "let at least 1 experiment run to the end of its window, then measure it "
                    "(`tracker experiment measure --all`)"
                )
            else:
                more = max(1, math.ceil(needed * f.ended - 1e-9) - f.measured)
                advice = (
                    f"measure {_plural(more, 'more ended experiment', 'more ended experiments')} "
                    f"with enough data ({f.measured} of {f.ended} have a usable verdict, {needed:.0%} needed)"
                )
        elif key in ("owners", "teams"):
            word = key[:-1]
            advice = (
                f"have {_plural(needed - have, 'more ' + word, 'more ' + key)} run an experiment "
                f"to a measured result (set --{word})"
            )
        elif key == "platforms":
            advice = (
                f"collect successfully from {_plural(needed - have, 'more platform', 'more platforms')} "
                "in the last 14 days (`tracker collect`, or add [[streams]] on another platform)"
            )
        else:  # digest_weeks
            advice = (
                f"send the digest {_plural(needed - have, 'more week', 'more weeks')} in a row "
                f"({have} of {needed} so far)"
            )
        steps.append(
            {
                "stage": _stage_ref(upcoming),
                "requirement": key,
                "needed": needed,
                "have": have,
                "advice": advice,
                "practices": practices,
                "practice_names": [_name(model, k) for k in practices],
            }
        )
    return steps


def snapshot(store: Store, settings: Settings, model: Model, *, as_of: date | None = None) -> Reflection:
    """Store the reflection (the weekly job), so the history survives edits of the model."""
    result = reflect(store, settings, model, as_of=as_of)
    with store.write() as session:
        session.add(
            MaturitySnapshot(
                as_of=date.fromisoformat(result["as_of"]),
                taken_at=utcnow(),
                stage_number=result["stage"]["number"],
                stage_key=result["stage"]["key"],
                payload=dict(result),
            )
        )
    return result


def review_text(result: Reflection) -> str:
    """`tracker reflect` for people: where we are, what moved us, what to try next."""
    stage = result["stage"]
    since = f" since {result['since']}" if result["since"] else ""
    lines = [f"Where we are: stage {stage['number']}, {stage['name']}{since} (as of {result['as_of']}).", ""]
    lines += [
        f"  {name}: {d['score']}/100 — {'; '.join(d['evidence'])}" for name, d in result["dimensions"].items()
    ]
    lines += ["", "What moved us:"]
    if not result["moves"]:
        lines.append(
            "  nothing yet: every stage above dormant needs experiments that are measured and concluded"
        )
    for move in result["moves"]:
        reasons = move.get("reasons") or move["because"]
        lines.append(
            f"  {move['date']}: {move['from']['name']} -> {move['to']['name']} because "
            f"{'; '.join(reasons) or 'its requirements held'}"
        )
    top = [p for p in result["practices"] if p["status"] == "measured"][:5]
    if top:
        lines += ["", "Practices that moved us most (measured successes, then effect size / min effect):"]
        for p in top:
            effects = ", ".join(effect_text(e) for e in p["effects"])
            state = (
                f"adopted {p['adopted_on']}"
                + (" on the team's judgement" if p["adopted_by"] == "judgement" else "")
                if p["adopted"]
                else "not adopted"
            )
            lines.append(
                f"  {p['rank']}. {p['name']} ({p['dimension']}): {_plural(p['experiments'], 'experiment')}, "
                f"{_plural(p['successes'], 'success', 'successes')}; {effects}; {state}"
            )
    unmeasured = [
        p for p in result["practices"] if p["status"] != "measured" and (p["experiments"] or p["adopted"])
    ]
    if unmeasured:
        lines += ["", "Not measured yet:"]
        for p in unmeasured:
            state = " (adopted on the team's judgement)" if p["adopted_by"] == "judgement" else ""
            lines.append(f"  - {p['name']}: {_plural(p['experiments'], 'experiment')}, not measured{state}")
    lines += ["", "What to try next:"]
    if not result["next_steps"]:
        lines.append("  you are at the top stage: keep measuring, concluding and reviewing")
    for step in result["next_steps"]:
        names = step.get("practice_names") or step["practices"]
        extra = f" (for example: {', '.join(names)})" if names and step["requirement"] != "adopted" else ""
        lines.append(f"  - {step['advice']}{extra}")
    return "\n".join(lines)
