"""Coverage: merged covered periods, gaps, and which days of a window can be trusted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tracker.coverage import Coverage, merge, uncovered_days
from tracker.store.db import open_store
from tracker.store.models import CollectionRun, Stream

VIENNA = ZoneInfo("Europe/Vienna")


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 9, day, hour, tzinfo=UTC)


def test_merge_joins_overlapping_and_touching_periods() -> None:
    assert merge([(at(3), at(5)), (None, at(2)), (at(2), at(3)), (at(7), at(8))]) == (
        (None, at(5)),
        (at(7), at(8)),
    )


def test_covers_and_gaps() -> None:
    cov = Coverage(first_run=at(1), intervals=((None, at(3)), (at(5), at(9))))
    assert cov.covers(at(1, 5), at(2))
    assert cov.covers(datetime(2026, 8, 1, tzinfo=UTC), at(1)), "before the first run counts as covered"
    assert not cov.covers(at(3), at(4)), "the outage"
    assert cov.covers(at(6), at(7))
    assert not cov.covers(at(8), at(10)), "after the last covered moment"
    assert cov.gaps() == [(at(3), at(5))]
    assert cov.covered_until == at(9)
    assert Coverage(first_run=None, intervals=()).covers(at(1), at(30)), "import-only: always covered"


def test_uncovered_days_follow_the_organisation_time_zone(db_url: str) -> None:
    store = open_store(db_url)
    with store.write() as session:
        stream = Stream(name="s", connector="rss", role="brand", source="config", created_at=at(1))
        session.add(stream)
        session.flush()
        # Covered until 2026-09-04 21:30 UTC (= 23:30 in Vienna), then an outage until 09-06 12:00 UTC.
        session.add_all([
            CollectionRun(stream_id=stream.id, started_at=at(1), status="ok", covered_from=None,
                          covered_until=at(4, 21) + timedelta(minutes=30)),
            CollectionRun(stream_id=stream.id, started_at=at(6, 12), status="failed"),
            CollectionRun(stream_id=stream.id, started_at=at(6, 12), status="ok", covered_from=at(6, 12),
                          covered_until=at(10)),
        ])  # fmt: skip
        session.flush()
        days = uncovered_days(session, [stream.id], date(2026, 8, 30), date(2026, 9, 10), VIENNA)
    store.close()
    # Sept 4 in Vienna ends at 22:00 UTC: not wholly covered. Sept 5 and 6 are in the outage.
    # Sept 9 in Vienna ends 2026-09-09 22:00 UTC < 09-10 00:00 UTC: covered; Sept 10 is not.
    assert days == [date(2026, 9, 4), date(2026, 9, 5), date(2026, 9, 6), date(2026, 9, 10)]
