"""Own posts have a partial time index of their own (migration 0010_h22d), in place of the
(kind, created_at) index every mention used to enter at a random place on a backfill.

What must hold: the upgrade replaces the old index; the filters on the kind (the mentions
page's `kind=own`, the query language's `kind:own`, the engagement of own posts) return exactly
the mentions of that kind; on SQLite the own posts are read through the partial index; the kind
reaches SQL as a literal, so that PostgreSQL's generic plans can use the index as well.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.dialects import postgresql

from connectors.base import Item
from tests.support import stored_world
from tracker.config import Settings
from tracker.store.db import HEAD_REVISION, Store, upgrade
from tracker.store.models import Mention
from tracker.store.queries import kind_is
from tracker.web.queries import MentionFilter, search_mentions

FIRST = date(2026, 9, 1)


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[tuple[Store, Settings]]:
    rng = random.Random(10)
    start = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC)
    items = [
        Item(platform="mastodon", external_id=str(i), text=f"launch news {i}",
             created_at=start + timedelta(minutes=rng.randrange(20 * 24 * 60)),
             kind="own" if rng.random() < 0.1 else "mention", likes=rng.randrange(9),
             streams=("ours",), lang="en", sentiment=0.0)
        for i in range(400)
    ]  # fmt: skip
    with stored_world(tmp_path, db_url, ["ours"], items, start + timedelta(days=21)) as world:
        yield world


def _index_sql(store: Store, name: str) -> str | None:
    with store.read() as session:
        if store.dialect == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
        found = session.scalar(text(query), {"name": name})
    return None if found is None else str(found)


def _newest_of_kind(store: Store, kind: str) -> list[int]:
    with store.read() as session:
        rows = session.execute(select(Mention.id, Mention.kind, Mention.created_at)).all()
    rows = sorted((r for r in rows if r.kind == kind), key=lambda r: (r.created_at, r.id), reverse=True)
    return [r.id for r in rows]


def test_the_upgrade_replaces_the_kind_index_with_one_of_own_posts(world: tuple[Store, Settings]) -> None:
    store, settings = world
    with store.write() as session:  # the store as revision 0009_h22c left it
        session.execute(text("DROP INDEX ix_mentions_own_created_at"))
        session.execute(text("CREATE INDEX ix_mentions_kind_created_at ON mentions (kind, created_at)"))
        session.execute(text("UPDATE alembic_version SET version_num = '0009_h22c'"))
    assert _index_sql(store, "ix_mentions_own_created_at") is None
    upgrade(store, settings.organisation.timezone)
    with store.read() as session:
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == HEAD_REVISION
    assert _index_sql(store, "ix_mentions_kind_created_at") is None
    made = _index_sql(store, "ix_mentions_own_created_at")
    assert made is not None
    assert "created_at" in made and "WHERE" in made.upper() and "'own'" in made, made


def test_the_filters_on_the_kind_return_exactly_that_kind(world: tuple[Store, Settings]) -> None:
    store, settings = world
    for kind in ("own", "mention"):
        expected = _newest_of_kind(store, kind)
        assert expected, f"the fixture holds {kind} mentions"
        with store.read() as session:
            by_filter = search_mentions(session, settings, MentionFilter(kind=kind, per_page=500))
            by_query = search_mentions(session, settings, MentionFilter(q=f"kind:{kind}", per_page=500))
        assert [m["id"] for m in by_filter.mentions] == expected
        assert by_filter.total == len(expected)
        assert [m["id"] for m in by_query.mentions] == expected


def test_own_posts_are_read_through_their_partial_index(world: tuple[Store, Settings]) -> None:
    store, settings = world
    if store.dialect != "sqlite":
        pytest.skip("the query plan is SQLite's (PostgreSQL chooses by its statistics)")
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "'own'" in statement and "FROM mentions" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.read() as session:
            page = search_mentions(session, settings, MentionFilter(kind="own", per_page=5), count=False)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert [m["id"] for m in page.mentions] == _newest_of_kind(store, "own")[:5]
    assert statements, "the kind was written as a literal"
    with store.read() as session:
        plans = [
            " | ".join(row[-1] for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p))
            for s, p in statements
        ]
    assert any("ix_mentions_own_created_at" in plan for plan in plans), plans


def test_the_kind_reaches_sql_as_a_literal() -> None:
    compiled = str(kind_is("own").compile(dialect=postgresql.dialect()))
    assert compiled == "mentions.kind = 'own'"
    with pytest.raises(ValueError):
        kind_is("own' OR '1'='1")
