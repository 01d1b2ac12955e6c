"""Daily metrics in the organisation's days, aggregated in SQL, across DST changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from connectors.base import Item
from tracker.ingest import ensure_import_streams, upsert_items
from tracker.metrics import daily, day_runs
from tracker.store.db import Store, open_store
from tracker.store.models import EngagementSnapshot, Mention, Stream

VIENNA = ZoneInfo("Europe/Vienna")


def local(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=VIENNA).astimezone(UTC)


def add(store: Store, stream: str, *items: Item) -> dict[str, int]:
    with store.write() as session:
        known = {name: sid for name, sid in session.execute(select(Stream.name, Stream.id))}
        ids = ensure_import_streams(session=session, names=[stream], known=known, now=datetime.now(UTC))
        linked = [replace(i, streams=(stream,)) for i in items]
        upsert_items(session=session, items=linked, stream_ids=ids, now=datetime.now(UTC))
    with store.read() as session:
        return {name: sid for name, sid in session.execute(select(Stream.name, Stream.id))}


def mention(
    n: int, when: datetime, text: str = "neutral words", sentiment: float | None = None, **kw: object
) -> Item:
    return Item(platform="rss", external_id=f"x{n}", text=text, created_at=when, lang="en",
                sentiment=sentiment, **kw)  # type: ignore[arg-type]  # fmt: skip


def test_day_runs_split_at_dst_changes() -> None:
    runs = day_runs(date(2026, 10, 22), date(2026, 10, 28), VIENNA)
    assert runs == [(date(2026, 10, 22), date(2026, 10, 24), 7200), (date(2026, 10, 25), date(2026, 10, 25), None),
                    (date(2026, 10, 26), date(2026, 10, 28), 3600)]  # fmt: skip


def test_counts_follow_local_days_through_the_autumn_dst_change(db_url: str) -> None:
    store = open_store(db_url)
    times = [
        local(2026, 10, 24, 0, 5),  # Saturday just after local midnight (UTC+2): still Oct 23 in UTC
        local(2026, 10, 24, 23, 55),
        local(2026, 10, 25, 0, 30),  # the 25-hour day
        local(2026, 10, 25, 23, 59),  # last minute of the long day (UTC+1 by then)
        local(2026, 10, 26, 0, 1),
        local(2026, 10, 26, 0, 2),
    ]
    ids = add(store, "s", *[mention(i, t) for i, t in enumerate(times)])
    with store.read() as session:
        values = daily(session, "mentions", [ids["s"]], date(2026, 10, 23), date(2026, 10, 26), VIENNA)
    store.close()
    assert {d.isoformat(): v.value for d, v in values.items()} == {
        "2026-10-23": 0.0, "2026-10-24": 2.0, "2026-10-25": 2.0, "2026-10-26": 2.0,
    }  # fmt: skip


def test_a_mention_in_two_streams_counts_once_and_scores_average(db_url: str) -> None:
    store = open_store(db_url)
    day = local(2026, 9, 2, 12)
    both = mention(1, day, sentiment=0.5)
    add(
        store, "a", both, mention(2, day, sentiment=-0.5), mention(3, day + timedelta(hours=1), sentiment=0.9)
    )
    ids = add(store, "b", both, mention(4, day, text="   "))
    with store.read() as session:
        counts = daily(session, "mentions", [ids["a"], ids["b"]], date(2026, 9, 2), date(2026, 9, 2), VIENNA)
        mean = daily(session, "sentiment", [ids["a"], ids["b"]], date(2026, 9, 2), date(2026, 9, 2), VIENNA)
        share = daily(session, "positive_share", [ids["a"]], date(2026, 9, 1), date(2026, 9, 2), VIENNA)
    store.close()
    assert counts[date(2026, 9, 2)].value == 4.0
    assert mean[date(2026, 9, 2)].value == pytest.approx((0.5 - 0.5 + 0.9) / 3)
    assert mean[date(2026, 9, 2)].weight == 3.0, "the empty text is not scored"
    assert share == {date(2026, 9, 2): share[date(2026, 9, 2)]} and share[
        date(2026, 9, 2)
    ].value == pytest.approx(2 / 3)


def test_share_of_voice_against_competitors(db_url: str) -> None:
    store = open_store(db_url)
    day = local(2026, 9, 2, 9)
    add(store, "ours", *[mention(i, day) for i in range(3)])
    ids = add(store, "rival", *[mention(10 + i, day) for i in range(6)], mention(1, day))
    with store.read() as session:
        values = daily(session, "share_of_voice", [ids["ours"]], date(2026, 9, 1), date(2026, 9, 2), VIENNA,
                       competitor_ids=[ids["rival"]])  # fmt: skip
    store.close()
    assert list(values) == [date(2026, 9, 2)], "a day with no mentions at all has no share"
    assert values[date(2026, 9, 2)].value == pytest.approx(3 / 9), "a mention in both counts as ours"


def test_engagement_is_read_at_the_same_age_for_every_post(db_url: str) -> None:
    store = open_store(db_url)
    posted = local(2026, 9, 2, 10)
    young = local(2026, 9, 3, 20)
    now = local(2026, 9, 4, 12)
    ids = add(store, "own", mention(1, posted, kind="own", likes=1), mention(2, young, kind="own", likes=1),
              mention(3, posted, likes=100))  # fmt: skip
    with store.write() as session:
        post = session.scalars(select(Mention).where(Mention.external_id == "x1")).one()
        session.execute(update(EngagementSnapshot).where(EngagementSnapshot.mention_id == post.id)
                        .values(observed_at=posted + timedelta(hours=1)))  # fmt: skip
        session.add(EngagementSnapshot(mention_id=post.id, observed_at=posted + timedelta(hours=40),
                                       likes=8, engagement=8))  # fmt: skip
        session.add(EngagementSnapshot(mention_id=post.id, observed_at=posted + timedelta(hours=70),
                                       likes=30, engagement=30))  # fmt: skip
        post.engagement = 30
    with store.read() as session:
        values = daily(
            session, "engagement", [ids["own"]], date(2026, 9, 1), date(2026, 9, 4), VIENNA, now=now
        )
    store.close()
    assert values == {date(2026, 9, 2): values[date(2026, 9, 2)]}, (
        "the young post waits; mentions do not count"
    )
    assert values[date(2026, 9, 2)].value == 8.0, "taken at 48 h, not the 30 it has now"
