"""Daily aggregates of the mentions, per organisation day and set of streams (issue 22).

Analysis reads these instead of the whole history. A cell is one local day (the
organisation's time zone, the same day tracker/metrics.py buckets) and one *set* of
streams: the streams a mention is linked to whose link falls on that day. Keyed by the
set, not by each stream, the cells give exact distinct counts of any union of streams
(a mention matched by two streams of an experiment counts once, as the raw metrics
count it): a set of streams S reads every cell whose set meets S.

Per cell: mentions, scored mentions, their sentiment sum, positive and negative ones
(tracker/sentiment.py thresholds), and own posts. Posts the platform has deleted are
left out, as every metric leaves them out.

Every writer of mentions (the ingest path, engagement refresh, rescoring) changes the
cells in the same transaction as the mentions, by difference: the touched mentions'
contribution is read before the change (locked with FOR UPDATE on PostgreSQL, so two
writers of one mention take turns) and after it, and the difference is added to the
cells with one INSERT ... ON CONFLICT DO UPDATE (mentions the ingest path has just
inserted are not read back: their cells follow from the values it wrote, see
Change.written). `tracker db check` rebuilds the
cells from the raw mentions and compares; `--repair` writes the rebuilt ones.

The zone the cells were built in is stored beside them; when the organisation's zone
differs (the config changed), readers go back to the raw mentions, which stay right,
and `tracker db check` says to repair.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, delete, select, text
from sqlalchemy.orm import Session

from tracker.sentiment import NEGATIVE, POSITIVE
from tracker.store.models import AggregateMeta, DailyAggregate, Mention, MentionStream

TABLE = cast(Table, DailyAggregate.__table__)
META = cast(Table, AggregateMeta.__table__)

CHUNK = 500
FIELDS = ("mentions", "scored", "sentiment_sum", "positive", "negative", "own")
ZONE_KEY = "zone"
# Sums of floats added and taken away in another order than a rebuild adds them.
TOLERANCE = 1e-6

Cell = tuple[str, date]  # (streams key, local day)
Values = tuple[int, int, float, int, int, int]


def key_of(stream_ids: Iterable[int]) -> str:
    """The cell key of a set of streams: ",3,7," (sorted ids), so `LIKE '%,3,%'` finds a member."""
    return "," + ",".join(str(s) for s in sorted(set(stream_ids))) + ","


def streams_of(key: str) -> frozenset[int]:
    return frozenset(int(p) for p in key.strip(",").split(",") if p)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def contributions(
    mentions: Iterable[tuple[int, float | None, str, datetime | None]],
    links: Iterable[tuple[int, int, datetime]],
    zone: ZoneInfo,
) -> dict[Cell, list[float]]:
    """The cells of these mentions: (id, sentiment, kind, deleted_at) and their (mention id,
    stream id, created_at) links. A mention adds to one cell per local day its links fall on."""
    return _sum(_mention_cells(mentions, links, zone))


Entry = tuple[int, float | None, str, list[Cell]]  # a mention's id, sentiment, kind and cells


def _mention_cells(
    mentions: Iterable[tuple[int, float | None, str, datetime | None]],
    links: Iterable[tuple[int, int, datetime]],
    zone: ZoneInfo,
) -> Iterator[Entry]:
    days: dict[int, dict[date, set[int]]] = {}
    for mention_id, stream_id, created in links:
        day = _utc(created).astimezone(zone).date()
        days.setdefault(mention_id, {}).setdefault(day, set()).add(stream_id)
    for mention_id, score, kind, deleted in mentions:
        if deleted is not None:
            continue
        found = days.get(mention_id)
        if found:
            yield mention_id, score, kind, [(key_of(streams), day) for day, streams in found.items()]


def _first(entry: Entry) -> int:
    return entry[0]


def _sum(entries: Iterable[Entry]) -> dict[Cell, list[float]]:
    """The cells' figures, each mention added in the order given (sums of floats depend on it)."""
    cells: dict[Cell, list[float]] = {}
    for _, score, kind, keys in entries:
        for key in keys:
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = [0, 0, 0.0, 0, 0, 0]
            cell[0] += 1
            if score is not None:
                cell[1] += 1
                cell[2] += score
                cell[3] += score >= POSITIVE
                cell[4] += score <= NEGATIVE
            cell[5] += kind == "own"
    return cells


