"""Experiments: the registry of trials and their honestly measured results (SPEC §5, §6).

A marketer registers what they will try (a practice, on streams, over a window,
with a hypothesis and a metric); `measure` computes the result from the collected
data with an interval that holds for over-dispersed, weekday-patterned daily data
(tracker/stats.py), excluding days the collection did not cover. Every
measurement is kept; the newest valid one is the experiment's result.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NotRequired, TypedDict

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tracker import audit, lifecycle, plans, selection
from tracker.config import Settings
from tracker.errors import UserError
from tracker.maturity import Model
from tracker.metrics import METRICS, DayValue
from tracker.results import MeasurementResult, stored
from tracker.store.db import Store
from tracker.store.models import (
    Experiment,
    ExperimentCompetitor,
    ExperimentNote,
    ExperimentResult,
    ExperimentStream,
    SavedSearch,
    Stream,
)
from tracker.store.queries import stream_names, valid_results
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
    control_streams: list[str] = field(default_factory=list)  # several: a synthetic control
    competitors: list[str] = field(default_factory=list)  # share_of_voice against these (else like for like)
    search: str | None = None  # a saved search's name: only its matches count (tracker/selection.py)

    def controls(self) -> list[str]:
        """The control streams: `control_streams`, else `control_stream` alone."""
        if self.control_streams:
            return list(self.control_streams)
        return [self.control_stream] if self.control_stream else []


class ExperimentFields(TypedDict, total=False):
    """Some of ExperimentInput's fields, each given a value: what `experiment add` and `edit` were given
    (`edit` changes only these)."""

    title: str
    hypothesis: str
    practice: str
    metric: str
    streams: list[str]
    control_stream: str
    start: date | None  # None: the day given could not be read (a ValidationError follows)
    end: date | None
    expect: str
    owner: str
    team: str
    min_effect: float
    baseline_start: date | None
    baseline_end: date | None
    control_streams: list[str]
    competitors: list[str]
    search: str  # "" on edit removes it


class Window(TypedDict):
    start: str
    end: str


class NoteRecord(TypedDict):
    at: str
    text: str
    author: str | None


class ExperimentRecord(TypedDict):
    """An experiment as `experiment show --json`, the web's pages and `/api/experiments` give it.

    Its plan fields are ExperimentInput's, in their order (days as ISO text); then its state,
    the latest valid result, the notes and the lifecycle events (SPEC §6)."""

    id: int
    title: str
    hypothesis: str
    practice: str
    metric: str
    streams: list[str]
    control_stream: str | None
    start: str
    end: str
    expect: str
    owner: str | None
    team: str | None
    min_effect: float
    baseline_start: str | None
    baseline_end: str | None
    control_streams: list[str]
    competitors: list[str]
    search: str | None
    status: str
    baseline: Window
    learning: str | None
    decision: str | None
    concluded_at: str | None
    cancelled_at: str | None
    created_at: str
    updated_at: str
    mde: float | None
    created_by: str | None
    amendments: list[plans.Amendment]
    original_plan: plans.Plan
    post_hoc: bool
    result: MeasurementResult | None
    verdict: str | None
    results: NotRequired[list[MeasurementResult]]  # every valid result, newest first (`--history`)
    notes: list[NoteRecord]
    events: list[dict[str, Any]]
    adopted_by: str | None
    judgement: str | None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def parse_day(value: str | None, name: str, problems: list[tuple[str, str]]) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems.append((name, f"expected a day like 2026-09-01, got {value!r}"))
        return None


def validate(
    data: ExperimentInput, *, model: Model, streams: set[str], searches: Collection[str] | None = None
) -> list[tuple[str, str]]:
    """Every problem with the fields, each naming its field; empty when valid.

    `searches`: the saved searches' names (None: the search is not checked here)."""
    problems: list[tuple[str, str]] = _too_long(
        {"title": data.title, "hypothesis": data.hypothesis, "owner": data.owner, "team": data.team}
    )
    for name in ("start", "end", "baseline_start", "baseline_end"):
        day = getattr(data, name)
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            problems.append((name, f"expected a day from {FIRST_DAY} to {LAST_DAY}, got {day}"))
    for name in ("title", "hypothesis"):
        if not (getattr(data, name) or "").strip():
            problems.append((name, "must not be empty"))
    if not data.practice:
        problems.append(("practice", "required"))
    elif model.practice(data.practice) is None:
        problems.append(
            ("practice", f"unknown practice {data.practice!r} (see `tracker practices` for the keys)")
        )
    if not data.metric:
        problems.append(("metric", f"required (one of {', '.join(METRICS)})"))
    elif data.metric not in METRICS:
        problems.append(("metric", f"unknown metric {data.metric!r} (one of {', '.join(METRICS)})"))
    if data.search and searches is not None and data.search not in searches:
        known_names = f" (saved: {', '.join(sorted(searches))})" if searches else " (none saved yet)"
        problems.append(("search", f"no saved search {data.search!r}{known_names}"))
    if not data.streams and not data.search:
        problems.append(("streams", "name at least one stream (or a saved search)"))
    known = f" (known: {', '.join(sorted(streams))})" if streams else " (no streams yet)"
    for name in data.streams:
        if name not in streams:
            problems.append(("streams", f"unknown stream {name!r}{known}"))
    for control in data.controls():
        if control not in streams:
            problems.append(("control_stream", f"unknown stream {control!r}{known}"))
        elif control in data.streams:
            problems.append(("control_stream", "must not be one of the experiment's streams"))
    if len(set(data.controls())) != len(data.controls()):
        problems.append(("control_stream", "a control stream is named twice"))
    for name in data.competitors:
        if name not in streams:
            problems.append(("competitors", f"unknown stream {name!r}"))
        elif name in data.streams:
            problems.append(("competitors", f"{name!r} is one of the experiment's streams"))
    if data.competitors and data.metric != "share_of_voice":
        problems.append(("competitors", "only for the share_of_voice metric"))
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


