"""The ingest path stores exactly what it stored before it was made faster (issue 21, item 6).

One corpus (new mentions, repeated texts, hashtags, handles, accents, mentions without a
score or a language, copies within a batch, re-seen mentions with new figures, an edited
text, a second stream, a refresh reading, own posts, days split at local midnight) goes
through `upsert_items` on SQLite. Every stored value of the tables the ingest path writes
(mentions, stream links, engagement history, the search rows, the FTS5 index's own
segments and its terms, the daily aggregates) is hashed per table; the hashes were taken
with the code before the speed work (main at e4ba768). A change of stored values that is
meant must update them, and say why in its commit.

The daily aggregates are hashed on the columns they had then; their later columns
(engagement at the fixed age, the sum of squared scores), the own posts' rows and the
scored mentions per scorer are hashed in LATER, taken on main at 9b0eaac, before the
aggregates of new mentions were computed from the values written instead of read back.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import Item
from tracker import ingest
from tracker.store.db import Store, open_store
from tracker.store.models import Stream

ZONE = "Europe/Vienna"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STREAMS = ("brand", "other", "rival")

# sha256 of each table's rows, taken on main at e4ba768 (before the ingest speed work).
EXPECTED = {
    "mentions": "b1edbb2ffebb977e3bbd38d10e3f8492adca6f26797cb1946af56f4b1478857b",
    "mention_streams": "997ec7b58b911a9a1c2ab0debd1e78d43a4fb3f7cef9e7937ab8fcbda20d602c",
    "engagement_history": "d16d8d28a2240d3a6ac381cd65372524cc7d2f13c951115cb85e90696673feaa",
    "mention_search": "aaa40b510ad8e54622b80509fb4ce70f0f7cded232567a13c5e5f95f9f6ec1d8",
    "daily_aggregates": "54e2f52da5359c6e327b6fdc5a22a0f81cfd5150f29b2337e28b680cb4635d10",
    "mention_fts_data": "7256da598191678de353243a4dfc44d1cc5fb8a01c1460ec52e410f86eecc7ba",
    "fts_terms": "607b0c0b918f959dcdca67d97d3ceb50268a2354f92d2b91afb095efc3d3286b",
}

# sha256 of the aggregates' later columns and tables, taken on main at 9b0eaac.
LATER = {
    "daily_aggregates_later": "b65a1a627703b65c7b25ef1969df1139e9747952f9e8d2c38167d32d984b2eaf",
    "post_engagement": "71a0410f679a4e84c40dc21ce026a9bd4aeff2a05f12bdc76f0d2977dd831681",
    "daily_scorers": "015bf4fa0f57f891d763897e69a18d11b1a90b010aca65ea968e8c0b5ed68add",
}

WORDS = "acme cloud outage broken hiring great support update love slow fast pricing".split()
EXTRA = ["Österreich", "café", "#acme", "@acme", "#AcmeCloud", "@support_team", "Straße", "日本", "ça"]


def corpus(seed: int = 5) -> list[list[Item]]:
    """Three batches: new mentions, then re-seen and new ones, then a copy of the second."""
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, 21, 30, tzinfo=UTC)  # 23:30 in Vienna: days split at midnight
    texts = [" ".join(rng.choice(WORDS + EXTRA) for _ in range(rng.randint(1, 12))) for _ in range(120)]

    def make(n: int, **over: Any) -> Item:
        platform = ("mastodon", "bluesky", "reddit")[n % 3]
        values: dict[str, Any] = {
            "platform": platform,
            "external_id": f"{platform}:{n}",
            "text": rng.choice(texts),  # repeated texts, as reposts are
            "created_at": start + timedelta(minutes=17 * n),
            "url": f"https://example.org/{n}" if n % 4 else None,
            "author": (f"@User{n % 9}", f"Ünï{n % 5}", None)[n % 3],
            "lang": ("en", None, "de", "en-GB")[n % 4],
            "kind": "own" if n % 11 == 0 else "mention",
            "likes": n % 7 if n % 5 else None,
            "reposts": n % 3 if n % 2 else None,
            "replies": None if n % 6 else 1,
            "sentiment": round(rng.uniform(-1, 1), 4) if n % 3 == 0 else None,
            "streams": tuple(rng.sample(STREAMS, rng.randint(1, 2))),
        }
        values.update(over)
        return Item(**values)

    first = [make(n) for n in range(400)]
    first += [make(n, likes=99) for n in range(0, 40, 4)]  # copies within the batch: the later wins
    second = [make(n, likes=(n % 7) + 3) for n in range(0, 100, 2)]  # new figures
    second += [make(n, text="Acme cloud is broken again #outage") for n in range(1, 60, 6)]  # edited
    second += [make(n, streams=("rival",)) for n in range(3, 90, 9)]  # found by another stream
    second += [make(n, sentiment=0.5) for n in range(5, 50, 10)]  # a score given later
    second += [make(n) for n in range(400, 520)]  # new ones
    return [first, second, list(second)]


def build(path: Path) -> Store:
    store = open_store(f"sqlite:///{path}", ZONE)
    with store.write() as session:
        for name in STREAMS:
            session.add(Stream(name=name, connector="mastodon", role="brand", source="config", created_at=NOW))
    with store.read() as session:
        ids = {s.name: s.id for s in session.query(Stream)}
    for n, batch in enumerate(corpus()):
        with store.write() as session:
            ingest.upsert_items(
                session=session, items=batch, stream_ids=ids, now=NOW + timedelta(hours=n), readings=n == 2
            )
    return store


QUERIES = {
    "mentions": "SELECT * FROM mentions ORDER BY id",
    "mention_streams": "SELECT * FROM mention_streams ORDER BY mention_id, stream_id",
    "engagement_history": "SELECT * FROM engagement_history ORDER BY id",
    "mention_search": "SELECT * FROM mention_search ORDER BY mention_id",
    "daily_aggregates": "SELECT streams, day, mentions, scored, sentiment_sum, positive, negative, own"
    " FROM daily_aggregates ORDER BY streams, day",
    "mention_fts_data": "SELECT id, hex(block) FROM mention_fts_data ORDER BY id",
    "fts_terms": "SELECT term, doc, col, offset FROM temp.fts_terms ORDER BY term, doc, col, offset",
    "daily_aggregates_later": "SELECT streams, day, engagement, sentiment_sq FROM daily_aggregates"
    " ORDER BY streams, day",
    "post_engagement": "SELECT * FROM post_engagement ORDER BY stream_id, day, mention_id",
    "daily_scorers": "SELECT * FROM daily_scorers ORDER BY streams, day, scorer",
}


def digests(store: Store) -> dict[str, str]:
    with store.read() as session:
        connection = session.connection()
        connection.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_terms USING fts5vocab(main, mention_fts, instance)"
        )
        found = {}
        for name, sql in QUERIES.items():
            rows = connection.exec_driver_sql(sql).all()
            assert rows, name  # every table has rows: the corpus exercises it
            found[name] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    return found


def test_stored_values_are_those_before_the_speed_work(tmp_path: Path) -> None:
    store = build(tmp_path / "t.db")
    try:
        assert digests(store) == EXPECTED | LATER
    finally:
        store.close()
