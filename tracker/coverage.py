"""Which periods a stream's collection covered completely, and so which days can be trusted.

Each collection run records the period it covered (`covered_from`..`covered_until`;
`covered_from` NULL means "since the beginning"). Time before a stream's first run
counts as covered (imported history is taken as complete), and import-only streams
are covered on every day. A day with no mentions inside covered time is a real
zero; a day outside it (an outage backfill could not recover, a failed run) is
unknown and must be excluded from any measurement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.store.models import CollectionRun
from tracker.timeutil import day_start

Interval = tuple[datetime | None, datetime]  # (from, until); from None = since the beginning


@dataclass(frozen=True)
class Coverage:
    """The covered periods of one stream, merged and sorted."""

    first_run: datetime | None
    intervals: tuple[Interval, ...]

    @property
    def covered_until(self) -> datetime | None:
        return self.intervals[-1][1] if self.intervals else None

    def covers(self, start: datetime, end: datetime) -> bool:
        """True when [start, end) lies wholly in covered time (or before the first run)."""
        if self.first_run is None or end <= self.first_run:
            return True
        for low, high in self.intervals:
            lower_ok = low is None or low <= max(start, self.first_run)
            if lower_ok and high >= end:
                return True
        return False

    def gaps(self) -> list[tuple[datetime, datetime]]:
        """Uncovered periods between the first run and the last covered moment."""
        found: list[tuple[datetime, datetime]] = []
        if self.first_run is None:
            return found
        reached = self.first_run
        for low, high in self.intervals:
            if low is not None and low > reached:
                found.append((reached, low))
            reached = max(reached, high)
        return found


def merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    ordered = sorted(intervals, key=lambda i: (i[0] is not None, i[0] or i[1], i[1]))
    merged: list[Interval] = []
    for low, high in ordered:
        if merged:
            last_low, last_high = merged[-1]
            if low is None or low <= last_high:
                start = None if last_low is None or low is None else min(last_low, low)
                merged[-1] = (start, max(last_high, high))
                continue
        merged.append((low, high))
    return tuple(merged)


def coverage(session: Session, stream_id: int, *, as_of: datetime | None = None) -> Coverage:
    """The stream's coverage from its collection runs (those started by `as_of`, if given)."""
    query = select(CollectionRun.covered_from, CollectionRun.covered_until).where(
        CollectionRun.stream_id == stream_id, CollectionRun.covered_until.is_not(None)
    )
    first = select(func.min(CollectionRun.started_at)).where(CollectionRun.stream_id == stream_id)
    if as_of is not None:
        query = query.where(CollectionRun.started_at <= as_of)
        first = first.where(CollectionRun.started_at <= as_of)
    rows = [(low, high) for low, high in session.execute(query) if high is not None]
    return Coverage(first_run=session.scalar(first), intervals=merge(rows))


def uncovered_days(
    session: Session, stream_ids: Sequence[int], first: date, last: date, zone: ZoneInfo
) -> list[date]:
    """Days of first..last (in `zone`) that some of the streams did not cover completely."""
    covers = [coverage(session, sid) for sid in stream_ids]
    days: list[date] = []
    day = first
    while day <= last:
        start, end = day_start(day, zone), day_start(day + timedelta(days=1), zone)
        if not all(c.covers(start, end) for c in covers):
            days.append(day)
        day += timedelta(days=1)
    return days
