"""Items -> mentions: one upsert shared by import and collection.

An item is stored once per (platform, external_id), however many streams or runs see
it. A re-seen item updates its figures, and every change of figures adds a row to the
engagement history, so engagement can be read at any age of a post. The daily aggregates
(tracker/aggregates.py) follow in the same transaction. Work is done per
batch in set-based statements (no query per row): this is the hot path of imports.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from connectors.base import Item
from tracker import aggregates, sentiment
from tracker.config import Settings
from tracker.search_index import search_row, write_rows
from tracker.store.bulk import Bulk
from tracker.store.db import insert_for
from tracker.store.enums import Role
from tracker.store.models import Mention, Stream
from tracker.store.queries import stream_ids, streams_by_name

MENTIONS = cast(Table, Mention.__table__)
FIGURES = ("likes", "reposts", "replies", "quotes")


@dataclass
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged

    @property
    def stored(self) -> int:
        return self.new + self.updated + self.unchanged

    def text(self) -> str:
        """The counts as the CLI says them: "3 new, 1 updated, 0 unchanged"."""
        return f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged"


def sync_streams(*, session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """Make sure every configured stream has a row (role and connector follow the config).

    Returns stream name -> id for every stream in the database. Rows are created with
    ON CONFLICT DO NOTHING: two workers starting at once on one database both succeed.
    """
    rows = streams_by_name(session)
    missing = [c for c in settings.streams if c.name not in rows]
    if missing:
        _create_streams(session, [(c.name, c.connector, c.role, "config") for c in missing], now)
        rows = streams_by_name(session)
    for conf in settings.streams:
        row = rows[conf.name]
        if (row.connector, row.role, row.source) != (conf.connector, conf.role, "config"):
            row.connector, row.role, row.source = conf.connector, conf.role, "config"
    session.flush()
    return {name: row.id for name, row in rows.items()}


def ensure_import_streams(
    *, session: Session, names: Iterable[str], known: dict[str, int], now: datetime
) -> dict[str, int]:
    """Create import-only streams for names that are neither configured nor stored yet."""
    missing = sorted(set(names) - known.keys())
    if missing:
        _create_streams(session, [(name, "import", Role.BRAND, "import") for name in missing], now)
        known.update(stream_ids(session, missing))
    return known


def _create_streams(session: Session, rows: list[tuple[str, str, str, str]], now: datetime) -> None:
    table = cast(Table, Stream.__table__)
    values = [{"name": n, "connector": c, "role": r, "source": s, "created_at": now} for n, c, r, s in rows]
    insert = insert_for(session.get_bind().dialect.name)(table).on_conflict_do_nothing(
        index_elements=["name"]
    )
    session.execute(insert, values)


Scored = Mapping[tuple[str, str], tuple[str | None, float | None]]


def upsert_items(
    *,
    session: Session,
    items: Sequence[Item],
    stream_ids: Mapping[str, int],
    now: datetime,
    scored: Scored | None = None,
    readings: bool = False,
    pending: aggregates.Pending | None = None,
) -> UpsertCounts:
    """Insert new items, update re-seen ones, record figure changes and stream links.

    With `readings` (a refresh at a fixed age) every re-seen item's figures go into the
    engagement history, changed or not, so the history holds each reading.
    Every stream an item names must be in `stream_ids`. Language (when missing) and
    sentiment (unless the item carries one) are computed for the new items in one batch;
    `scored` may hold them already, computed ahead by identity (the import's pipeline).
    With `pending`, the change of the daily aggregates is added there, for the caller to write
    before the transaction commits (the import sums its batches'); without, it is written here.
    """
    with _collector_paused():
        return _upsert(session, items, stream_ids, now, scored, readings, pending)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a batch is stored: the batch allocates tens of
    thousands of rows (tuples, none in a cycle), and the collections they set off scanned every
    live object again and again, 13% of the ingest's CPU time at 200,000 rows. The count of
    allocations goes on, so a collection runs as soon as it is back on."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _upsert(
    session: Session,
    items: Sequence[Item],
    stream_ids: Mapping[str, int],
    now: datetime,
    scored: Scored | None,
    readings: bool,
    pending: aggregates.Pending | None = None,
) -> UpsertCounts:
    counts = UpsertCounts()
    bulk = Bulk(session)
    merged = _dedupe(items)
    existing = _existing(bulk, list(merged))
    changes: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    new_history: list[tuple[Any, ...]] = []  # the first reading of each new item, as rows
    fresh: list[Item] = []
    for key, item in merged.items():
        old = existing.get(key)
        if old is None:
            fresh.append(item)
            continue
        change = _change(old, item, now)
        if change is None:
            counts.unchanged += 1
            if readings and any(old[f] is not None for f in FIGURES):
                history.append(_history_row(old["id"], old, now))
            continue
        counts.updated += 1
        changes.append(change)
        if any(f in change for f in FIGURES) or readings:
            history.append(_history_row(old["id"], {**old, **change}, now))
    # The daily aggregates change with the mentions, in this transaction (tracker/aggregates.py):
    # the stored mentions' part read here, before any change or link, and again at the end; the
    # new mentions' part is known from the values written (unless another writer stored some).
    cells = aggregates.Change(session, into=pending)
    ids = {key: row["id"] for key, row in existing.items()}  # every item's mention id
    known = list(ids.values())
    # Every item's created_at as stored: a link copies its mention's, so a mention seen again at
    # another time (an undated feed entry is stamped when first seen) keeps one day everywhere.
    link_times: dict[tuple[str, str], Any] = {key: row["created_at"] for key, row in existing.items()}
    if fresh:
        pairs = _scored_many(fresh, scored)
        stamp = bulk.time(now)
        times = [bulk.stored_time(item.created_at) for item in fresh]
        rows = [
            _new_values(bulk, item, stamp, created, lang, score)
            for item, created, (lang, score) in zip(fresh, times, pairs, strict=True)
        ]
        inserted, ours = _insert_new(bulk, rows)
        ids.update(inserted)
        counts.new += len(fresh)
        search_rows = []
        written: list[tuple[Any, ...]] = []
        written_links: list[tuple[int, int, datetime]] = []
        for item, created, row in zip(fresh, times, rows, strict=True):
            key = (item.platform, item.external_id)
            link_times[key] = created
            mention_id = inserted[key]
            search_rows.append(search_row(mention_id, item.text, item.author))
            figures = row[_LIKES:_ENGAGEMENT]
            if figures != _NO_FIGURES:
                new_history.append((mention_id, stamp, *figures, row[_ENGAGEMENT]))
            if ours:  # as aggregates' read gives it: id, sentiment, kind, deleted_at, created_at, ...
                engagement = row[_ENGAGEMENT]
                written.append((mention_id, row[_SENTIMENT], row[_KIND], None, created, engagement, None))
                moment = item.created_at
                if moment.tzinfo is None:  # as stored_time reads a naive time: local
                    moment = moment.astimezone()
                for name in item.streams:
                    written_links.append((mention_id, stream_ids[name], moment))
            else:
                known.append(mention_id)
        write_rows(bulk.connection, search_rows)
        cells.written(written, written_links)
    cells.before(known)
    if changes:
        _apply_changes(session, changes)
        _reindex_changed(bulk, changes, existing)
    if history or new_history:
        columns = ("mention_id", "observed_at", "likes", "reposts", "replies", "quotes", "engagement")
        bulk.insert(
            "engagement_history",
            columns,
            [(h["mention_id"], bulk.time(h["observed_at"]), *(h[c] for c in columns[2:])) for h in history]
            + new_history,
        )
    _link_streams(bulk, merged, ids, stream_ids, link_times)
    cells.after()
    return counts


def _dedupe(items: Sequence[Item]) -> dict[tuple[str, str], Item]:
    """One item per identity; a later copy wins, and stream names are merged."""
    merged: dict[tuple[str, str], Item] = {}
    for item in items:
        key = (item.platform, item.external_id)
        before = merged.get(key)
        if before is not None and before.streams != item.streams:
            names = tuple(dict.fromkeys(before.streams + item.streams))
            item = replace(item, streams=names)
        merged[key] = item
    return merged


_COLUMNS = (
    "id",
    "platform",
    "external_id",
    "url",
    "author",
    "text",
    "lang",
    "kind",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "sentiment",
    "created_at",  # stored form: a new link of a stored mention copies it (_link_streams)
)


def _existing(bulk: Bulk, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Stored rows for these identities, looked up per platform through the unique index."""
    rows = bulk.lookup("mentions", _COLUMNS, keys)
    found = {}
    for row in rows:
        record = dict(zip(_COLUMNS, row, strict=True))
        found[(record["platform"], record["external_id"])] = record
    return found


def _scored(item: Item) -> tuple[str | None, float | None]:
    """Language (detected when missing) and sentiment (kept when given)."""
    lang = item.lang or sentiment.detect_language(item.text)
    score = item.sentiment if item.sentiment is not None else sentiment.score(item.text, lang)
    return lang, score


def _scored_many(items: Sequence[Item], scored: Scored | None) -> list[tuple[str | None, float | None]]:
    """(language, sentiment) of each item: given values kept, the rest computed in one batch."""
    found: list[tuple[str | None, float | None]] = [(item.lang, item.sentiment) for item in items]
    todo = []
    for i, item in enumerate(items):
        if item.lang and item.sentiment is not None:
            continue
        ahead = scored.get((item.platform, item.external_id)) if scored else None
        if ahead is not None:
            lang = item.lang or ahead[0]
            found[i] = (lang, item.sentiment if item.sentiment is not None else ahead[1])
        else:
            todo.append(i)
    if todo:
        langs, scores = sentiment.languages_and_scores(
            [items[i].text for i in todo], [items[i].lang for i in todo]
        )
        for i, lang, score in zip(todo, langs, scores, strict=True):
            given = items[i].sentiment
            found[i] = (lang, given if given is not None else score)
    return found


def _change(old: Mapping[str, Any], item: Item, now: datetime) -> dict[str, Any] | None:
    """The columns that differ; figures the item does not report keep their known value."""
    change: dict[str, Any] = {}
    for name in FIGURES:
        value = getattr(item, name)
        if value is not None and value != old[name]:
            change[name] = value
    for name in ("url", "author"):
        value = getattr(item, name)
        if value is not None and value != old[name]:
            change[name] = value
    if item.kind == "own" and old["kind"] != "own":
        change["kind"] = "own"
    if item.text != old["text"] or (item.sentiment is not None and item.sentiment != old["sentiment"]):
        lang, score = _scored(item)
        change.update(text=item.text, lang=lang, sentiment=score, sentiment_label=sentiment.label(score))
    elif item.lang is not None and item.lang != old["lang"]:
        lang, score = _scored(replace(item, sentiment=None) if item.sentiment is None else item)
        change.update(lang=lang, sentiment=score, sentiment_label=sentiment.label(score))
    if not change:
        return None
    if any(f in change for f in FIGURES):
        merged = {f: change.get(f, old[f]) for f in FIGURES}
        change.update(merged)
        change["engagement"] = sum(v or 0 for v in merged.values())
    if item.raw is not None:
        change["raw"] = item.raw
    change["updated_at"] = now
    change["id"] = old["id"]
    return change


def _history_row(mention_id: int, figures: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    values = {f: figures.get(f) for f in FIGURES}
    return {
        "mention_id": mention_id,
        "observed_at": now,
        "engagement": sum(v or 0 for v in values.values()),
        **values,
    }


def _apply_changes(session: Session, changes: list[dict[str, Any]]) -> None:
    """One executemany per shape of change (the set of changed columns)."""
    table = MENTIONS
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        shape = tuple(sorted(k for k in change if k != "id"))
        by_shape.setdefault(shape, []).append(change)
    for shape, rows in by_shape.items():
        params = [{"_id": r["id"], **{k: r[k] for k in shape}} for r in rows]
        stmt = update(table).where(table.c.id == bindparam("_id")).values({k: bindparam(k) for k in shape})
        session.connection().execute(stmt, params)


def _reindex_changed(
    bulk: Bulk, changes: list[dict[str, Any]], existing: Mapping[tuple[str, str], Mapping[str, Any]]
) -> None:
    """Keep the full-text index in step with changed texts and authors."""
    by_id = {row["id"]: row for row in existing.values() if "text" in row}
    rows = [
        search_row(c["id"], c.get("text", by_id[c["id"]]["text"]), c.get("author", by_id[c["id"]]["author"]))
        for c in changes
        if "text" in c or "author" in c
    ]
    write_rows(bulk.connection, rows, replace=True)


def _link_streams(
    bulk: Bulk,
    merged: Mapping[tuple[str, str], Item],
    ids: Mapping[tuple[str, str], int],
    stream_ids: Mapping[str, int],
    times: Mapping[tuple[str, str], Any],
) -> None:
    links = [
        (ids[key], stream_ids[name], times[key])
        for key, item in merged.items()
        for name in item.streams
    ]
    bulk.insert(
        "mention_streams", ("mention_id", "stream_id", "created_at"), links, conflict="mention_id, stream_id"
    )


_NEW = (
    "platform",
    "external_id",
    "url",
    "author",
    "text",
    "lang",
    "created_at",
    "kind",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "engagement",
    "sentiment",
    "sentiment_label",
    "raw",
    "first_seen_at",
    "updated_at",
    "date_estimated",
)

# Where _new_values puts the columns the ingest reads back (the history, the aggregates).
_KIND, _LIKES, _ENGAGEMENT, _SENTIMENT = (_NEW.index(c) for c in ("kind", "likes", "engagement", "sentiment"))
assert _NEW[_LIKES:_ENGAGEMENT] == FIGURES
_NO_FIGURES = (None,) * len(FIGURES)


def _new_values(
    bulk: Bulk, item: Item, stamp: Any, created: Any, lang: str | None, score: float | None
) -> tuple[Any, ...]:
    """A new mention's row in the column order of _NEW, values in storage form (`stamp`: now,
    `created`: its created_at, both stored)."""
    return (
        item.platform,
        item.external_id,
        item.url,
        item.author,
        item.text,
        lang,
        created,
        item.kind,
        item.likes,
        item.reposts,
        item.replies,
        item.quotes,
        (item.likes or 0) + (item.reposts or 0) + (item.replies or 0) + (item.quotes or 0),  # Item.engagement
        score,
        sentiment.label(score),
        bulk.json(item.raw),
        stamp,
        stamp,
        item.date_estimated,
    )


def _insert_new(bulk: Bulk, rows: list[tuple[Any, ...]]) -> tuple[dict[tuple[str, str], int], bool]:
    """Insert new mentions (rows in _NEW order); returns their ids by identity, and whether
    every row was inserted by this transaction (so each stored row holds the values given).

    A row another writer inserted meanwhile is skipped by ON CONFLICT and found by the
    lookup that follows, so concurrent collectors never fail on the unique constraint.
    """
    if not bulk.postgres:
        # SQLite writers take turns: with every row inserted, the new ids are the ones after the
        # largest before, in order (rowid = max + 1), which saves looking each row up again.
        before = bulk.connection.exec_driver_sql("SELECT max(id) FROM mentions").scalar() or 0
        inserted = bulk.insert("mentions", _NEW, rows, conflict="platform, external_id")
        after = bulk.connection.exec_driver_sql("SELECT max(id) FROM mentions").scalar() or 0
        if inserted == len(rows) and after == before + len(rows):
            return {(r[0], r[1]): before + 1 + i for i, r in enumerate(rows)}, True
    else:
        inserted = bulk.insert("mentions", _NEW, rows, conflict="platform, external_id")
    found = bulk.lookup("mentions", ("id", "platform", "external_id"), [(r[0], r[1]) for r in rows])
    ids = {(platform, external_id): mention_id for mention_id, platform, external_id in found}
    return ids, inserted == len(rows)
