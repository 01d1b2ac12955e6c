"""Experiments: the registry of trials and their honestly measured results (SPEC §5, §6).

A marketer registers what they will try (a practice, on streams, over a window,
with a hypothesis and a metric); `measure` computes the result from the collected
data with an interval that holds for over-dispersed, weekday-patterned daily data
(tracker/stats.py), excluding days the collection did not cover. Every
measurement is kept; the newest valid one is the experiment's result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tracker.config import Settings
from tracker.coverage import uncovered_days
from tracker.errors import UserError
from tracker.ingest import sync_streams
from tracker.maturity import Model
from tracker.metrics import COUNT_METRICS, METRICS, RELATIVE_METRICS, DayValue, daily
from tracker.store.db import Store
from tracker.store.enums import Role
from tracker.store.models import (
    Experiment,
    ExperimentNote,
    ExperimentResult,
    ExperimentStream,
    Stream,
)
from tracker.timeutil import iso_z, utcnow

EXPECT = ("increase", "decrease")
STATUSES = ("planned", "running", "ended", "concluded", "cancelled")
MIN_DAYS = 7


class ValidationError(UserError):
    """Invalid experiment fields; `problems` holds (field, message) pairs, every one of them."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))


@dataclass
class ExperimentInput:
    """The fields of `experiment add` (and the web form and API)."""

    title: str | None = None
    hypothesis: str | None = None
    practice: str | None = None
    metric: str | None = None
    streams: list[str] = field(default_factory=list)
    control_stream: str | None = None
    start: date | None = None
    end: date | None = None
    expect: str = "increase"
    owner: str | None = None
    team: str | None = None
    min_effect: float = 0.05
    baseline_start: date | None = None
    baseline_end: date | None = None


def parse_day(value: str | None, name: str, problems: list[tuple[str, str]]) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems.append((name, f"expected a day like 2026-09-01, got {value!r}"))
        return None


def validate(data: ExperimentInput, *, model: Model, streams: set[str]) -> list[tuple[str, str]]:
    """Every problem with the fields, each naming its field; empty when valid."""
    problems: list[tuple[str, str]] = []
    for name in ("title", "hypothesis"):
        if not (getattr(data, name) or "").strip():
            problems.append((name, "must not be empty"))
    if not data.practice:
        problems.append(("practice", "required"))
    elif model.practice(data.practice) is None:
        problems.append(
            ("practice", f"unknown practice {data.practice!r} (see `tracker reflect` for the keys)")
        )
    if data.metric not in METRICS:
        problems.append(("metric", f"unknown metric {data.metric!r} (one of {', '.join(METRICS)})"))
    if not data.streams:
        problems.append(("streams", "name at least one stream"))
    for name in data.streams:
        if name not in streams:
            problems.append(("streams", f"unknown stream {name!r}"))
    if data.control_stream is not None:
        if data.control_stream not in streams:
            problems.append(("control_stream", f"unknown stream {data.control_stream!r}"))
        elif data.control_stream in data.streams:
            problems.append(("control_stream", "must not be one of the experiment's streams"))
    if data.start is None:
        problems.append(("start", "required"))
    if data.end is None:
        problems.append(("end", "required"))
    if data.start and data.end and data.end < data.start:
        problems.append(("end", f"{data.end} is before start {data.start}"))
    if data.expect not in EXPECT:
        problems.append(("expect", f"expected increase or decrease, got {data.expect!r}"))
    if not 0 <= data.min_effect <= 10:
        problems.append(("min_effect", f"expected a number from 0 to 10, got {data.min_effect!r}"))
    if (data.baseline_start is None) != (data.baseline_end is None):
        problems.append(
            (
                "baseline_end" if data.baseline_end is None else "baseline_start",
                "give both baseline_start and baseline_end, or neither",
            )
        )
    elif data.baseline_start and data.baseline_end:
        if data.baseline_end < data.baseline_start:
            problems.append(
                ("baseline_end", f"{data.baseline_end} is before baseline_start {data.baseline_start}")
            )
        if data.start and data.baseline_end >= data.start:
            problems.append(("baseline_end", "the baseline must end before the experiment starts"))
    return problems