# Text fields are capped as imported text is (tracker/mentions.py): long enough for any
# real use, short enough that nobody fills the database or the pages through one field.
TEXT_LIMITS = {"title": 500, "hypothesis": 100_000, "learning": 100_000, "text": 100_000,
               "owner": 200, "team": 200, "author": 200, "judgement": 100_000,
               "reason": 100_000}  # fmt: skip
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9000, 12, 31)  # windows are computed +- a window length
MAX_ID = 2**63 - 1  # the databases' 64-bit integers


def _too_long(values: dict[str, str | None]) -> list[tuple[str, str]]:
    return [
        (name, f"longer than {TEXT_LIMITS[name]:,} characters")
        for name, value in values.items()
        if isinstance(value, str) and len(value) > TEXT_LIMITS[name]
    ]


def known_streams(session: Session) -> set[str]:
    return set(stream_names(session))


def known_searches(session: Session) -> set[str]:
    return set(session.scalars(select(SavedSearch.name)))


def status_of(exp: Experiment, today: date) -> str:
    """planned, running, ended, concluded or cancelled (the rule lives in tracker/lifecycle.py)."""
    return lifecycle.status_at(exp, today)


def baseline_window(exp: Experiment) -> tuple[date, date]:
    """Given, or the same number of days right before start."""
    if exp.baseline_start and exp.baseline_end:
        return exp.baseline_start, exp.baseline_end
    length = (exp.end - exp.start).days + 1
    return exp.start - timedelta(days=length), exp.start - timedelta(days=1)


# -- registry ---------------------------------------------------------------------------------


