"""The reflection: where the organisation stands on the maturity stages, and why (SPEC §7).

Everything is computed from the record: experiments registered, measured and
concluded, digests sent and collection runs. `as_of` reflects on the data as it
stood at the end of that day (organisation time zone), so the history of moves is
replayed day by day from the first event with the same rules.

Adoption: a practice is adopted when an experiment on it was concluded with
--adopt, or concluded while its latest result said `success`, unless --reject.

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

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.config import Settings
from tracker.maturity import DIMENSIONS, Model, Stage
from tracker.store.db import Store
from tracker.store.enums import RunStatus, SendStatus
from tracker.store.models import (
    CollectionRun,
    DigestSend,
    Experiment,
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
    cancelled: datetime | None
    concluded: datetime | None
    learning: str | None
    decision: str | None
    results: list[tuple[datetime, str, float | None]] = field(
        default_factory=list
    )  # measured_at, verdict, lift

    def alive(self, cutoff: datetime) -> bool:
        return self.created <= cutoff and (self.cancelled is None or self.cancelled > cutoff)

    def concluded_by(self, cutoff: datetime) -> bool:
        return self.concluded is not None and self.concluded <= cutoff and bool(self.learning)

    def latest(self, cutoff: datetime) -> tuple[datetime, str, float | None] | None:
        known = [r for r in self.results if r[0] <= cutoff]
        return known[-1] if known else None

    def adopts(self, cutoff: datetime) -> bool:
        if not self.concluded_by(cutoff) or self.decision == "reject":
            return False
        if self.decision == "adopt":
            return True
        latest = self.latest(cutoff)
        return latest is not None and latest[1] == "success"


@dataclass
class _Record:
    """Everything the reflection reads, loaded once."""

    experiments: list[_Exp]
    digests: list[datetime]  # sent_at of each sent digest
    runs: dict[str, list[date]]  # platform -> sorted UTC days with a successful run


def load_record(session: Session) -> _Record:
    exps: dict[int, _Exp] = {}
    for e in session.scalars(select(Experiment).order_by(Experiment.id)):
        exps[e.id] = _Exp(
            e.id,
            e.practice,
            e.owner,
            e.team,
            e.start,
            e.end,
            e.created_at,
            e.cancelled_at,
            e.concluded_at,
            e.learning,
            e.decision,
        )
    results = session.execute(
        select(
            ExperimentResult.experiment_id,
            ExperimentResult.measured_at,
            ExperimentResult.verdict,
            ExperimentResult.lift_rel,
        )
        .where(ExperimentResult.valid.is_(True))
        .order_by(ExperimentResult.measured_at, ExperimentResult.id)
    )
    for exp_id, measured, verdict, lift in results:
        if exp_id in exps:
            exps[exp_id].results.append((measured, verdict, lift))
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

    @property
    def measured_share(self) -> float:
        return self.measured / self.ended if self.ended else 0.0


def facts(record: _Record, cutoff: datetime, today: date) -> _Facts:
    alive = [e for e in record.experiments if e.alive(cutoff)]
    ended = [e for e in alive if e.end < today or e.concluded_by(cutoff)]
    measured = [e for e in ended if (r := e.latest(cutoff)) is not None and r[1] not in UNUSABLE]
    started = [e for e in alive if e.start <= today]
    adopted: dict[str, datetime] = {}
    for e in alive:
        if e.adopts(cutoff):
            assert e.concluded is not None
            adopted[e.practice] = min(adopted.get(e.practice, e.concluded), e.concluded)
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
        owners=len({e.owner for e in started if e.owner}),
        teams=len({e.team for e in started if e.team}),
        platforms=platforms,
        digest_weeks=weeks,
        adopted=adopted,
        tried={e.practice for e in alive},
    )


def unmet(stage: Stage, f: _Facts, model: Model) -> dict[str, tuple[Any, Any]]:
    """Requirement key -> (needed, have) for each requirement of the stage that does not hold."""
    missing: dict[str, tuple[Any, Any]] = {}
    for key, needed in stage.requires.items():
        if key == "measured_share":
            if (f.ended == 0 and needed > 0) or f.measured_share < needed:
                missing[key] = (needed, round(f.measured_share, 3))
        elif key == "adopted":
            lacking = [k for k in needed if k not in f.adopted]
            if lacking:
                missing[key] = (needed, sorted(k for k in needed if k in f.adopted))
        elif key == "adopted_per_dimension":
            counts = _per_dimension(f, model)
            short = {d: n for d, n in needed.items() if counts.get(d, 0) < n}
            if short:
                missing[key] = (needed, {d: counts.get(d, 0) for d in needed})
        else:
            have = getattr(f, key)
            if have < needed:
                missing[key] = (needed, have)
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


def reflect(store: Store, settings: Settings, model: Model, *, as_of: date | None = None) -> dict[str, Any]:
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
        snapshots = [
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


def _stage(stage: Stage) -> dict[str, Any]:
    return {"key": stage.key, "number": stage.number, "name": stage.name, "description": stage.description}


def _moves(record: _Record, model: Model, cutoff: datetime, zone: Any) -> list[dict[str, Any]]:
    """Replay the record day by day; every change of stage is a move with its causes."""
    events = [e.created for e in record.experiments] + record.digests
    if not events and not record.runs:
        return []
    firsts = [min(events).astimezone(zone).date()] if events else []
    firsts += [days[0] for days in record.runs.values() if days]
    day = min(firsts)
    last = cutoff.astimezone(zone).date()
    moves: list[dict[str, Any]] = []
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
) -> dict[str, Any]:
    because: list[str] = []
    if new.number > old.number:
        for stage in model.stages:
            if old.number < stage.number <= new.number:
                for key, needed in stage.requires.items():
                    because.append(key)
                    if key == "adopted":
                        because.extend(needed)
                    elif key == "adopted_per_dimension":
                        because.extend(_dimension_practices(model, f, needed))
    else:
        dropped = next((s for s in model.stages if s.number == old.number), old)
        because = [f"lost:{key}" for key in unmet(dropped, f, model)]
    return {
        "date": day.isoformat(),
        "from": _stage_ref(old),
        "to": _stage_ref(new),
        "because": list(dict.fromkeys(because)),
    }


def _stage_ref(stage: Stage) -> dict[str, Any]:
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
            + (f": {', '.join(p.name for p in adopted)}" if adopted else "")
        ]
        own, lines = _own_evidence(dimension, f, model)
        scores[dimension] = {"score": round(min(100.0, practice_part + own)), "evidence": evidence + lines}
    return scores


def _own_evidence(dimension: str, f: _Facts, model: Model) -> tuple[float, list[str]]:
    if dimension == "people":
        return 40 * min(1.0, (f.owners + f.teams) / 8), [
            f"{f.owners} owners and {f.teams} teams ran experiments"
        ]
    if dimension == "objectives":
        part = 20 * f.measured_share + 20 * min(1.0, f.concluded / 10)
        return part, [
            f"{f.measured} of {f.ended} ended experiments have a usable measured verdict",
            f"{f.concluded} experiments concluded with a learning",
        ]
    if dimension == "strategy":
        strategy_keys = {p.key for p in model.practices if p.dimension == "strategy"}
        on_strategy = len(f.tried & strategy_keys)
        part = 20 * min(1.0, on_strategy / max(1, len(strategy_keys))) + 20 * min(1.0, len(f.tried) / 12)
        return part, [f"{len(f.tried)} different practices tried, {on_strategy} of them strategy practices"]
    part = 20 * min(1.0, f.platforms / 5) + 20 * min(1.0, f.digest_weeks / 8)
    return part, [
        f"{f.platforms} platforms collected successfully in the last 14 days",
        f"a digest went out in each of the last {f.digest_weeks} weeks",
    ]


def _practices(
    model: Model, record: _Record, f: _Facts, moves: Sequence[dict[str, Any]], cutoff: datetime
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in model.practices:
        exps = [e for e in record.experiments if e.practice == p.key and e.alive(cutoff)]
        latest = [r for e in exps if (r := e.latest(cutoff)) is not None]
        lifts = [r[2] for r in latest if r[2] is not None and r[1] not in UNUSABLE]
        moved = [m["date"] for m in moves if p.key in m["because"]]
        rows.append(
            {
                "key": p.key,
                "name": p.name,
                "dimension": p.dimension,
                "stage": p.stage,
                "experiments": len(exps),
                "successes": sum(1 for r in latest if r[1] == "success"),
                "failures": sum(1 for r in latest if r[1] == "failure"),
                "mean_lift": round(sum(lifts) / len(lifts), 4) if lifts else None,
                "adopted": p.key in f.adopted,
                "adopted_on": f.adopted[p.key].date().isoformat() if p.key in f.adopted else None,
                "moves": moved,
            }
        )
    rows.sort(
        key=lambda r: (
            -len(r["moves"]),
            not r["adopted"],
            -r["successes"],
            -(r["mean_lift"] if r["mean_lift"] is not None else -1e9),
            -r["experiments"],
            r["key"],
        )
    )
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def _next_steps(model: Model, stage: Stage, f: _Facts) -> list[dict[str, Any]]:
    """Each unmet requirement of the next stage, with what would satisfy it."""
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
            advice = (
                f"adopt {', '.join(practices)}: run an experiment on each and conclude it with what you learn"
            )
        elif key == "adopted_per_dimension":
            short = [d for d, n in needed.items() if have.get(d, 0) < n]
            practices = [p.key for p in candidates if p.dimension in short][:5]
            advice = f"adopt more practices in {', '.join(short)}"
        elif key == "experiments":
            practices = [p.key for p in candidates][:3]
            advice = f"register {needed - have} more experiment(s)"
        elif key == "concluded":
            advice = f"conclude {needed - have} more experiment(s) with a written learning"
        elif key == "measured_share":
            advice = (
                f"measure ended experiments: {have:.0%} have a usable verdict, {needed:.0%} needed "
                "(run `tracker experiment measure --all`; collect enough days)"
            )
        elif key in ("owners", "teams"):
            advice = f"involve {needed - have} more {key} in running experiments (set --{key[:-1]})"
        elif key == "platforms":
            advice = f"collect successfully from {needed - have} more platform(s) (add [[streams]])"
        else:  # digest_weeks
            advice = f"send the weekly digest every week ({have} of the last {needed} weeks so far)"
        steps.append(
            {
                "stage": _stage_ref(upcoming),
                "requirement": key,
                "needed": needed,
                "have": have,
                "advice": advice,
                "practices": practices,
            }
        )
    return steps


def snapshot(store: Store, settings: Settings, model: Model, *, as_of: date | None = None) -> dict[str, Any]:
    """Store the reflection (the weekly job), so the history survives edits of the model."""
    result = reflect(store, settings, model, as_of=as_of)
    with store.write() as session:
        session.add(
            MaturitySnapshot(
                as_of=date.fromisoformat(result["as_of"]),
                taken_at=utcnow(),
                stage_number=result["stage"]["number"],
                stage_key=result["stage"]["key"],
                payload=result,
            )
        )
    return result


def review_text(result: dict[str, Any]) -> str:
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
        lines.append(
            f"  {move['date']}: {move['from']['name']} -> {move['to']['name']} because "
            f"{', '.join(move['because']) or 'its requirements held'}"
        )
    top = [p for p in result["practices"] if p["adopted"] or p["experiments"]][:5]
    if top:
        lines += ["", "Practices that moved us most:"]
        for p in top:
            lift = f", mean lift {p['mean_lift'] * 100:+.0f} %" if p["mean_lift"] is not None else ""
            state = f"adopted {p['adopted_on']}" if p["adopted"] else "not adopted"
            lines.append(
                f"  {p['rank']}. {p['name']} ({p['dimension']}): {p['experiments']} experiment(s), "
                f"{p['successes']} success(es){lift}; {state}"
            )
    lines += ["", "What to try next:"]
    if not result["next_steps"]:
        lines.append("  you are at the top stage: keep measuring, concluding and reviewing")
    for step in result["next_steps"]:
        extra = f" (e.g. {', '.join(step['practices'])})" if step["practices"] else ""
        lines.append(f"  - {step['advice']}{extra}")
    return "\n".join(lines)
