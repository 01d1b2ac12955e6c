"""`experiment measure --exclude-days`: a user confirms days as not covered.

Only days inside the experiment's baseline or window on which one of its streams
(experiment or control) has no mention can be confirmed: leaving out days that have
data would let anyone drop inconvenient days. The confirmations are kept
(`experiment_excluded_days`) and every later measurement leaves those days out.
"""

from __future__ import annotations

from tracker import plans
from tracker.config import Settings
from tracker.errors import UserError
from tracker.metrics import daily
from tracker.store.db import Store
from tracker.store.models import Experiment, ExperimentStream
from tracker.timeutil import utcnow


def exclude(store: Store, settings: Settings, exp_id: int, text: str) -> list[str]:
    """Record the days; returns them as ISO text. UserError (exit 2) for any day that cannot be."""
    from sqlalchemy import select

    from tracker.experiments import baseline_window

    try:
        days = plans.parse_days(text)
    except ValueError as exc:
        raise UserError(f"--exclude-days: {exc}") from None
    zone = settings.organisation.zone
    with store.write() as session:
        exp = session.get(Experiment, exp_id)
        if exp is None:
            raise UserError(f"no experiment with id {exp_id} (see `tracker experiment list`)")
        first, _ = baseline_window(exp)
        last = exp.end
        outside = [d for d in days if not first <= d <= last]
        if outside:
            raise UserError(
                f"--exclude-days: {outside[0]} is outside the experiment's baseline and window "
                f"({first}..{last})"
            )
        ids = list(
            session.scalars(
                select(ExperimentStream.stream_id).where(ExperimentStream.experiment_id == exp.id)
            )
        ) + plans.control_ids(session, exp)
        counts = [daily(session, "mentions", [sid], min(days), max(days), zone) for sid in ids]
        with_data = [d for d in days if all(c[d].value > 0 for c in counts)]
        if with_data:
            raise UserError(
                f"--exclude-days: {with_data[0]} has mentions on every stream of the experiment: "
                "only days without mentions on a stream can be confirmed as not covered"
            )
        plans.confirm_days(session, exp.id, days, utcnow())
    return [d.isoformat() for d in days]