class Registry:
    """Registering, editing and closing experiments; every method is one transaction.

    Every change is recorded in the audit log in its own transaction, as done by
    `actor` (a web user, `token:NAME`; None: the command line's login).
    """

    def __init__(self, store: Store, settings: Settings, model: Model, actor: str | None = None) -> None:
        self.store, self.settings, self.model = store, settings, model
        self.actor = actor

    def today(self) -> date:
        return self._day(utcnow())

    def _day(self, moment: datetime) -> date:
        return moment.astimezone(self.settings.organisation.zone).date()

    def add(self, data: ExperimentInput) -> tuple[ExperimentRecord, list[str]]:
        """Register; return the experiment's record and warnings (overlaps)."""
        from tracker.ingest import sync_streams  # here: tracker.ingest imports the scorer

        now = utcnow()
        with self.store.write() as session:
            sync_streams(session=session, settings=self.settings, now=now)
            problems = validate(
                data, model=self.model, streams=known_streams(session), searches=known_searches(session)
            )
            if problems:
                raise ValidationError(problems)
            exp = Experiment(created_at=now, updated_at=now)
            self._apply(session, exp, data)
            session.add(exp)
            session.flush()
            self._link(session, exp, data.streams)
            self._link_search(session, exp, data.search)
            plans.set_controls(session, exp, data.controls())
            self._link_competitors(session, exp, data.competitors)
            warnings = self._overlaps(session, exp, data.streams)
            detectable, power_warnings = power_check(session, self.settings, exp, self.today())
            exp.mde = detectable
            audit.record(
                session, self.actor, "experiment.create", f"experiment:{exp.id}", {"title": exp.title}
            )
            return self.record(session, exp), warnings + power_warnings

    def edit(
        self, exp_id: int, changes: ExperimentFields, *, amend: bool = False, reason: str | None = None
    ) -> tuple[ExperimentRecord, list[str]]:
        """Change some fields (same validation); a changed window or stream set voids old results.

        Once the experiment has started its plan (tracker/plans.py) is locked: a change
        of it is refused unless `amend` with a `reason`, and then recorded.
        """
        now = utcnow()
        with self.store.write() as session:
            exp = self._get(session, exp_id)
            if exp.cancelled_at or exp.concluded_at:
                raise UserError(
                    f"experiment {exp_id} is {status_of(exp, self.today())}: it can no longer be edited"
                )
            data = self._input_of(session, exp)
            plan_before = plans.plan_of(data)
            if "control_stream" in changes and "control_streams" not in changes:
                changes = {**changes, "control_streams": [changes["control_stream"]]}
            for key, value in changes.items():
                if value is not None:
                    setattr(data, key, value)
            problems = validate(
                data, model=self.model, streams=known_streams(session), searches=known_searches(session)
            )
            if problems:
                raise ValidationError(problems)
            plan_after = plans.plan_of(data)
            started = self.today() >= exp.start
            if started and plan_after != plan_before:
                moved = [k for k in plans.PLAN_FIELDS if plan_before.get(k) != plan_after.get(k)]
                shown = ", ".join(dict.fromkeys(k.replace("_", "-") for k in moved))
                if not amend:
                    raise UserError(
                        f"experiment {exp_id} started on {exp.start}: its plan ({shown}) is locked; "
                        "to change it anyway use --amend --reason TEXT (its results will then be post hoc)"
                    )
                if not (reason or "").strip():
                    raise ValidationError(
                        [("reason", "say why the plan changes (an amendment needs a reason)")]
                    )
                plans.add_amendment(session, exp, plan_before, plan_after, (reason or "").strip(), now)
            before = (
                exp.start,
                exp.end,
                exp.baseline_start,
                exp.baseline_end,
                exp.metric,
                exp.control_stream_id,
                sorted(self._stream_names(session, exp)),
                plans.control_names(session, exp),
                self._search_name(session, exp),
            )
            self._apply(session, exp, data)
            exp.updated_at = now
            session.execute(delete(ExperimentStream).where(ExperimentStream.experiment_id == exp.id))
            self._link(session, exp, data.streams)
            self._link_search(session, exp, data.search)
            plans.set_controls(session, exp, data.controls())
            competitors_before = self._competitor_names(session, exp)
            self._link_competitors(session, exp, data.competitors)
            after = (
                exp.start,
                exp.end,
                exp.baseline_start,
                exp.baseline_end,
                exp.metric,
                exp.control_stream_id,
                sorted(data.streams),
                data.controls(),
                self._search_name(session, exp),
            )
            if before != after or competitors_before != sorted(data.competitors):
                session.execute(
                    update(ExperimentResult)
                    .where(ExperimentResult.experiment_id == exp.id)
                    .values(valid=False)
                )
            changed = sorted(k for k, v in changes.items() if v is not None)
            audit.record(session, self.actor, "experiment.edit", f"experiment:{exp.id}", {"fields": changed})
            return self.record(session, exp), self._overlaps(session, exp, data.streams)

    def cancel(self, exp_id: int, reason: str | None = None, *, now: datetime | None = None,
               author: str | None = None) -> ExperimentRecord:  # fmt: skip
        now = now or utcnow()
        with self.store.write() as session:
            exp = self._get(session, exp_id)
            lifecycle.cancel(session, exp, reason=reason, now=now, today=self._day(now), author=author)
            audit.record(
                session, self.actor, "experiment.cancel", f"experiment:{exp.id}",
                {"reason": reason} if reason else None,
            )  # fmt: skip
            return self.record(session, exp)

    def note(
        self, exp_id: int, text: str, author: str | None = None, *, now: datetime | None = None
    ) -> ExperimentRecord:
        if not text.strip():
            raise ValidationError([("text", "must not be empty")])
        problems = _too_long({"text": text, "author": author})
        if problems:
            raise ValidationError(problems)
        with self.store.write() as session:
            exp = self._get(session, exp_id)
            session.add(
                ExperimentNote(
                    experiment_id=exp.id, created_at=now or utcnow(), text=text.strip(), author=author
                )
            )
            session.flush()
            audit.record(session, self.actor, "experiment.note", f"experiment:{exp.id}")
            return self.record(session, exp)

    def check_conclude(
        self,
        exp_id: int,
        learning: str,
        decision: str | None,
        *,
        judgement: str | None = None,
        early: bool = False,
        reason: str | None = None,
    ) -> lifecycle.ConclusionPlan:
        """What concluding would record, checked against every rule; nothing is written."""
        with self.store.read() as session:
            exp = self._get(session, exp_id)
            return lifecycle.plan_conclusion(session, exp, learning=learning, decision=decision,
                                             judgement=judgement, early=early, reason=reason,
                                             today=self.today())  # fmt: skip

    def conclude(self, exp_id: int, learning: str, decision: str | None, *, judgement: str | None = None,
                 early: bool = False, reason: str | None = None, now: datetime | None = None,
                 author: str | None = None) -> ExperimentRecord:  # fmt: skip
        """Close with a learning (lifecycle rules: tracker/lifecycle.py); `decision` is adopt, reject or
        None (a usable success adopts); `judgement` adopts on the team's judgement instead."""
        now = now or utcnow()
        if problems := _too_long({"learning": learning, "judgement": judgement, "reason": reason}):
            raise ValidationError(problems)
        with self.store.write() as session:
            exp = self._get(session, exp_id)
            plan = lifecycle.plan_conclusion(session, exp, learning=learning, decision=decision,
                                             judgement=judgement, early=early, reason=reason,
                                             today=self._day(now))  # fmt: skip
            lifecycle.conclude(session, exp, plan, now=now, author=author)
            audit.record(
                session, self.actor, "experiment.conclude", f"experiment:{exp.id}",
                {"decision": plan.get("decision"), "adopted_by": plan.get("adopted_by")},
            )  # fmt: skip
            return self.record(session, exp)

    def reopen(self, exp_id: int, reason: str, *, now: datetime | None = None,
               author: str | None = None) -> ExperimentRecord:  # fmt: skip
        """Undo a conclusion or a cancellation; the event keeps what the conclusion said."""
        now = now or utcnow()
        with self.store.write() as session:
            exp = self._get(session, exp_id)
            lifecycle.reopen(session, exp, reason=reason, now=now, today=self._day(now), author=author)
            audit.record(session, self.actor, "experiment.reopen", f"experiment:{exp.id}", {"reason": reason})
            return self.record(session, exp)

    def get(self, exp_id: int) -> ExperimentRecord:
        with self.store.read() as session:
            return self.record(session, self._get(session, exp_id), history=True)

    def list_all(self, status: str | None = None) -> list[ExperimentRecord]:
        if status is not None and status not in STATUSES:
            raise UserError(f"--status: expected one of {', '.join(STATUSES)}, got {status!r}")
        with self.store.read() as session:
            records = [
                self.record(session, e) for e in session.scalars(select(Experiment).order_by(Experiment.id))
            ]
        return [r for r in records if status is None or r["status"] == status]

    def records_of(self, keep: Callable[[Experiment], bool]) -> list[ExperimentRecord]:
        """The records of the experiments `keep` accepts, by id. `keep` sees the row only, so the
        ten or so queries of a record are spent on those wanted (a digest's week has a few of 100)."""
        with self.store.read() as session:
            rows = session.scalars(select(Experiment).order_by(Experiment.id)).all()
            return [self.record(session, e) for e in rows if keep(e)]

    def summaries(self) -> list[dict[str, Any]]:
        """Every experiment's id, title, window, status and latest verdict, in two queries: what
        the overview lists (the full records cost about ten queries each)."""
        with self.store.read() as session:
            ranked = (
                select(
                    ExperimentResult.experiment_id,
                    ExperimentResult.verdict,
                    func.row_number()
                    .over(
                        partition_by=ExperimentResult.experiment_id,
                        order_by=(ExperimentResult.measured_at.desc(), ExperimentResult.id.desc()),
                    )
                    .label("rank"),
                )
                .where(ExperimentResult.valid.is_(True))
                .subquery()
            )
            verdicts = dict(
                session.execute(
                    select(ranked.c.experiment_id, ranked.c.verdict).where(ranked.c.rank == 1)
                ).all()
            )
            today = self.today()
            return [
                {
                    "id": e.id,
                    "title": e.title,
                    "start": e.start.isoformat(),
                    "end": e.end.isoformat(),
                    "status": status_of(e, today),
                    "verdict": verdicts.get(e.id),
                }
                for e in session.scalars(select(Experiment).order_by(Experiment.id))
            ]

    # -- helpers ---------------------------------------------------------------------------

    def _get(self, session: Session, exp_id: int) -> Experiment:
        exp = session.get(Experiment, exp_id) if 0 < exp_id <= MAX_ID else None
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

    def _link_search(self, session: Session, exp: Experiment, name: str | None) -> None:
        found = session.scalar(select(SavedSearch.id).where(SavedSearch.name == name)) if name else None
        selection.set_experiment_search(session, exp.id, found)

    def _search_name(self, session: Session, exp: Experiment) -> str | None:
        found = selection.experiment_search(session, exp.id)
        return found.name if found is not None else None

    def _link_competitors(self, session: Session, exp: Experiment, names: Sequence[str]) -> None:
        session.execute(delete(ExperimentCompetitor).where(ExperimentCompetitor.experiment_id == exp.id))
        ids = session.scalars(select(Stream.id).where(Stream.name.in_(list(names)))).all() if names else []
        session.add_all([ExperimentCompetitor(experiment_id=exp.id, stream_id=sid) for sid in ids])
        session.flush()

    def _competitor_names(self, session: Session, exp: Experiment) -> list[str]:
        return competitor_names(session, exp.id)

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
        controls = plans.control_names(session, exp)
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
            control_streams=controls,
            competitors=self._competitor_names(session, exp),
            search=self._search_name(session, exp),
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

    def record(self, session: Session, exp: Experiment, *, history: bool = False) -> ExperimentRecord:
        """The experiment as JSON: its fields, status, streams, latest result and notes."""
        data = self._input_of(session, exp)
        baseline = baseline_window(exp)
        amendments = plans.amendments(session, exp.id)
        # the newest result only, unless the history is asked for: a daily measurement keeps one a day
        results = valid_results(session, exp.id, limit=None if history else 1)
        notes = session.scalars(
            select(ExperimentNote).where(ExperimentNote.experiment_id == exp.id).order_by(ExperimentNote.id)
        ).all()
        events = lifecycle.events(session, exp)
        result = stored(results[0].payload) if results else None
        conclusion = next((e for e in reversed(events) if e["status"] == "concluded"), None)
        record: ExperimentRecord = {
            "id": exp.id,
            "title": exp.title,
            "hypothesis": exp.hypothesis,
            "practice": exp.practice,
            "metric": exp.metric,
            "streams": data.streams,
            "control_stream": data.control_stream,
            "start": exp.start.isoformat(),
            "end": exp.end.isoformat(),
            "expect": data.expect,
            "owner": data.owner,
            "team": data.team,
            "min_effect": data.min_effect,
            "baseline_start": _day(data.baseline_start),
            "baseline_end": _day(data.baseline_end),
            "control_streams": data.control_streams,
            "competitors": data.competitors,
            "search": data.search,
            "status": status_of(exp, self.today()),
            "baseline": {"start": baseline[0].isoformat(), "end": baseline[1].isoformat()},
            "learning": exp.learning,
            "decision": exp.decision,
            "concluded_at": iso_z(exp.concluded_at) if exp.concluded_at else None,
            "cancelled_at": iso_z(exp.cancelled_at) if exp.cancelled_at else None,
            "created_at": iso_z(exp.created_at),
            "updated_at": iso_z(exp.updated_at),
            "mde": exp.mde,
            "created_by": audit.author(session, f"experiment:{exp.id}"),
            "amendments": amendments,
            "original_plan": amendments[0]["before"] if amendments else plans.plan_of(data),
            "post_hoc": bool(amendments),
            "result": result,
            "verdict": results[0].verdict if results else None,
            "results": [stored(r.payload) for r in results],
            "notes": [{"at": iso_z(n.created_at), "text": n.text, "author": n.author} for n in notes],
            "events": events,
            "adopted_by": lifecycle.adopted_by(exp, events, result),
            "judgement": conclusion.get("judgement") if conclusion and exp.concluded_at else None,
        }
        if not history:
            del record["results"]
        return record


