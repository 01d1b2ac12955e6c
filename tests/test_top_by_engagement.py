"""Mentions sorted by engagement (the overview's most engaging of the week, the mentions page's
`sort=engagement`): the page's ids are sorted first, then their rows read.

The pages must be exactly what sorting every match would give (ties broken by newest, then
highest id), for a period alone, a stream, a query and later pages; and on SQLite the sort
must read the time index alone (it holds engagement since migration 0008_h22b), which is what
keeps the overview flat at 3,000,000 mentions (bench/RESULTS.md).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

from connectors.base import Item
from tests.support import stored_world
from tracker.config import Settings
from tracker.store.db import Store
from tracker.store.models import Mention, MentionStream, Stream
from tracker.timeutil import day_bounds
from tracker.web.queries import MentionFilter, search_mentions, top_mentions

FIRST = date(2026, 9, 1)
WORDS = ["acme", "launch", "outage", "pricing", "support"]


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[tuple[Store, Settings]]:
    rng = random.Random(22)
    start = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC)
    items = [
        Item(platform="hackernews", external_id=str(i), text=f"{rng.choice(WORDS)} post {i}",
             created_at=start + timedelta(minutes=rng.randrange(10 * 24 * 60)),
             likes=rng.randrange(6),  # few values: many ties, broken by time and id
             streams=("a",) if i % 3 else ("a", "b"), lang="en", sentiment=0.0)
        for i in range(600)
    ]  # fmt: skip
    with stored_world(tmp_path, db_url, ["a", "b"], items, start + timedelta(days=11)) as world:
        yield world


def _expected(store: Store, settings: Settings, f: MentionFilter) -> list[int]:
    """Every mention of the filter, sorted in Python: engagement, then newest, then highest id."""
    zone = settings.organisation.zone
    lo = day_bounds(f.since, f.since, zone)[0] if f.since else None
    hi = day_bounds(f.until, f.until, zone)[1] if f.until else None
    with store.read() as session:
        query = select(Mention.id, Mention.engagement, Mention.created_at, Mention.text)
        if f.stream:
            query = (query.join(MentionStream, MentionStream.mention_id == Mention.id)
                     .join(Stream, Stream.id == MentionStream.stream_id).where(Stream.name == f.stream))  # fmt: skip
        rows = session.execute(query).all()
    kept = [r for r in rows if (lo is None or r.created_at >= lo) and (hi is None or r.created_at < hi)
            and (not f.q or f.q in r.text.split())]  # fmt: skip
    kept.sort(key=lambda r: (r.engagement, r.created_at, r.id), reverse=True)
    first = (f.page - 1) * f.per_page
    return [r.id for r in kept[first : first + f.per_page]]


FILTERS = [
    MentionFilter(since=FIRST + timedelta(days=2), until=FIRST + timedelta(days=8), sort="engagement", per_page=5),
    MentionFilter(since=FIRST + timedelta(days=2), until=FIRST + timedelta(days=8), sort="engagement",
                  per_page=7, page=3),
    MentionFilter(stream="b", since=FIRST + timedelta(days=1), sort="engagement", per_page=6, page=2),
    MentionFilter(q="outage", until=FIRST + timedelta(days=6), sort="engagement", per_page=4, page=2),
    MentionFilter(sort="engagement", per_page=25, page=24),  # the last, short page
]  # fmt: skip


@pytest.mark.parametrize("f", FILTERS, ids=["week", "week-page-3", "stream", "query", "last-page"])
def test_pages_by_engagement_are_what_sorting_every_match_gives(
    world: tuple[Store, Settings], f: MentionFilter
) -> None:
    store, settings = world
    with store.read() as session:
        page = search_mentions(session, settings, f)
    expected = _expected(store, settings, f)
    assert expected, "the filter matches something"
    assert [m["id"] for m in page.mentions] == expected
    assert page.has_next == (f.page * f.per_page < page.total)


def test_the_weeks_most_engaging_are_sorted_from_the_time_index_alone(world: tuple[Store, Settings]) -> None:
    store, settings = world
    if store.dialect != "sqlite":
        pytest.skip("the query plan is SQLite's (PostgreSQL chooses by its statistics)")
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "ORDER BY mentions.engagement DESC" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.read() as session:
            top = top_mentions(session, settings, FIRST + timedelta(days=3), FIRST + timedelta(days=9))
            assert [m["id"] for m in top] == _expected(
                store, settings, MentionFilter(since=FIRST + timedelta(days=3), until=FIRST + timedelta(days=9),
                                               sort="engagement", per_page=5),
            )  # fmt: skip
            assert statements, "the top mentions were read with an engagement sort"
            statement, parameters = statements[0]
            plan = " | ".join(
                row[-1]
                for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert "COVERING INDEX ix_mentions_created_at" in plan, plan
    assert "SEARCH mentions USING INTEGER PRIMARY KEY" in plan, plan  # then only the page's rows


def test_the_time_index_holds_engagement_after_the_upgrade(world: tuple[Store, Settings]) -> None:
    store, _ = world
    with store.read() as session:
        if store.dialect == "sqlite":
            columns = [r[2] for r in session.execute(text("PRAGMA index_info(ix_mentions_created_at)"))]
        else:
            columns = list(session.scalars(text(
                "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE c.relname = 'ix_mentions_created_at' ORDER BY array_position(i.indkey, a.attnum)"
            )))  # fmt: skip
    assert columns == ["created_at", "id", "engagement"]