def _read(connection: Connection, ids: Sequence[int], *, lock: bool) -> tuple[list[Any], list[Any]]:
    """The mentions (id, sentiment, kind, deleted_at) and their links, in the driver's own
    statements: this runs twice per ingest batch, and SQLAlchemy's per-value processing
    would cost more than the database."""
    postgres = connection.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    mentions: list[Any] = []
    links: list[Any] = []
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), CHUNK):
        chunk = ordered[i : i + CHUNK]
        marks = ", ".join([mark] * len(chunk))
        lock_sql = " FOR UPDATE" if lock and postgres else ""
        mentions.extend(
            connection.exec_driver_sql(
                f"SELECT id, sentiment, kind, deleted_at FROM mentions WHERE id IN ({marks}) "
                f"ORDER BY id{lock_sql}",
                tuple(chunk),
            ).all()
        )
        rows = connection.exec_driver_sql(
            f"SELECT mention_id, stream_id, created_at FROM mention_streams WHERE mention_id IN ({marks})",
            tuple(chunk),
        ).all()
        links.extend(rows if postgres else [(m, s, _parsed(c)) for m, s, c in rows])
    return mentions, links


def _parsed(stored: Any) -> datetime:
    """A timestamp as SQLite stores it (naive UTC text)."""
    return stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)


def stored_zone(connection: Connection | Session) -> ZoneInfo | None:
    name = connection.execute(select(AggregateMeta.value).where(AggregateMeta.name == ZONE_KEY)).scalar()
    return ZoneInfo(name) if name else None


class Change:
    """The difference a write makes to the cells: `before(ids)` ahead of it, `after()` once done.

    `before` may be called more than once (ids learnt as the write goes); each id is read once.
    `written(mentions, links)` gives mentions the write has just created (no cells before it)
    with the values it wrote, in the form `_read` returns: they are not read back, and `after`
    adds them in id order among the ones it reads, so every cell is summed as if all were read.
    """

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.zone = stored_zone(self.connection) or ZoneInfo("UTC")
        self.ids: set[int] = set()
        self.old: dict[Cell, list[float]] = {}
        self.given: set[int] = set()
        self.entries: list[Entry] = []

    def written(self, mentions: Iterable[tuple[int, float | None, str, tuple[int, ...], datetime]]) -> None:
        """New mentions as written: (id, sentiment, kind, its streams' ids, the links' created_at),
        every link of a new mention made at its created_at."""
        keys: dict[tuple[int, ...], str] = {}
        zone = self.zone
        for mention_id, score, kind, streams, created in mentions:
            self.given.add(mention_id)
            if not streams:
                continue
            key = keys.get(streams)
            if key is None:
                key = keys[streams] = key_of(streams)
            self.entries.append((mention_id, score, kind, [(key, created.astimezone(zone).date())]))

    def before(self, ids: Iterable[int]) -> None:
        todo = set(ids) - self.ids - self.given
        if not todo:
            return
        self.ids |= todo
        mentions, links = _read(self.connection, list(todo), lock=True)
        for cell, values in contributions(mentions, links, self.zone).items():
            _add(self.old, cell, values, 1)

    def after(self) -> None:
        if not self.ids and not self.given:
            return
        mentions, links = _read(self.connection, list(self.ids), lock=False) if self.ids else ([], [])
        read = _mention_cells(mentions, links, self.zone)
        entries = heapq.merge(read, sorted(self.entries, key=_first), key=_first) if self.entries else read
        delta: dict[Cell, list[float]] = {}
        for cell, values in _sum(entries).items():
            _add(delta, cell, values, 1)
        for cell, values in self.old.items():
            _add(delta, cell, values, -1)
        apply(self.connection, delta)
        self.ids.clear()
        self.old.clear()
        self.given.clear()
        self.entries.clear()


def _add(into: dict[Cell, list[float]], cell: Cell, values: Sequence[float], sign: int) -> None:
    found = into.setdefault(cell, [0, 0, 0.0, 0, 0, 0])
    for i, v in enumerate(values):
        found[i] += sign * v


def apply(connection: Connection, delta: dict[Cell, list[float]]) -> None:
    """Add the differences to the cells (sorted, so two writers lock cells in one order)."""
    rows: list[tuple[Any, ...]] = [
        (key, day, *_typed(values)) for (key, day), values in sorted(delta.items()) if any(values)
    ]
    if not rows:
        return
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    if mark == "?":  # SQLite stores a date as its ISO text
        rows = [(r[0], r[1].isoformat(), *r[2:]) for r in rows]
    columns = ("streams", "day", *FIELDS)
    sums = ", ".join(f"{f} = daily_aggregates.{f} + excluded.{f}" for f in FIELDS)
    connection.exec_driver_sql(
        f"INSERT INTO daily_aggregates ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT (streams, day) DO UPDATE SET {sums}",
        rows,
    )


def _typed(values: Sequence[float]) -> Values:
    return (int(values[0]), int(values[1]), float(values[2]), int(values[3]), int(values[4]), int(values[5]))


# -- building and checking -----------------------------------------------------------------------