# -- measuring --------------------------------------------------------------------------------


def measure(
    store: Store,
    settings: Settings,
    ids: Sequence[int] | None,
    *,
    now: datetime | None = None,
    actor: str | None = None,
) -> list[MeasurementResult]:
    """Measure the given experiments (None: every one not cancelled), store and return the results.

    Each measurement is recorded in the audit log as done by `actor` (None: the command line).
    """
    now = now or utcnow()
    for exp_id in ids or ():
        if not 0 < exp_id <= MAX_ID:
            raise UserError(f"no experiment with id {exp_id} (see `tracker experiment list`)")
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
                    post_hoc=bool(result.get("post_hoc")),
                )
            )
            audit.record(session, actor, "experiment.measure", f"experiment:{exp.id}",
                         {"verdict": result["verdict"]})  # fmt: skip
    return results


def measure_open(store: Store, settings: Settings, *, now: datetime | None = None) -> list[MeasurementResult]:
    """The daily job: measure every running or ended experiment (not planned, concluded or cancelled)."""
    now = now or utcnow()
    today = now.astimezone(settings.organisation.zone).date()
    with store.read() as session:
        ids = [
            e.id for e in session.scalars(select(Experiment)) if status_of(e, today) in ("running", "ended")
        ]
    return measure(store, settings, ids, now=now, actor="scheduler") if ids else []


def _measure_one(session: Session, settings: Settings, exp: Experiment, now: datetime) -> MeasurementResult:
    from tracker import measuring

    return measuring.measure_one(session, settings, exp, now)


def competitor_names(session: Session, exp_id: int) -> list[str]:
    query = (
        select(Stream.name)
        .join(ExperimentCompetitor, ExperimentCompetitor.stream_id == Stream.id)
        .where(ExperimentCompetitor.experiment_id == exp_id)
        .order_by(Stream.name)
    )
    return list(session.scalars(query))


def _kept(values: dict[date, DayValue], excluded: set[date]) -> list[DayValue]:
    return [v for d, v in sorted(values.items()) if d not in excluded]


def _days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}


def power_check(
    session: Session, settings: Settings, exp: Experiment, today: date
) -> tuple[float | None, list[str]]:
    """The planned window's smallest detectable effect, and warnings about it (tracker/power.py)."""
    from tracker import power

    return power.for_experiment(session, settings, exp, today)
