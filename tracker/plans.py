"""Plans that hold once an experiment starts; control streams; days confirmed as uncovered.

An experiment's plan is what decides its verdict: its window (start, end), its
baseline, its metric, its streams, its control streams and the direction it expects.
Once the experiment has started, the data can be seen, and a plan changed after
seeing them can make any practice look good (stop on the first good day, move the
baseline away from a good week). So after the start a change of the plan is refused
unless it is an amendment with a reason (`experiment edit --amend --reason TEXT`):
the plan before and after are kept (the first amendment's `before` is the original
plan), and every result computed under an amended plan is labelled `post_hoc`. A
post-hoc success is reported, never counted as evidence for adopting the practice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict, cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tracker.store.models import (
    Experiment,
    ExperimentAmendment,
    ExperimentControl,
    ExperimentExcludedDay,
)
from tracker.store.queries import stream_ids, stream_names_by_id
from tracker.timeutil import iso_z

if TYPE_CHECKING:
    from tracker.experiments import ExperimentInput

PlanField = Literal[
    "start", "end", "baseline_start", "baseline_end", "metric", "streams", "control_stream",
    "control_streams", "expect", "search",
]  # fmt: skip
# ExperimentInput fields that make up the plan (SPEC §6): locked once the experiment starts.
PLAN_FIELDS: tuple[PlanField, ...] = (
    "start",
    "end",
    "baseline_start",
    "baseline_end",
    "metric",
    "streams",
    "control_stream",
    "control_streams",
    "expect",
    "search",
)


class Plan(TypedDict):
    """An experiment's plan (PLAN_FIELDS, in their order), days as ISO text: what an amendment keeps
    as `before` and `after` and `experiment show --json` gives as `original_plan`."""

    start: str | None
    end: str | None
    baseline_start: str | None
    baseline_end: str | None
    metric: str | None
    streams: list[str]  # sorted: their order is no part of the plan
    control_stream: str | None
    control_streams: list[str]  # in the order given: the first is `control_stream`
    expect: str
    search: NotRequired[str | None]  # absent from the plans amendments kept before saved searches (issue 21)


class Amendment(TypedDict):
    """A change of a started experiment's plan, as `experiment show --json` lists it."""

    at: str
    reason: str
    before: Plan
    after: Plan


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def plan_of(data: ExperimentInput) -> Plan:
    """The plan fields of an experiment's input, days as ISO text."""
    return {
        "start": _iso(data.start),
        "end": _iso(data.end),
        "baseline_start": _iso(data.baseline_start),
        "baseline_end": _iso(data.baseline_end),
        "metric": data.metric,
        "streams": sorted(data.streams),
        "control_stream": data.control_stream,
        "control_streams": list(data.control_streams),
        "expect": data.expect,
        "search": data.search,
    }


def add_amendment(
    session: Session,
    exp: Experiment,
    before: Plan,
    after: Plan,
    reason: str,
    now: datetime,
) -> None:
    session.add(
        ExperimentAmendment(experiment_id=exp.id, created_at=now, reason=reason, before=before, after=after)
    )


def amendments(session: Session, exp_id: int) -> list[Amendment]:
    rows = session.scalars(
        select(ExperimentAmendment)
        .where(ExperimentAmendment.experiment_id == exp_id)
        .order_by(ExperimentAmendment.id)
    ).all()
    # `before` and `after` are stored JSON that plan_of wrote
    return [
        {"at": iso_z(r.created_at), "reason": r.reason, "before": cast(Plan, r.before),
         "after": cast(Plan, r.after)}
        for r in rows
    ]  # fmt: skip


def is_amended(session: Session, exp_id: int) -> bool:
    found = session.scalars(
        select(ExperimentAmendment.id).where(ExperimentAmendment.experiment_id == exp_id).limit(1)
    ).first()
    return found is not None


# -- control streams --------------------------------------------------------------------------


def control_ids(session: Session, exp: Experiment) -> list[int]:
    """The experiment's control streams in the order given (the first is `control_stream`)."""
    rows = list(
        session.scalars(
            select(ExperimentControl.stream_id)
            .where(ExperimentControl.experiment_id == exp.id)
            .order_by(ExperimentControl.position)
        )
    )
    if rows:
        return rows
    return [exp.control_stream_id] if exp.control_stream_id else []


def control_names(session: Session, exp: Experiment) -> list[str]:
    ids = control_ids(session, exp)
    names = stream_names_by_id(session, ids)
    return [names[i] for i in ids if i in names]


def set_controls(session: Session, exp: Experiment, names: Sequence[str]) -> None:
    session.execute(delete(ExperimentControl).where(ExperimentControl.experiment_id == exp.id))
    ids = stream_ids(session, names)
    session.add_all(
        [ExperimentControl(experiment_id=exp.id, stream_id=ids[n], position=i) for i, n in enumerate(names)]
    )
    exp.control_stream_id = ids[names[0]] if names else None
    session.flush()


# -- days confirmed as uncovered --------------------------------------------------------------


def confirmed_days(session: Session, exp_id: int) -> set[date]:
    return set(
        session.scalars(
            select(ExperimentExcludedDay.day).where(ExperimentExcludedDay.experiment_id == exp_id)
        )
    )


def confirm_days(session: Session, exp_id: int, days: Sequence[date], now: datetime) -> None:
    known = confirmed_days(session, exp_id)
    session.add_all(
        [
            ExperimentExcludedDay(experiment_id=exp_id, day=d, created_at=now)
            for d in sorted(set(days) - known)
        ]
    )


def parse_days(text: str) -> list[date]:
    """'2026-07-01,2026-07-03..2026-07-05' -> the days; ValueError with a product message."""
    out: list[date] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        first, _, last = part.partition("..")
        try:
            a = date.fromisoformat(first.strip())
            b = date.fromisoformat(last.strip()) if last else a
        except ValueError:
            raise ValueError(
                f"expected days like 2026-07-01 or 2026-07-01..2026-07-05, got {part!r}"
            ) from None
        if b < a:
            raise ValueError(f"{part!r}: the range ends before it starts")
        out += [date.fromordinal(o) for o in range(a.toordinal(), b.toordinal() + 1)]
    if not out:
        raise ValueError("name at least one day")
    return out
