"""ISO weeks in the organisation's zone, and when a week's digest is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from tracker.config import DigestConfig
from tracker.digest.weeks import Week, due_week, last_complete_week, parse_week, send_time
from tracker.errors import UserError

VIENNA = ZoneInfo("Europe/Vienna")
MONDAY_8 = DigestConfig(to=("a@b.example",), sender="t@b.example", weekday="mon", time=time(8, 0))


def test_parse_week() -> None:
    week = parse_week("2026-W40")
    assert (week.start, week.end, week.label) == (date(2026, 9, 28), date(2026, 10, 4), "2026-W40")
    assert parse_week("2020-w53").label == "2020-W53"
    assert parse_week("2027-W01").start == date(2027, 1, 4)
    for bad in ("2026-W54", "2026-W00", "2025-W53", "W40", "2026-40", ""):
        with pytest.raises(UserError, match="--week: expected an ISO week"):
            parse_week(bad)


def test_titles() -> None:
    assert parse_week("2026-W40").title() == "28 Sep \u2013 4 Oct 2026"
    assert parse_week("2026-W42").title() == "12\u201318 Oct 2026"
    assert parse_week("2026-W53").title() == "28 Dec 2026 \u2013 3 Jan 2027"


def test_the_last_complete_week_is_in_the_organisations_zone() -> None:
    sunday_night_utc = datetime(2026, 10, 4, 22, 30, tzinfo=UTC)  # already Monday 00:30 in Vienna
    assert last_complete_week(sunday_night_utc, VIENNA).label == "2026-W40"
    assert last_complete_week(sunday_night_utc, ZoneInfo("UTC")).label == "2026-W39"


def test_due_week_follows_weekday_and_time_across_dst() -> None:
    week = Week(date(2026, 10, 19))  # the week before the October DST change
    assert send_time(week, MONDAY_8, VIENNA) == datetime(2026, 10, 26, 8, 0, tzinfo=VIENNA)
    assert send_time(week, MONDAY_8, VIENNA).astimezone(UTC).hour == 7, "08:00 CET after the change"
    before = datetime(2026, 10, 26, 6, 59, tzinfo=UTC)
    assert due_week(MONDAY_8, VIENNA, before).label == "2026-W42"
    assert due_week(MONDAY_8, VIENNA, datetime(2026, 10, 26, 7, 0, tzinfo=UTC)).label == "2026-W43"
    friday = DigestConfig(to=("a@b.example",), sender="t@b.example", weekday="fri", time=time(16, 30))
    assert due_week(friday, VIENNA, datetime(2026, 10, 29, 12, tzinfo=VIENNA)).label == "2026-W42"
    assert due_week(friday, VIENNA, datetime(2026, 10, 30, 16, 30, tzinfo=VIENNA)).label == "2026-W43"