def known_streams(session: Session) -> set[str]:
    return set(session.scalars(select(Stream.name)))


def status_of(exp: Experiment, today: date) -> str:
    if exp.cancelled_at is not None:
        return "cancelled"
    if exp.concluded_at is not None:
        return "concluded"
    if today < exp.start:
        return "planned"
    return "running" if today <= exp.end else "ended"


def baseline_window(exp: Experiment) -> tuple[date, date]:
    """Given, or the same number of days right before start."""
    if exp.baseline_start and exp.baseline_end:
        return exp.baseline_start, exp.baseline_end
    length = (exp.end - exp.start).days + 1
    return exp.start - timedelta(days=length), exp.start - timedelta(days=1)


# -- registry ---------------------------------------------------------------------------------


class Registry:
    """Registering, editing and closing experiments; every method is one transaction."""

    def __init__(self, store: Store, settings: Settings, model: Model) -> None:
        self.store, self.settings, self.model = store, settings, model

    def today(self) -> date:
        return utcnow().astimezone(self.settings.organisation.zone).date()

    def add(self, data: ExperimentInput) -> tuple[dict[str, Any], list[str]]:
        """Register; return the experiment's record and warnings (overlaps)."""
        now = utcnow()
        with self.store.write() as session:
            sync_streams(session=session, settings=self.settings, now=now)
            problems = validate(data, model=self.model, streams=known_streams(session))
            if problems:
                raise ValidationError(problems)
            exp = Experiment(created_at=now, updated_at=now)
            self._apply(session, exp, data)
            session.add(exp)
            session.flush()
            self._link(session, exp, data.streams)
            warnings = self._overlaps(session, exp, data.streams)
            return self.record(session, exp), warnings

    def edit(self, exp_id: int, changes: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Change some fields (same validation); a changed window or stream set voids old results."""
        now = utcnow()
        with self.store.write() as session:
            exp = self._get(session, exp_id)
            if exp.cancelled_at or exp.concluded_at:
                raise UserError(
                    f"experiment {exp_id} is {status_of(exp, self.today())}: it can no longer be edited"
                )
            data = self._input_of(session, exp)
            for key, value in changes.items():
                if value is not None:
                    setattr(data, key, value)
            problems = validate(data, model=self.model, streams=known_streams(session))
            if problems:
                raise ValidationError(problems)
            before = (
                exp.start,
                exp.end,
                exp.baseline_start,
                exp.baseline_end,
                exp.metric,
                exp.control_stream_id,
                sorted(self._stream_names(session, exp)),
            )
            self._apply(session, exp, data)
            exp.updated_at = now
            session.execute(delete(ExperimentStream).where(ExperimentStream.experiment_id == exp.id))
            self._link(session, exp, data.streams)
            after = (
                exp.start,
                exp.end,
                exp.baseline_start,
                exp.baseline_end,
                exp.metric,
                exp.control_stream_id,
                sorted(data.streams),
            )
            if before != after:
                session.execute(
                    update(ExperimentResult)
                    .where(ExperimentResult.experiment_id == exp.id)
                    .values(valid=False)
                )
            return self.record(session, exp), self._overlaps(session, exp, data.streams)

    def cancel(self, exp_id: int) -> dict[str, Any]:
        with self.store.write() as session:
            exp = self._get(session, exp_id)
            if exp.concluded_at:
                raise UserError(f"experiment {exp_id} is concluded: it cannot be cancelled")
            exp.cancelled_at = exp.cancelled_at or utcnow()
            return self.record(session, exp)

    def note(self, exp_id: int, text: str, author: str | None = None) -> dict[str, Any]:
        if not text.strip():
            raise ValidationError([("text", "must not be empty")])
        with self.store.write() as session:
            exp = self._get(session, exp_id)
            session.add(
                ExperimentNote(experiment_id=exp.id, created_at=utcnow(), text=text.strip(), author=author)
            )
            session.flush()
            return self.record(session, exp)

    def conclude(self, exp_id: int, learning: str, decision: str | None) -> dict[str, Any]:
        """Close with a learning; `decision` is adopt, reject, or None (a success adopts)."""
        if not learning.strip():
            raise ValidationError([("learning", "must not be empty: write down what was learned")])
        if decision not in (None, "adopt", "reject"):
            raise ValidationError([("decision", "expected adopt or reject")])
        with self.store.write() as session:
            exp = self._get(session, exp_id)
            if exp.cancelled_at:
                raise UserError(f"experiment {exp_id} is cancelled: it cannot be concluded")
            if exp.concluded_at:
                raise UserError(f"experiment {exp_id} is already concluded")
            exp.concluded_at, exp.learning, exp.decision = utcnow(), learning.strip(), decision
            return self.record(session, exp)

    def get(self, exp_id: int) -> dict[str, Any]:
        with self.store.read() as session:
            return self.record(session, self._get(session, exp_id), history=True)

    def list_all(self, status: str | None = None) -> list[dict[str, Any]]:
        if status is not None and status not in STATUSES:
            raise UserError(f"--status: expected one of {', '.join(STATUSES)}, got {status!r}")
        with self.store.read() as session:
            records = [
                self.record(session, e) for e in session.scalars(select(Experiment).order_by(Experiment.id))
            ]
        return [r for r in records if status is None or r["status"] == status]

    # -- helpers ---------------------------------------------------------------------------

    def _get(self, session: Session, exp_id: int) -> Experiment:
        exp = session.get(Experiment, exp_id)
        if exp is None:
            raise UserError(f"no experiment with id {exp_id} (see `tracker experiment list`)")
        return exp

    def _apply(self, session: Session, exp: Experiment, data: ExperimentInput) -> None:
        exp.title, exp.hypothesis = (data.title or "").strip(), (data.hypothesis or "").strip()
        exp.practice, exp.metric, exp.expect = data.practice or "", data.metric or "", data.expect
        exp.owner, exp.team, exp.min_effect = data.owner or None, data.team or None, float(data.min_effect)
        assert data.start is not None and data.end is not None
        exp.start, exp.end = data.start, data.end
        exp.baseline_start, exp.baseline_end = data.baseline_start, data.baseline_end
        exp.control_stream_id = (
            session.scalars(select(Stream.id).where(Stream.name == data.control_stream)).one()
            if data.control_stream
            else None
        )

    def _link(self, session: Session, exp: Experiment, names: Sequence[str]) -> None:
        ids = session.scalars(select(Stream.id).where(Stream.name.in_(list(names)))).all()
        session.add_all([ExperimentStream(experiment_id=exp.id, stream_id=sid) for sid in ids])
        session.flush()

    def _stream_names(self, session: Session, exp: Experiment) -> list[str]:
        query = (
            select(Stream.name)
            .join(ExperimentStream, ExperimentStream.stream_id == Stream.id)
            .where(ExperimentStream.experiment_id == exp.id)
            .order_by(Stream.name)
        )
        return list(session.scalars(query))

    def _input_of(self, session: Session, exp: Experiment) -> ExperimentInput:
        control = session.get(Stream, exp.control_stream_id) if exp.control_stream_id else None
        return ExperimentInput(
            title=exp.title,
            hypothesis=exp.hypothesis,
            practice=exp.practice,
            metric=exp.metric,
            streams=self._stream_names(session, exp),
            control_stream=control.name if control else None,
            start=exp.start,
            end=exp.end,
            expect=exp.expect,
            owner=exp.owner,
            team=exp.team,
            min_effect=exp.min_effect,
            baseline_start=exp.baseline_start,
            baseline_end=exp.baseline_end,
        )

    def _overlaps(self, session: Session, exp: Experiment, names: Sequence[str]) -> list[str]:
        """Other live experiments on a shared stream and the same metric whose windows overlap."""
        others = session.scalars(
            select(Experiment)
            .join(ExperimentStream, ExperimentStream.experiment_id == Experiment.id)
            .join(Stream, Stream.id == ExperimentStream.stream_id)
            .where(
                Experiment.id != exp.id,
                Experiment.metric == exp.metric,
                Experiment.cancelled_at.is_(None),
                Stream.name.in_(list(names)),
                Experiment.start <= exp.end,
                Experiment.end >= exp.start,
            )
            .distinct()
        ).all()
        return [
            f"overlaps experiment {o.id} ({o.title!r}, {o.start}..{o.end}) on the same stream and metric: "
            "their effects cannot be told apart"
            for o in others
        ]

    def record(self, session: Session, exp: Experiment, *, history: bool = False) -> dict[str, Any]:
        """The experiment as JSON: its fields, status, streams, latest result and notes."""
        data = self._input_of(session, exp)
        record: dict[str, Any] = {"id": exp.id}
        for f in fields(ExperimentInput):
            value = getattr(data, f.name)
            record[f.name] = value.isoformat() if isinstance(value, date) else value
        baseline = baseline_window(exp)
        record.update(
            status=status_of(exp, self.today()),
            baseline={"start": baseline[0].isoformat(), "end": baseline[1].isoformat()},
            learning=exp.learning,
            decision=exp.decision,
            concluded_at=iso_z(exp.concluded_at) if exp.concluded_at else None,
            cancelled_at=iso_z(exp.cancelled_at) if exp.cancelled_at else None,
            created_at=iso_z(exp.created_at),
            updated_at=iso_z(exp.updated_at),
        )
        results = session.scalars(
            select(ExperimentResult)
            .where(ExperimentResult.experiment_id == exp.id, ExperimentResult.valid.is_(True))
            .order_by(ExperimentResult.measured_at.desc(), ExperimentResult.id.desc())
        ).all()
        record["result"] = results[0].payload if results else None
        record["verdict"] = results[0].verdict if results else None
        if history:
            record["results"] = [r.payload for r in results]
        notes = session.scalars(
            select(ExperimentNote).where(ExperimentNote.experiment_id == exp.id).order_by(ExperimentNote.id)
        ).all()
        record["notes"] = [{"at": iso_z(n.created_at), "text": n.text, "author": n.author} for n in notes]
        return record


# -- measuring --------------------------------------------------------------------------------


def measure(
    store: Store, settings: Settings, ids: Sequence[int] | None, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Measure the given experiments (None: every one not cancelled), store and return the results."""
    now = now or utcnow()
    with store.read() as session:
        query = select(Experiment).order_by(Experiment.id)
        if ids is not None:
            query = query.where(Experiment.id.in_(list(ids)))
        experiments = list(session.scalars(query))
        if ids is not None:
            missing = sorted(set(ids) - {e.id for e in experiments})
            if missing:
                raise UserError(f"no experiment with id {missing[0]} (see `tracker experiment list`)")
        if ids is None:
            experiments = [e for e in experiments if e.cancelled_at is None]
        results = [_measure_one(session, settings, exp, now) for exp in experiments]
    with store.write() as session:
        for exp, result in zip(experiments, results, strict=True):
            session.add(
                ExperimentResult(
                    experiment_id=exp.id,
                    measured_at=now,
                    method=result["method"],
                    verdict=result["verdict"],
                    lift_abs=result["lift_abs"],
                    lift_rel=result["lift_rel"],
                    valid=True,
                    payload=result,
                )
            )
    return results


def measure_open(store: Store, settings: Settings, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The daily job: measure every running or ended experiment (not planned, concluded or cancelled)."""
    now = now or utcnow()
    today = now.astimezone(settings.organisation.zone).date()
    with store.read() as session:
        ids = [
            e.id for e in session.scalars(select(Experiment)) if status_of(e, today) in ("running", "ended")
        ]
    return measure(store, settings, ids, now=now) if ids else []


def _measure_one(session: Session, settings: Settings, exp: Experiment, now: datetime) -> dict[str, Any]:
    from tracker import stats

    zone = settings.organisation.zone
    today = now.astimezone(zone).date()
    stream_ids = list(
        session.scalars(select(ExperimentStream.stream_id).where(ExperimentStream.experiment_id == exp.id))
    )
    competitors = list(session.scalars(select(Stream.id).where(Stream.role == Role.COMPETITOR)))
    base_first, base_last = baseline_window(exp)
    # Only complete days count: today (and the future) is not over yet.
    treat_last = min(exp.end, today - timedelta(days=1))
    watched = stream_ids + ([exp.control_stream_id] if exp.control_stream_id else [])
    if exp.metric == "share_of_voice":
        watched += [c for c in competitors if c not in stream_ids]
    excluded = set(uncovered_days(session, watched, base_first, max(treat_last, base_last), zone))

    def series(ids: list[int], first: date, last: date) -> list[stats.Day]:
        if last < first:
            return []
        values = daily(
            session,
            exp.metric,
            ids,
            first,
            last,
            zone,
            competitor_ids=competitors,
            engagement_age=settings.experiments.engagement_age,
            now=now,
        )
        return [stats.Day(v.day, v.value, v.weight) for v in _kept(values, excluded)]

    baseline = series(stream_ids, base_first, base_last)
    treatment = series(stream_ids, exp.start, treat_last)
    control = None
    if exp.control_stream_id:
        control = (
            series([exp.control_stream_id], base_first, base_last),
            series([exp.control_stream_id], exp.start, treat_last),
        )
    kind: Literal["count", "mean"] = "count" if exp.metric in COUNT_METRICS else "mean"
    estimate = (
        stats.measure(kind, baseline, treatment, control, seed=exp.id) if baseline and treatment else None
    )
    verdict = stats.verdict(
        estimate,
        ended=today > exp.end,
        expect=exp.expect,  # type: ignore[arg-type]
        min_effect=exp.min_effect,
        relative=exp.metric in RELATIVE_METRICS,
        min_days=MIN_DAYS,
    )
    return _result(
        exp,
        estimate,
        verdict,
        (base_first, base_last),
        (exp.start, exp.end),
        baseline,
        treatment,
        sorted(excluded & _days(base_first, exp.end)),
        now,
    )


def _kept(values: dict[date, DayValue], excluded: set[date]) -> list[DayValue]:
    return [v for d, v in sorted(values.items()) if d not in excluded]


def _days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}


def _result(
    exp: Experiment,
    estimate: Any,
    verdict: str,
    base: tuple[date, date],
    treat: tuple[date, date],
    baseline: list[Any],
    treatment: list[Any],
    excluded: list[date],
    now: datetime,
) -> dict[str, Any]:
    def window(bounds: tuple[date, date], days: list[Any], value: float | None) -> dict[str, Any]:
        return {
            "start": bounds[0].isoformat(),
            "end": bounds[1].isoformat(),
            "days": len(days),
            "value": value,
        }

    e = estimate
    return {
        "id": exp.id,
        "title": exp.title,
        "metric": exp.metric,
        "practice": exp.practice,
        "method": "diff_in_diff" if exp.control_stream_id else "pre_post",
        "expect": exp.expect,
        "min_effect": exp.min_effect,
        "baseline": window(base, baseline, e.baseline_value if e else None),
        "treatment": window(treat, treatment, e.treatment_value if e else None),
        "lift_abs": e.lift_abs if e else None,
        "lift_rel": e.lift_rel if e else None,
        "ci_low": e.ci_low if e else None,
        "ci_high": e.ci_high if e else None,
        "ci_abs_low": e.ci_abs_low if e else None,
        "ci_abs_high": e.ci_abs_high if e else None,
        "verdict": verdict,
        "excluded_days": [d.isoformat() for d in excluded],
        "measured_at": iso_z(now),
        "series": {
            "baseline": [[d.day.isoformat(), d.value] for d in baseline],
            "treatment": [[d.day.isoformat(), d.value] for d in treatment],
        },
    }