def build(connection: Connection, zone: ZoneInfo) -> dict[Cell, Values]:
    """The cells as the raw mentions give them, read in slices of mention ids."""
    cells: dict[Cell, list[float]] = {}
    last = 0
    while True:
        ids = list(
            connection.execute(
                select(Mention.id).where(Mention.id > last).order_by(Mention.id).limit(20_000)
            ).scalars()
        )
        if not ids:
            break
        last = ids[-1]
        lo, hi = ids[0], ids[-1]
        mentions = connection.execute(
            select(Mention.id, Mention.sentiment, Mention.kind, Mention.deleted_at).where(
                Mention.id >= lo, Mention.id <= hi
            )
        ).all()
        links = connection.execute(
            select(MentionStream.mention_id, MentionStream.stream_id, MentionStream.created_at).where(
                MentionStream.mention_id >= lo, MentionStream.mention_id <= hi
            )
        ).all()
        for cell, values in contributions(mentions, links, zone).items():
            _add(cells, cell, values, 1)
    return {cell: _typed(values) for cell, values in cells.items()}


def stored(connection: Connection) -> dict[Cell, Values]:
    rows = connection.execute(select(DailyAggregate.streams, DailyAggregate.day, *_columns()))
    return {(r[0], r[1]): _typed(r[2:]) for r in rows}


def _columns() -> list[Any]:
    return [TABLE.c[f] for f in FIELDS]


@dataclass(frozen=True)
class Difference:
    streams: str
    day: date
    stored: Values | None
    raw: Values | None


def differences(connection: Connection, zone: ZoneInfo) -> list[Difference]:
    """Cells whose stored figures differ from the raw mentions' (empty cells count as absent)."""
    want = {c: v for c, v in build(connection, zone).items() if v[0]}
    have = {c: v for c, v in stored(connection).items() if not _empty(v)}
    found = []
    for cell in sorted(want.keys() | have.keys()):
        a, b = have.get(cell), want.get(cell)
        if a is None or b is None or not _same(a, b):
            found.append(Difference(cell[0], cell[1], a, b))
    return found


def _empty(values: Values) -> bool:
    """No mention left (a sum of added and removed scores may keep a residue like 1e-15)."""
    return not any(values[i] for i in (0, 1, 3, 4, 5)) and abs(values[2]) <= TOLERANCE


def _same(a: Values, b: Values) -> bool:
    return all(
        abs(x - y) <= TOLERANCE if i == 2 else x == y for i, (x, y) in enumerate(zip(a, b, strict=True))
    )


def rebuild(connection: Connection, zone: ZoneInfo) -> int:
    """Replace every cell by the raw mentions' figures in `zone`; returns how many cells."""
    cells = build(connection, zone)
    connection.execute(delete(DailyAggregate))
    rows = [
        {"streams": key, "day": day, **dict(zip(FIELDS, values, strict=True))}
        for (key, day), values in sorted(cells.items())
    ]
    for i in range(0, len(rows), 5000):
        connection.execute(TABLE.insert(), rows[i : i + 5000])
    set_zone(connection, zone)
    return len(rows)


def set_zone(connection: Connection, zone: ZoneInfo) -> None:
    connection.execute(delete(AggregateMeta).where(AggregateMeta.name == ZONE_KEY))
    connection.execute(META.insert(), [{"name": ZONE_KEY, "value": zone.key}])


# -- reading -------------------------------------------------------------------------------------


def usable(session: Session, zone: ZoneInfo) -> bool:
    """Whether the cells are in this zone (else the raw mentions are read)."""
    found = stored_zone(session)
    return found is not None and found.key == zone.key


def daily(
    session: Session,
    stream_ids: Sequence[int],
    first: date,
    last: date,
    *,
    exclude: Sequence[int] = (),
) -> dict[date, Values]:
    """Per day of first..last, the figures of the mentions of any of the streams (each once),
    leaving out mentions also in `exclude` (share of voice: competitors' mentions not ours)."""
    wanted, unwanted = set(stream_ids), set(exclude)
    if not wanted:
        return {}
    keys = [
        k
        for k in session.execute(text("SELECT DISTINCT streams FROM daily_aggregates")).scalars()
        if streams_of(k) & wanted and not streams_of(k) & unwanted
    ]
    found: dict[date, list[float]] = {}
    for i in range(0, len(keys), CHUNK):
        rows = session.execute(
            select(DailyAggregate.day, *_columns()).where(
                DailyAggregate.streams.in_(keys[i : i + CHUNK]),
                DailyAggregate.day >= first,
                DailyAggregate.day <= last,
            )
        )
        for row in rows:
            _add(found, row[0], row[1:], 1)  # type: ignore[arg-type]
    return {d: _typed(v) for d, v in found.items()}
