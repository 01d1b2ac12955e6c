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
from typing import Any

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

# ExperimentInput fields that make up the plan (SPEC §6): locked once the experiment starts.
PLAN_FIELDS = (
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


def plan_of(record: dict[str, Any]) -> dict[str, Any]:
    """The plan fields of an experiment record (or input as a dict), days as ISO text."""
    out: dict[str, Any] = {}
    for name in PLAN_FIELDS:
        value = record.get(name)
        if isinstance(value, date):
            value = value.isoformat()
        if isinstance(value, list):
            value = list(value) if name == "control_streams" else sorted(value)
        out[name] = value
    return out


def add_amendment(
    session: Session,
    exp: Experiment,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str,
    now: datetime,
) -> None:
    session.add(
        ExperimentAmendment(experiment_id=exp.id, created_at=now, reason=reason, before=before, after=after)
    )


def amendments(session: Session, exp_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ExperimentAmendment)
        .where(ExperimentAmendment.experiment_id == exp_id)
        .order_by(ExperimentAmendment.id)
    ).all()
    return [
        {"at": iso_z(r.created_at), "reason": r.reason, "before": r.before, "after": r.after} for r in rows
    ]


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
