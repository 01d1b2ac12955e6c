"""ISO weeks in the organisation's time zone, and when each week's digest is due.

A digest covers one ISO week, Monday to Sunday in the organisation's zone. It is
due at `[digest] weekday`/`time` of the week after (the default, Monday 08:00, is the
first morning after the week is complete); until the next week's digest is due, the
one before is the week the digest job works on, so failed sends are retried hourly
for at most a week.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tracker.config import WEEKDAYS, DigestConfig
from tracker.errors import UserError
from tracker.timeutil import day_bounds

_WEEK = re.compile(r"^(\d{4})-[Ww](\d{1,2})$")


@dataclass(frozen=True, order=True)
class Week:
    """One ISO week; `start` is its Monday, `end` its Sunday."""

    start: date

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)

    @property
    def label(self) -> str:
        year, number, _ = self.start.isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def previous(self) -> Week:
        return Week(self.start - timedelta(days=7))

    @property
    def next(self) -> Week:
        return Week(self.start + timedelta(days=7))

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(7)]

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """UTC [start, end) of the week in `zone`."""
        return day_bounds(self.start, self.end, zone)

    def title(self) -> str:
        """`28 Sep - 4 Oct 2026` (the year once when both ends share it)."""
        first, last = self.start, self.end
        if first.year != last.year:
            return f"{first.day} {first:%b %Y} \u2013 {last.day} {last:%b %Y}"
        if first.month != last.month:
            return f"{first.day} {first:%b} \u2013 {last.day} {last:%b %Y}"
        return f"{first.day}\u2013{last.day} {last:%b %Y}"


def week_of(day: date) -> Week:
    return Week(day - timedelta(days=day.weekday()))


def parse_week(text: str) -> Week:
    """`2026-W40` -> that week; UserError naming --week otherwise."""
    match = _WEEK.match(text.strip())
    try:
        if not match:
            raise ValueError(text)
        return Week(date.fromisocalendar(int(match[1]), int(match[2]), 1))
    except ValueError:
        raise UserError(f"--week: expected an ISO week like 2026-W40, got {text!r}") from None


def last_complete_week(now: datetime, zone: ZoneInfo) -> Week:
    """The week before the one `now` falls in (organisation zone)."""
    return week_of(now.astimezone(zone).date()).previous


def send_time(week: Week, config: DigestConfig, zone: ZoneInfo) -> datetime:
    """When `week`'s digest is due: [digest] weekday/time of the following week, in `zone`."""
    day = week.next.start + timedelta(days=WEEKDAYS.index(config.weekday))
    return datetime.combine(day, config.time, tzinfo=zone)


def due_week(config: DigestConfig, zone: ZoneInfo, now: datetime) -> Week:
    """The most recent week whose digest is due at `now`."""
    week = last_complete_week(now, zone)
    while send_time(week, config, zone) > now:
        week = week.previous
    return week
