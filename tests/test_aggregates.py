"""Daily aggregates (tracker/aggregates.py): kept by every writer, in the organisation's days,
equal to the raw mentions, and checked and repaired by `tracker db check`.

Hostile cases: the same mention imported again, a mention found later by a second stream,
an edited text that changes its score, a refresh that finds a post deleted, a mention at
23:30 local time on both DST days, a cell tampered with, and a changed organisation zone.
Each runs on SQLite and (when configured) PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from connectors.base import Item, Refreshed
from tests.conftest import write_config
from tracker import aggregates, metrics
from tracker.ingest import upsert_items
from tracker.refresh import RefreshReport, _store
from tracker.store.db import Store, open_store
from tracker.store.models import DailyAggregate, Mention, Stream

ZONE = ZoneInfo("Europe/Vienna")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def item(n: int, when: datetime, *streams: str, text: str = "acme is great", kind: str = "mention") -> Item:
    return Item(platform="mastodon", external_id=f"https://m.example/s/{n}", text=text, lang="en",
                created_at=when, kind=kind, likes=n, streams=streams)  # fmt: skip


def setup(url: str) -> tuple[Store, dict[str, int]]:
    store = open_store(url, ZONE.key)
    with store.write() as session:
        for name in ("brand", "other", "rival"):
            session.add(
                Stream(name=name, connector="mastodon", role="brand", source="config", created_at=NOW)
            )
    with store.read() as session:
        ids = {s.name: s.id for s in session.query(Stream)}
    return store, ids


def put(store: Store, ids: dict[str, int], items: list[Item]) -> None:
    with store.write() as session:
        upsert_items(session=session, items=items, stream_ids=ids, now=NOW)


def check(store: Store) -> list[aggregates.Difference]:
    with store.read() as session:
        return aggregates.differences(session.connection(), ZONE)


def raw_and_cells(store: Store, stream_ids: list[int], first: date, last: date) -> tuple[Any, Any]:
    """Counts and sentiment per day, from the raw mentions and from the cells."""
    with store.read() as session:
        raw_counts = metrics._counts(session, stream_ids, first, last, ZONE, use_aggregates=False)
        raw_scores = metrics._scores(
            session, "sentiment", stream_ids, first, last, ZONE, use_aggregates=False
        )
        cells = aggregates.daily(session, stream_ids, first, last)
    counts = {d: v[0] for d, v in cells.items() if v[0]}
    scores = {d: pytest.approx(v[2] / v[1]) for d, v in cells.items() if v[1]}
    return (raw_counts, {d: v.value for d, v in raw_scores.items()}), (counts, scores)


def test_import_again_and_a_second_stream_count_each_mention_once(db_url: str) -> None:
    store, ids = setup(db_url)
    day = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
    batch = [item(n, day + timedelta(hours=n), "brand") for n in range(5)]
    put(store, ids, batch)
    put(store, ids, batch)  # the same file imported again
    put(store, ids, [item(0, day, "other")])  # found later by a second stream
    assert check(store) == []
    with store.read() as session:
        both = aggregates.daily(session, [ids["brand"], ids["other"]], date(2026, 9, 1), date(2026, 9, 2))
        other = aggregates.daily(session, [ids["other"]], date(2026, 9, 1), date(2026, 9, 2))
    assert sum(v[0] for v in both.values()) == 5  # mention 0 is in both streams, counted once
    assert sum(v[0] for v in other.values()) == 1
    raw, cells = raw_and_cells(store, [ids["brand"], ids["other"]], date(2026, 8, 30), date(2026, 9, 3))
    assert raw == cells
    store.close()


def test_an_edited_text_moves_the_sentiment_and_a_deletion_the_count(db_url: str) -> None:
    store, ids = setup(db_url)
    day = datetime(2026, 9, 2, 10, 0, tzinfo=UTC)
    put(store, ids, [item(1, day, "brand"), item(2, day, "brand", kind="own")])
    with store.read() as session:
        before = aggregates.daily(session, [ids["brand"]], day.date(), day.date())[day.date()]
    assert before[:2] == (2, 2) and before[3] == 2 and before[5] == 1
    put(store, ids, [item(1, day, "brand", text="acme is awful and broken")])
    with store.read() as session:
        after = aggregates.daily(session, [ids["brand"]], day.date(), day.date())[day.date()]
    assert after[3] == 1 and after[4] == 1 and after[2] < before[2]
    with store.read() as session:
        mention_id = session.query(Mention.id).filter(Mention.external_id.endswith("/2")).scalar()
    # The engagement refresh: new figures for one post, the other one gone on the platform.
    report = RefreshReport()
    refreshed = Refreshed(items=[item(1, day, "brand", text="acme is awful and broken")],
                          deleted=["https://m.example/s/2"])  # fmt: skip
    with store.read() as session:
        known = {m.external_id: m.id for m in session.query(Mention)}
    _store(store, "brand", ids["brand"], known, refreshed, report)
    assert report.deleted == 1 and mention_id in known.values()
    with store.read() as session:
        gone = aggregates.daily(session, [ids["brand"]], day.date(), day.date())[day.date()]
    assert gone[0] == 1 and gone[5] == 0  # the deleted own post left every figure
    assert check(store) == []
    store.close()


@pytest.mark.parametrize("local", [datetime(2026, 3, 29, 23, 30), datetime(2026, 10, 25, 23, 30)])
def test_half_past_eleven_on_a_dst_day_is_that_day(db_url: str, local: datetime) -> None:
    store, ids = setup(db_url)
    when = local.replace(tzinfo=ZONE).astimezone(UTC)
    assert when.date() == local.date()  # 21:30 / 22:30 UTC: the same date, one hour apart
    put(store, ids, [item(1, when, "brand"), item(2, when + timedelta(hours=1), "brand")])
    with store.read() as session:
        cells = aggregates.daily(session, [ids["brand"]], local.date() - timedelta(days=1),
                                 local.date() + timedelta(days=1))  # fmt: skip
    assert {d: v[0] for d, v in cells.items()} == {local.date(): 1, local.date() + timedelta(days=1): 1}
    raw, agg = raw_and_cells(
        store, [ids["brand"]], local.date() - timedelta(days=2), local.date() + timedelta(days=2)
    )
    assert raw == agg
    store.close()


def test_db_check_names_what_differs_and_repairs_it(tmp_path: Path, db_url: str, cli: Any) -> None:
    config = write_config(tmp_path, db_url=db_url, streams=[])
    store, ids = setup(db_url)
    put(store, ids, [item(n, datetime(2026, 9, 3, 8, n, tzinfo=UTC), "brand") for n in range(3)])
    assert cli("--config", config, "db", "check").code == 0
    with store.write() as session:
        session.execute(update(DailyAggregate).values(mentions=DailyAggregate.mentions + 1))
    found = cli("--config", config, "db", "check")
    assert found.code == 1, found
    assert "stream brand, day 2026-09-03: aggregates say 4 mentions" in found.out, found.out
    assert "the mentions say 3 mentions" in found.out and "--repair" in found.out
    repaired = cli("--config", config, "db", "check", "--repair")
    assert repaired.code == 0 and "repaired" in repaired.out, repaired
    assert cli("--config", config, "db", "check").code == 0
    store.close()


def test_another_zone_reads_the_raw_mentions_until_repaired(tmp_path: Path, db_url: str, cli: Any) -> None:
    store, ids = setup(db_url)
    put(store, ids, [item(1, datetime(2026, 9, 3, 23, 30, tzinfo=UTC), "brand")])
    config = write_config(tmp_path, db_url=db_url, streams=[], timezone="America/New_York")
    with store.read() as session:
        assert not aggregates.usable(session, ZoneInfo("America/New_York"))
    found = cli("--config", config, "db", "check")
    assert found.code == 1 and "time zone Europe/Vienna" in found.out, found
    assert cli("--config", config, "db", "check", "--repair").code == 0
    with store.read() as session:
        assert aggregates.usable(session, ZoneInfo("America/New_York"))
        cells = aggregates.daily(session, [ids["brand"]], date(2026, 9, 1), date(2026, 9, 5))
    assert {d: v[0] for d, v in cells.items()} == {date(2026, 9, 3): 1}  # 19:30 in New York
    store.close()


def test_the_migration_builds_the_aggregates_of_existing_mentions(db_url: str) -> None:
    from sqlalchemy import text

    from tracker.store.db import upgrade

    store, ids = setup(db_url)
    put(store, ids, [item(n, datetime(2026, 9, 4, 21, 30, tzinfo=UTC), "brand", "other") for n in range(4)])
    with store.write() as session:  # the store as it was before this revision
        session.execute(text("DROP TABLE daily_aggregates"))
        session.execute(text("DROP TABLE aggregate_meta"))
        session.execute(text("DROP TABLE post_engagement"))
        session.execute(text("DROP TABLE daily_scorers"))
        session.execute(text("UPDATE alembic_version SET version_num = '0006_i21'"))
    upgrade(store, ZONE.key)
    assert check(store) == []
    with store.read() as session:
        cells = aggregates.daily(session, [ids["other"]], date(2026, 9, 1), date(2026, 9, 9))
    assert {d: v[0] for d, v in cells.items()} == {date(2026, 9, 4): 4}  # 23:30 in Vienna
    store.close()


def test_writers_of_the_same_mentions_at_once_keep_the_cells_right(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store, ids = setup(db_url)
    day = datetime(2026, 9, 5, 9, 0, tzinfo=UTC)

    def write(stream: str) -> None:  # each writer sees the same 30 mentions, for its own stream
        for start in range(0, 30, 10):
            put(store, ids, [item(n, day + timedelta(minutes=n), stream) for n in range(start, start + 10)])

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(write, ["brand", "other", "rival"]))
    assert check(store) == []
    with store.read() as session:
        cells = aggregates.daily(session, list(ids.values()), day.date(), day.date())
    assert cells[day.date()][0] == 30
    store.close()


# -- engagement at the fixed age (own posts) -----------------------------------------------------

AGE = timedelta(hours=48)
POSTED = datetime(2026, 9, 10, 9, 0, tzinfo=UTC)  # 11:00 in Vienna


def own(n: int, when: datetime, likes: int, *streams: str) -> Item:
    return Item(platform="mastodon", external_id=f"https://m.example/own/{n}", text="our launch", lang="en",
                created_at=when, kind="own", likes=likes, streams=streams or ("brand",))  # fmt: skip


def read_at(store: Store, ids: dict[str, int], items: list[Item], now: datetime) -> None:
    """A refresh at a fixed age: every figure goes into the history (tracker/refresh.py)."""
    with store.write() as session:
        upsert_items(session=session, items=items, stream_ids=ids, now=now, readings=True)


def engagement_both(store: Store, stream_ids: list[int], first: date, last: date, now: datetime) -> Any:
    """Per-post engagement and the daily mean, from the raw history and from the aggregates."""
    out = []
    for use in (False, True):
        with store.read() as session:
            posts = metrics.engagement_posts(session, stream_ids, first, last, ZONE, AGE, now, use_aggregates=use)
            means = metrics._engagement(session, stream_ids, first, last, ZONE, AGE, now, use_aggregates=use)
        out.append(({d: sorted(v) for d, v in posts.items()},
                    {d: (pytest.approx(v.value), v.weight) for d, v in means.items()}))  # fmt: skip
    return out


def test_engagement_at_the_fixed_age_follows_import_and_refresh(db_url: str) -> None:
    store, ids = setup(db_url)
    day = POSTED.astimezone(ZONE).date()
    with store.write() as session:
        upsert_items(session=session, items=[own(1, POSTED, 3), own(2, POSTED, 40)], stream_ids=ids,
                     now=POSTED + timedelta(hours=1))  # fmt: skip
    later = POSTED + timedelta(days=30)
    with store.read() as session:
        assert aggregates.posts(session, [ids["brand"]], day, day) == {day: [3.0, 40.0]}
    read_at(store, ids, [own(1, POSTED, 9), own(2, POSTED, 41)], POSTED + timedelta(hours=24))
    read_at(store, ids, [own(1, POSTED, 50)], POSTED + timedelta(hours=72))  # after the age: not counted
    put(store, ids, [own(1, POSTED, 50), own(2, POSTED, 41)])  # the same file imported again
    with store.read() as session:
        assert aggregates.posts(session, [ids["brand"]], day, day) == {day: [9.0, 41.0]}
        cell = aggregates.daily(session, [ids["brand"]], day, day)[day]
    assert cell[5] == 2 and cell[6] == 50
    raw, cells = engagement_both(store, [ids["brand"]], day - timedelta(days=1), day + timedelta(days=1), later)
    assert raw == cells and raw[0] == {day: [9.0, 41.0]}
    # found later by a second stream: one row per stream, the post counted once for both
    put(store, ids, [own(2, POSTED, 41, "other")])
    with store.read() as session:
        assert aggregates.posts(session, [ids["brand"], ids["other"]], day, day) == {day: [9.0, 41.0]}
    assert check(store) == []
    store.close()


def test_the_day_not_yet_old_enough_counts_the_posts_already_that_old(db_url: str) -> None:
    """On the day `now - age` falls in, only the posts already `age` old count: from their own-post
    rows (their figure no longer changes), as from the history."""
    store, ids = setup(db_url)
    posts = [own(n, POSTED + timedelta(hours=7 * n), 10 + n) for n in range(12)]  # 3.5 days of posts
    with store.write() as session:
        upsert_items(session=session, items=posts, stream_ids=ids, now=POSTED + timedelta(days=4))
    first, last = POSTED.date() - timedelta(days=1), POSTED.date() + timedelta(days=5)
    for hours in (60, 75, 90, 100, 130):  # `now` - 48 h falls inside a day, or past them all
        raw, cells = engagement_both(store, [ids["brand"]], first, last, POSTED + timedelta(hours=hours))
        assert raw == cells, hours
    store.close()


def test_a_deleted_own_post_leaves_its_rows(db_url: str) -> None:
    store, ids = setup(db_url)
    day = POSTED.astimezone(ZONE).date()
    put(store, ids, [own(1, POSTED, 5), own(2, POSTED, 7)])
    with store.read() as session:
        known = {m.external_id: m.id for m in session.query(Mention)}
    _store(store, "brand", ids["brand"], known, Refreshed(items=[], deleted=["https://m.example/own/1"]),
           RefreshReport())  # fmt: skip
    with store.read() as session:
        assert aggregates.posts(session, [ids["brand"]], day, day) == {day: [7.0]}
        assert aggregates.daily(session, [ids["brand"]], day, day)[day][5:7] == (1, 7)
    assert check(store) == []
    store.close()


def test_db_check_finds_a_tampered_post_and_repairs_it(tmp_path: Path, db_url: str, cli: Any) -> None:
    from tracker.store.models import PostEngagement

    config = write_config(tmp_path, db_url=db_url, streams=[])
    store, ids = setup(db_url)
    put(store, ids, [own(1, POSTED, 5)])
    assert cli("--config", config, "db", "check").code == 0
    with store.write() as session:
        session.execute(update(PostEngagement).values(engagement=PostEngagement.engagement + 100))
    found = cli("--config", config, "db", "check")
    assert found.code == 1, found
    assert "own post #" in found.out and "aggregates say engagement 105" in found.out, found.out
    assert "the mentions say engagement 5" in found.out
    with store.write() as session:
        session.execute(update(DailyAggregate).values(engagement=DailyAggregate.engagement + 1))
    found = cli("--config", config, "db", "check")
    assert found.code == 1 and "engagement 6 at the fixed age" in found.out, found.out
    assert cli("--config", config, "db", "check", "--repair").code == 0
    assert cli("--config", config, "db", "check").code == 0
    store.close()


def test_another_engagement_age_reads_the_history_until_repaired(tmp_path: Path, db_url: str, cli: Any) -> None:
    store, ids = setup(db_url)
    put(store, ids, [own(1, POSTED, 5)])
    config = write_config(tmp_path, db_url=db_url, streams=[], extra='[experiments]\nengagement_age = "24h"\n')
    with store.read() as session:
        assert aggregates.usable(session, ZONE, AGE) and not aggregates.usable(session, ZONE, timedelta(hours=24))
    found = cli("--config", config, "db", "check")
    assert found.code == 1 and "aggregated at age 48 hours" in found.out, found
    assert cli("--config", config, "db", "check", "--repair").code == 0
    with store.read() as session:
        assert aggregates.usable(session, ZONE, timedelta(hours=24))
    store.close()


def test_the_migration_builds_engagement_for_existing_posts(db_url: str) -> None:
    from sqlalchemy import text

    from tracker.store.db import upgrade

    store, ids = setup(db_url)
    day = POSTED.astimezone(ZONE).date()
    with store.write() as session:
        upsert_items(session=session, items=[own(1, POSTED, 3)], stream_ids=ids, now=POSTED + timedelta(hours=1))
    read_at(store, ids, [own(1, POSTED, 8)], POSTED + timedelta(hours=20))
    read_at(store, ids, [own(1, POSTED, 30)], POSTED + timedelta(hours=30))
    with store.write() as session:  # the store as 0006_i22 left it
        session.execute(text("DROP TABLE post_engagement"))
        session.execute(text("DROP TABLE daily_scorers"))
        session.execute(text("ALTER TABLE daily_aggregates DROP COLUMN engagement"))
        session.execute(text("ALTER TABLE daily_aggregates DROP COLUMN sentiment_sq"))
        session.execute(text("DELETE FROM aggregate_meta WHERE name = 'engagement_age'"))
        session.execute(text("UPDATE alembic_version SET version_num = '0006_i22'"))
    upgrade(store, ZONE.key, timedelta(hours=24))  # the config's age: the reading at 20 h
    with store.read() as session:
        assert aggregates.usable(session, ZONE, timedelta(hours=24))
        assert aggregates.posts(session, [ids["brand"]], day, day) == {day: [8.0]}
        assert aggregates.daily(session, [ids["brand"]], day, day)[day][6] == 8
        assert aggregates.differences(session.connection(), ZONE, timedelta(hours=24)) == []
    store.close()


def test_the_scorers_of_a_window_follow_a_rescoring(db_url: str) -> None:
    from tracker.labels import scorers_between

    store, ids = setup(db_url)
    day = datetime(2026, 9, 6, 10, 0, tzinfo=UTC)
    put(store, ids, [item(n, day, "brand") for n in range(3)] + [item(9, day, "rival")])
    local = day.astimezone(ZONE).date()
    with store.read() as session:
        assert aggregates.scorers(session, [ids["brand"]], local, local) == ["vader"]
        mention_id = session.query(Mention.id).filter(Mention.external_id.endswith("/s/1")).scalar()
    with store.write() as session:  # a language model rescoring one mention (tracker/labels.py)
        change = aggregates.Change(session)
        change.before([mention_id])
        session.execute(update(Mention).where(Mention.id == mention_id).values(sentiment_scorer="model:en:2"))
        change.after()
    assert check(store) == []
    with store.read() as session:
        assert aggregates.scorers(session, [ids["brand"]], local, local) == ["model:en:2", "vader"]
        assert aggregates.scorers(session, [ids["rival"]], local, local) == ["vader"]
        assert scorers_between(session, [ids["brand"]], local, local, ZONE) == ["model:en:2", "vader"]
    with store.write() as session:
        session.execute(text_sql("UPDATE daily_scorers SET scored = scored + 1"))
    found = check(store)
    assert found and all(isinstance(d, aggregates.ScorerDifference) for d in found)
    store.close()


def text_sql(statement: str) -> Any:
    from sqlalchemy import text

    return text(statement)


def test_each_streams_figures_at_once_equal_each_stream_alone(db_url: str) -> None:
    """`metrics.daily_each` (the overview's weeks and spikes: one read for all streams) gives
    each stream what `daily` gives it alone: a mention in two streams in both, a deleted post
    in neither, own posts of the day not yet old enough from the history, and the same from the
    raw mentions when the aggregates are in another zone."""
    store, ids = setup(db_url)
    posts = [
        own(n, POSTED + timedelta(hours=7 * n), 10 + n, "brand" if n % 3 else "other") for n in range(12)
    ]
    posts.append(own(20, POSTED + timedelta(hours=30), 99, "brand", "other"))  # in both streams
    mentions = [item(n, POSTED + timedelta(hours=5 * n), "brand", "rival" if n % 2 else "brand",
                     text="acme is awful" if n % 4 == 0 else "acme is great") for n in range(15)]  # fmt: skip
    with store.write() as session:
        upsert_items(session=session, items=posts + mentions, stream_ids=ids, now=POSTED + timedelta(days=4))
    read_at(store, ids, [own(1, POSTED + timedelta(hours=7), 30, "brand")], POSTED + timedelta(hours=20))
    with store.read() as session:
        known = {m.external_id: m.id for m in session.query(Mention)}
    _store(store, "brand", ids["brand"], known, Refreshed(items=[], deleted=["https://m.example/s/3"]),
           RefreshReport())  # fmt: skip
    first, last = POSTED.date() - timedelta(days=1), POSTED.date() + timedelta(days=5)
    all_ids = [ids["brand"], ids["other"], ids["rival"]]
    for zone in (ZONE, ZoneInfo("Asia/Tokyo")):  # the aggregates' zone, and one they are not in
        for hours in (60, 90, 130):  # `now` - 48 h inside a day, or past them all
            now = POSTED + timedelta(hours=hours)
            with store.read() as session:
                for metric in metrics.EACH_METRICS:
                    each = metrics.daily_each(
                        session, metric, all_ids, first, last, zone, engagement_age=AGE, now=now
                    )
                    for stream in all_ids:
                        alone = metrics.daily(
                            session, metric, [stream], first, last, zone, engagement_age=AGE, now=now
                        )
                        assert {d: (pytest.approx(v.value), v.weight) for d, v in alone.items()} == {
                            d: (v.value, v.weight) for d, v in each[stream].items()
                        }, (zone, hours, metric, stream)
                    assert any(each[s] for s in all_ids), metric
    store.close()


def test_a_mention_seen_again_at_another_time_keeps_its_own_time_in_every_stream(db_url: str) -> None:
    """An undated feed entry is stamped when first seen, so a second stream finds it at another
    time: the new link copies the stored mention's time, and every reader gives one day for it
    (the aggregates, the raw counts, the own posts already as old as the fixed age)."""
    store, ids = setup(db_url)
    first = POSTED - timedelta(days=5)
    put(store, ids, [item(1, first, "brand"), own(2, first, 7)])
    put(store, ids, [item(1, POSTED, "other"), own(2, POSTED, 7, "other")])  # the same two, 5 days on
    with store.read() as session:
        times = session.execute(text_sql(
            "SELECT ms.created_at = m.created_at FROM mention_streams ms JOIN mentions m ON m.id = ms.mention_id"
        )).scalars().all()  # fmt: skip
    assert len(times) == 4 and all(times)
    assert check(store) == []
    day = first.astimezone(ZONE).date()
    raw, cells = raw_and_cells(store, [ids["other"]], day - timedelta(days=1), day + timedelta(days=7))
    assert raw == cells and raw[0] == {day: 2}
    later = POSTED + timedelta(days=3)
    raw_posts, cell_posts = engagement_both(store, [ids["other"]], day, day + timedelta(days=7), later)
    assert raw_posts == cell_posts and raw_posts[0] == {day: [7.0]}
    store.close()


def test_the_migration_gives_links_their_mentions_time_and_rebuilds_the_cells(db_url: str) -> None:
    from tracker.store.db import upgrade

    store, ids = setup(db_url)
    put(store, ids, [item(1, POSTED, "brand", "other"), item(2, POSTED, "brand")])
    with store.write() as session:  # a link as the ingest wrote it before 0009_h22c, cells to match
        session.execute(text_sql(
            "UPDATE mention_streams SET created_at = :t WHERE stream_id = :s"
        ), {"t": datetime(2026, 9, 20, 12, 0), "s": ids["other"]})  # fmt: skip
        aggregates.rebuild(session.connection(), ZONE)
        session.execute(text_sql("UPDATE alembic_version SET version_num = '0008_h22b'"))
    upgrade(store, ZONE.key)
    with store.read() as session:
        assert session.execute(text_sql(
            "SELECT count(*) FROM mention_streams ms JOIN mentions m ON m.id = ms.mention_id "
            "WHERE ms.created_at <> m.created_at"
        )).scalar() == 0  # fmt: skip
        other = aggregates.daily(session, [ids["other"]], date(2026, 9, 1), date(2026, 9, 30))
    assert {d: v[0] for d, v in other.items() if v[0]} == {POSTED.astimezone(ZONE).date(): 1}
    assert check(store) == []
    store.close()
