"""Daily aggregates of the mentions, per organisation day and set of streams (issue 22).

Analysis reads these instead of the whole history. A cell is one local day (the
organisation's time zone, the same day tracker/metrics.py buckets) and one *set* of
streams: the streams a mention is linked to whose link falls on that day. Keyed by the
set, not by each stream, the cells give exact distinct counts of any union of streams
(a mention matched by two streams of an experiment counts once, as the raw metrics
count it): a set of streams S reads every cell whose set meets S.

Per cell: mentions, scored mentions, their sentiment sum (and sum of squares, for the
spread the sentiment-drop alert compares with), positive and negative ones
(tracker/sentiment.py thresholds), own posts, and the sum of the own posts' engagement at
the fixed age (`experiments.engagement_age`: the last reading at or before that age, else
the earliest reading, else the post's figure, as tracker/metrics.py reads the history).
Posts the platform has deleted are left out, as every metric leaves them out.

The robust engagement estimate (tracker/stats.py) trims posts by the median and MAD of
the pooled posts of both windows, which no sum gives: it needs each post's value. Those
are kept too, one row per own post and linked stream and day (`post_engagement`), so the
estimate reads a range of days by index instead of the posts' engagement history. The
age they are built at is stored beside the zone; another age in the config reads the
raw history until `tracker db check --repair`.

Every writer of mentions (the ingest path, engagement refresh, rescoring) changes the
cells in the same transaction as the mentions, by difference: the touched mentions'
contribution is read before the change (locked with FOR UPDATE on PostgreSQL, so two
writers of one mention take turns) and after it, and the difference is added to the
cells with one INSERT ... ON CONFLICT DO UPDATE. `tracker db check` rebuilds the
cells from the raw mentions and compares; `--repair` writes the rebuilt ones.

Which sentiment scorers the scores of a cell come from (`daily_scorers`: scored mentions
per cell and scorer, a score without a recorded scorer counted as VADER's) is kept beside
them, so a measurement can say which scorers its windows rest on without reading them.

The zone the cells were built in is stored beside them; when the organisation's zone
differs (the config changed), readers go back to the raw mentions, which stay right,
and `tracker db check` says to repair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.orm import Session

from tracker.polarity import NEGATIVE, POSITIVE
from tracker.store.models import (
    AggregateMeta,
    DailyAggregate,
    EngagementSnapshot,
    Mention,
    MentionStream,
    PostEngagement,
    ScorerAggregate,
)
from tracker.store.queries import kind_is

TABLE = cast(Table, DailyAggregate.__table__)
META = cast(Table, AggregateMeta.__table__)
POSTS = cast(Table, PostEngagement.__table__)
SCORERS = cast(Table, ScorerAggregate.__table__)
VADER = "vader"  # the scorer of a score without one recorded (tracker/labels.py's VADER)

CHUNK = 500
FIELDS = ("mentions", "scored", "sentiment_sum", "positive", "negative", "own", "engagement", "sentiment_sq")
FLOATS = (2, 7)  # the sums of scores and of squared scores
ZONE_KEY = "zone"
AGE_KEY = "engagement_age"  # seconds
DEFAULT_AGE = timedelta(hours=48)  # experiments.engagement_age's default (tracker/config.py)
# Sums of floats added and taken away in another order than a rebuild adds them.
TOLERANCE = 1e-6

Cell = tuple[str, date]  # (streams key, local day)
Values = tuple[int, int, float, int, int, int, int, float]
Post = tuple[int, date, int]  # (stream id, local day, mention id) -> engagement at the fixed age
Scored = tuple[str, date, str]  # (streams key, local day, scorer) -> scored mentions


@dataclass
class Parts:
    """What some mentions contribute: cells, own-post rows and scored mentions per scorer."""

    cells: dict[Cell, list[float]]
    posts: dict[Post, int]
    scorers: dict[Scored, int]


def key_of(stream_ids: Iterable[int]) -> str:
    """The cell key of a set of streams: ",3,7," (sorted ids), so `LIKE '%,3,%'` finds a member."""
    return "," + ",".join(str(s) for s in sorted(set(stream_ids))) + ","


def streams_of(key: str) -> frozenset[int]:
    return frozenset(int(p) for p in key.strip(",").split(",") if p)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def contributions(
    mentions: Iterable[Sequence[Any]],
    links: Iterable[tuple[int, int, datetime]],
    zone: ZoneInfo,
    at_age: dict[int, int] | None = None,
) -> Parts:
    """The cells, own-post rows and scorers of these mentions: (id, sentiment, kind, deleted_at,
    created_at, engagement, sentiment_scorer) and
    their (mention id, stream id, created_at) links; `at_age`: each own post's engagement at the
    fixed age. A mention adds to one cell per local day its links fall on."""
    at_age = at_age or {}
    days: dict[int, list[tuple[date, int]]] = {}  # mention id -> (local day, stream id) of its links
    for mention_id, stream_id, created in links:
        day = (created if created.tzinfo is not None else created.replace(tzinfo=UTC)).astimezone(zone).date()
        found = days.get(mention_id)
        if found is None:
            days[mention_id] = [(day, stream_id)]
        else:
            found.append((day, stream_id))
    # The key of each set of streams, made once (the ingest's hot path: most mentions have one link).
    keys: dict[frozenset[int], str] = {}
    single: dict[int, str] = {}
    cells: dict[Cell, list[float]] = {}
    posts: dict[Post, int] = {}
    scorers: dict[Scored, int] = {}
    for mention_id, score, kind, deleted, _, _, scorer in mentions:
        if deleted is not None:
            continue
        found = days.get(mention_id)
        if not found:
            continue
        groups: Iterable[tuple[date, Iterable[int], str]]
        if len(found) == 1:
            day, stream_id = found[0]
            key = single.get(stream_id)
            if key is None:
                key = single[stream_id] = key_of((stream_id,))
            groups = ((day, (stream_id,), key),)
        else:
            by_day: dict[date, set[int]] = {}
            for day, stream_id in found:
                by_day.setdefault(day, set()).add(stream_id)
            groups = [(day, streams, _key(keys, streams)) for day, streams in by_day.items()]
        own = kind == "own"
        for day, streams, key in groups:
            cell = cells.get((key, day))
            if cell is None:
                cell = cells[(key, day)] = [0, 0, 0.0, 0, 0, 0, 0, 0.0]
            cell[0] += 1
            if score is not None:
                scored = (key, day, scorer or VADER)
                scorers[scored] = scorers.get(scored, 0) + 1
                cell[1] += 1
                cell[2] += score
                cell[3] += score >= POSITIVE
                cell[4] += score <= NEGATIVE
                cell[7] += score * score
            if own:
                value = at_age.get(mention_id, 0)
                cell[5] += 1
                cell[6] += value
                for stream_id in streams:
                    posts[(stream_id, day, mention_id)] = value
    return Parts(cells, posts, scorers)


def _key(keys: dict[frozenset[int], str], streams: set[int]) -> str:
    group = frozenset(streams)
    key = keys.get(group)
    if key is None:
        key = keys[group] = key_of(group)
    return key


def engagement_at_age(
    posts: Iterable[tuple[int, datetime, int]],
    history: Iterable[tuple[int, datetime, int]],
    age: timedelta,
) -> dict[int, int]:
    """Per own post (id, created_at, engagement now), its engagement `age` after posting: the last
    reading (history rows: mention id, observed_at, engagement, in order) at or before then; a
    post first read only later (history imported late) its earliest reading; one never read,
    its figure."""
    readings: dict[int, list[tuple[datetime, int]]] = {}
    for mention_id, observed, engagement in history:
        readings.setdefault(mention_id, []).append((_utc(_parsed(observed)), int(engagement)))
    found: dict[int, int] = {}
    for mention_id, created, engagement in posts:
        snapshots = readings.get(mention_id)
        if not snapshots:
            found[mention_id] = int(engagement or 0)
            continue
        mark = _utc(_parsed(created)) + age
        before = [e for observed, e in snapshots if observed <= mark]
        found[mention_id] = before[-1] if before else snapshots[0][1]
    return found


def _read(
    connection: Connection, ids: Sequence[int], *, lock: bool, age: timedelta
) -> tuple[list[Any], list[Any], dict[int, int]]:
    """The mentions (id, sentiment, kind, deleted_at, created_at, engagement), their links and
    the own posts' engagement at the fixed age, in the driver's own statements: this runs twice
    per ingest batch, and SQLAlchemy's per-value processing would cost more than the database."""
    postgres = connection.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    mentions: list[Any] = []
    links: list[Any] = []
    history: list[Any] = []
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), CHUNK):
        chunk = ordered[i : i + CHUNK]
        marks = ", ".join([mark] * len(chunk))
        lock_sql = " FOR UPDATE" if lock and postgres else ""
        found = connection.exec_driver_sql(
            f"SELECT id, sentiment, kind, deleted_at, created_at, engagement, sentiment_scorer FROM mentions "
            f"WHERE id IN ({marks}) ORDER BY id{lock_sql}",
            tuple(chunk),
        ).all()
        mentions.extend(found)
        rows = connection.exec_driver_sql(
            f"SELECT mention_id, stream_id, created_at FROM mention_streams WHERE mention_id IN ({marks})",
            tuple(chunk),
        ).all()
        links.extend(rows if postgres else [(m, s, _parsed(c)) for m, s, c in rows])
        own = [m[0] for m in found if m[2] == "own" and m[3] is None]
        if own:
            history.extend(
                connection.exec_driver_sql(
                    "SELECT mention_id, observed_at, engagement FROM engagement_history "
                    f"WHERE mention_id IN ({', '.join([mark] * len(own))}) "
                    "ORDER BY mention_id, observed_at, id",
                    tuple(own),
                ).all()
            )
    own_posts = [(m[0], m[4], m[5]) for m in mentions if m[2] == "own" and m[3] is None]
    return mentions, links, engagement_at_age(own_posts, history, age)


def _parsed(stored: Any) -> datetime:
    """A timestamp as SQLite stores it (naive UTC text)."""
    return stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)


def stored_zone(connection: Connection | Session) -> ZoneInfo | None:
    name = connection.execute(select(AggregateMeta.value).where(AggregateMeta.name == ZONE_KEY)).scalar()
    return ZoneInfo(name) if name else None


def stored_age(connection: Connection | Session) -> timedelta | None:
    """The engagement age the own posts' figures are built at (None: not recorded)."""
    found = connection.execute(select(AggregateMeta.value).where(AggregateMeta.name == AGE_KEY)).scalar()
    return timedelta(seconds=float(found)) if found else None


class Change:
    """The difference a write makes to the cells: `before(ids)` ahead of it, `after()` once done.

    `before` may be called more than once (ids learnt as the write goes); each id is read once.
    Mentions the write inserts itself can be given with `written` instead: they contributed
    nothing before, and what they contribute after is known from the values written.
    """

    def __init__(self, session: Session, into: Pending | None = None) -> None:
        self.connection = session.connection()
        self.into = into  # given: `after` adds its difference there instead of writing it
        self.zone = stored_zone(self.connection) or ZoneInfo("UTC")
        self.age = stored_age(self.connection) or DEFAULT_AGE
        self.ids: set[int] = set()
        self.old: dict[Cell, list[float]] = {}
        self.old_posts: dict[Post, int] = {}
        self.old_scorers: dict[Scored, int] = {}
        self.new: list[Sequence[Any]] = []
        self.new_links: list[tuple[int, int, datetime]] = []

    def written(self, mentions: Iterable[Sequence[Any]], links: Iterable[tuple[int, int, datetime]]) -> None:
        """Mentions inserted by this transaction, as `after` would read them back (id, sentiment,
        kind, deleted_at, created_at, engagement, sentiment_scorer), and their links (mention id,
        stream id, created_at). Not read again: at the ingest's rate, reading back every new
        mention, its links and its history cost more than the statements that wrote them. None of
        them may be among the ids given to `before`."""
        self.new.extend(mentions)
        self.new_links.extend(links)

    def before(self, ids: Iterable[int]) -> None:
        todo = set(ids) - self.ids
        if not todo:
            return
        self.ids |= todo
        mentions, links, at_age = _read(self.connection, list(todo), lock=True, age=self.age)
        parts = contributions(mentions, links, self.zone, at_age)
        for cell, values in parts.cells.items():
            _add(self.old, cell, values, 1)
        self.old_posts.update(parts.posts)
        for scored, n in parts.scorers.items():
            self.old_scorers[scored] = self.old_scorers.get(scored, 0) + n

    def after(self) -> None:
        if not self.ids and not self.new:
            return
        mentions, links, at_age = (
            _read(self.connection, list(self.ids), lock=False, age=self.age) if self.ids else ([], [], {})
        )
        if self.new:
            # In id order among the ones read (as one read of all of them would give them), so each
            # cell's float sums add up in the same order; an own post's only reading is its figure.
            mentions = sorted([*mentions, *self.new], key=itemgetter(0))
            links = [*links, *self.new_links]
            at_age.update((m[0], int(m[5])) for m in self.new if m[2] == "own" and m[3] is None)
        parts = contributions(mentions, links, self.zone, at_age)
        delta: dict[Cell, list[float]] = {}
        for cell, values in parts.cells.items():
            _add(delta, cell, values, 1)
        for cell, values in self.old.items():
            _add(delta, cell, values, -1)
        scored = dict(parts.scorers)
        for key, n in self.old_scorers.items():
            scored[key] = scored.get(key, 0) - n
        if self.into is not None:
            self.into.add(delta, self.old_posts, parts.posts, scored)
        else:
            apply(self.connection, delta)
            apply_posts(self.connection, self.old_posts, parts.posts)
            apply_scorers(self.connection, scored)
        self.ids.clear()
        self.old.clear()
        self.old_posts.clear()
        self.old_scorers.clear()
        self.new.clear()
        self.new_links.clear()


class Pending:
    """The differences of several writes in one transaction, written once at its end (`write`).

    An import's backfill puts each batch of 5,000 mentions on days all over the history, so
    each batch changed most of the cells again (about 4,000 of 13,000 for 12 streams over three
    years); summed over the transaction's batches they are written once. `add` takes what one
    `Change.after` would have written; `merge` adds another Pending (a batch's, once its savepoint
    is released), so a batch that is undone leaves nothing here."""

    def __init__(self) -> None:
        self.cells: dict[Cell, list[float]] = {}
        self.posts: dict[Post, tuple[int | None, int | None]] = {}  # (before the first, after the last)
        self.scorers: dict[Scored, int] = {}

    def add(
        self,
        cells: dict[Cell, list[float]],
        old_posts: dict[Post, int],
        new_posts: dict[Post, int],
        scorers: dict[Scored, int],
    ) -> None:
        touched = old_posts.keys() | new_posts.keys()
        self._sum(cells, {post: (old_posts.get(post), new_posts.get(post)) for post in touched}, scorers)

    def merge(self, other: Pending) -> None:
        self._sum(other.cells, other.posts, other.scorers)

    def _sum(
        self,
        cells: dict[Cell, list[float]],
        posts: dict[Post, tuple[int | None, int | None]],
        scorers: dict[Scored, int],
    ) -> None:
        for cell, values in cells.items():
            _add(self.cells, cell, values, 1)
        for post, (old, new) in posts.items():  # the value before the first change, after the last
            known = self.posts.get(post)
            self.posts[post] = (old, new) if known is None else (known[0], new)
        for key, n in scorers.items():
            self.scorers[key] = self.scorers.get(key, 0) + n

    def write(self, connection: Connection) -> None:
        """Write the summed differences (in the transaction of the writes), then forget them."""
        apply(connection, self.cells)
        old = {post: value for post, (value, _) in self.posts.items() if value is not None}
        new = {post: value for post, (_, value) in self.posts.items() if value is not None}
        apply_posts(connection, old, new)
        apply_scorers(connection, self.scorers)
        self.cells, self.posts, self.scorers = {}, {}, {}


def _add(into: dict[Any, list[float]], cell: Any, values: Sequence[float], sign: int) -> None:
    found = into.setdefault(cell, [0, 0, 0.0, 0, 0, 0, 0, 0.0])
    for i, v in enumerate(values):
        found[i] += sign * v


def _marks(connection: Connection) -> str:
    return "%s" if connection.dialect.name == "postgresql" else "?"


def apply(connection: Connection, delta: dict[Cell, list[float]]) -> None:
    """Add the differences to the cells (sorted, so two writers lock cells in one order)."""
    rows: list[tuple[Any, ...]] = [
        (key, day, *_typed(values)) for (key, day), values in sorted(delta.items()) if any(values)
    ]
    if not rows:
        return
    mark = _marks(connection)
    if mark == "?":  # SQLite stores a date as its ISO text
        rows = [(r[0], r[1].isoformat(), *r[2:]) for r in rows]
    columns = ("streams", "day", *FIELDS)
    sums = ", ".join(f"{f} = daily_aggregates.{f} + excluded.{f}" for f in FIELDS)
    connection.exec_driver_sql(
        f"INSERT INTO daily_aggregates ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT (streams, day) DO UPDATE SET {sums}",
        rows,
    )


def apply_posts(connection: Connection, old: dict[Post, int], new: dict[Post, int]) -> None:
    """The own-post rows from `old` to `new`: gone ones deleted, new or changed ones written."""
    mark = _marks(connection)

    def day(d: date) -> Any:
        return d if mark == "%s" else d.isoformat()

    gone = [(s, day(d), m) for (s, d, m) in sorted(old.keys() - new.keys())]
    if gone:
        connection.exec_driver_sql(
            f"DELETE FROM post_engagement WHERE stream_id = {mark} AND day = {mark} AND mention_id = {mark}",
            gone,
        )
    changed = [(s, day(d), m, v) for (s, d, m), v in sorted(new.items()) if old.get((s, d, m)) != v]
    if changed:
        connection.exec_driver_sql(
            "INSERT INTO post_engagement (stream_id, day, mention_id, engagement) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}) "
            "ON CONFLICT (stream_id, day, mention_id) DO UPDATE SET engagement = excluded.engagement",
            changed,
        )


def apply_scorers(connection: Connection, delta: dict[Scored, int]) -> None:
    """Add the differences to the scored mentions per cell and scorer."""
    mark = _marks(connection)
    rows = [(k, d if mark == "%s" else d.isoformat(), s, n) for (k, d, s), n in sorted(delta.items()) if n]
    if rows:
        connection.exec_driver_sql(
            "INSERT INTO daily_scorers (streams, day, scorer, scored) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT (streams, day, scorer) "
            "DO UPDATE SET scored = daily_scorers.scored + excluded.scored",
            rows,
        )


def _typed(values: Sequence[float]) -> Values:
    return (int(values[0]), int(values[1]), float(values[2]), int(values[3]), int(values[4]),
            int(values[5]), int(values[6]), float(values[7]))  # fmt: skip


# -- building and checking -----------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    cells: dict[Cell, Values]
    posts: dict[Post, int]
    scorers: dict[Scored, int]


def build(connection: Connection, zone: ZoneInfo, age: timedelta) -> Built:
    """The cells, own-post rows and scorers as the raw mentions give them, read in slices of ids."""
    cells: dict[Cell, list[float]] = {}
    posts: dict[Post, int] = {}
    by_scorer: dict[Scored, int] = {}
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
            select(
                Mention.id, Mention.sentiment, Mention.kind, Mention.deleted_at, Mention.created_at,
                Mention.engagement, Mention.sentiment_scorer,
            ).where(Mention.id >= lo, Mention.id <= hi)
        ).all()  # fmt: skip
        links = connection.execute(
            select(MentionStream.mention_id, MentionStream.stream_id, MentionStream.created_at).where(
                MentionStream.mention_id >= lo, MentionStream.mention_id <= hi
            )
        ).all()
        history = connection.execute(
            select(
                EngagementSnapshot.mention_id, EngagementSnapshot.observed_at, EngagementSnapshot.engagement
            )
            .join(Mention, Mention.id == EngagementSnapshot.mention_id)
            .where(Mention.id >= lo, Mention.id <= hi, kind_is("own"))
            .order_by(EngagementSnapshot.mention_id, EngagementSnapshot.observed_at, EngagementSnapshot.id)
        ).all()
        own = [(m[0], m[4], m[5]) for m in mentions if m[2] == "own" and m[3] is None]
        parts = contributions(
            mentions, links, zone, engagement_at_age(own, [(h[0], h[1], h[2]) for h in history], age)
        )
        for cell, values in parts.cells.items():
            _add(cells, cell, values, 1)
        posts.update(parts.posts)
        for scored, n in parts.scorers.items():
            by_scorer[scored] = by_scorer.get(scored, 0) + n
    return Built({cell: _typed(values) for cell, values in cells.items()}, posts, by_scorer)


def stored(connection: Connection) -> dict[Cell, Values]:
    rows = connection.execute(select(DailyAggregate.streams, DailyAggregate.day, *_columns()))
    return {(r[0], r[1]): _typed(r[2:]) for r in rows}


def stored_posts(connection: Connection) -> dict[Post, int]:
    rows = connection.execute(
        select(
            PostEngagement.stream_id, PostEngagement.day, PostEngagement.mention_id, PostEngagement.engagement
        )
    )
    return {(r[0], r[1], r[2]): int(r[3]) for r in rows}


def stored_scorers(connection: Connection) -> dict[Scored, int]:
    rows = connection.execute(
        select(ScorerAggregate.streams, ScorerAggregate.day, ScorerAggregate.scorer, ScorerAggregate.scored)
    )
    return {(r[0], r[1], r[2]): int(r[3]) for r in rows if r[3]}


def _columns() -> list[Any]:
    return [TABLE.c[f] for f in FIELDS]


@dataclass(frozen=True)
class Difference:
    streams: str
    day: date
    stored: Values | None
    raw: Values | None


@dataclass(frozen=True)
class ScorerDifference:
    streams: str
    day: date
    scorer: str
    stored: int
    raw: int


@dataclass(frozen=True)
class PostDifference:
    stream_id: int
    day: date
    mention_id: int
    stored: int | None
    raw: int | None


def differences(
    connection: Connection, zone: ZoneInfo, age: timedelta = DEFAULT_AGE
) -> list[Difference | PostDifference | ScorerDifference]:
    """Cells whose stored figures differ from the raw mentions' (empty cells count as absent),
    then own-post rows whose engagement at the fixed age differs, then scored mentions per
    scorer."""
    built = build(connection, zone, age)
    built_posts = built.posts
    want = {c: v for c, v in built.cells.items() if v[0]}
    have = {c: v for c, v in stored(connection).items() if not _empty(v)}
    found: list[Difference | PostDifference | ScorerDifference] = []
    for cell in sorted(want.keys() | have.keys()):
        a, b = have.get(cell), want.get(cell)
        if a is None or b is None or not _same(a, b):
            found.append(Difference(cell[0], cell[1], a, b))
    have_posts = stored_posts(connection)
    for post in sorted(built_posts.keys() | have_posts.keys()):
        x, y = have_posts.get(post), built_posts.get(post)
        if x != y:
            found.append(PostDifference(*post, x, y))
    have_scorers = stored_scorers(connection)
    for scored in sorted(built.scorers.keys() | have_scorers.keys()):
        m, n = have_scorers.get(scored, 0), built.scorers.get(scored, 0)
        if m != n:
            found.append(ScorerDifference(*scored, m, n))
    return found


def _empty(values: Values) -> bool:
    """No mention left (a sum of added and removed scores may keep a residue like 1e-15)."""
    return not any(values[i] for i in (0, 1, 3, 4, 5, 6)) and all(abs(values[i]) <= TOLERANCE for i in FLOATS)


def _same(a: Values, b: Values) -> bool:
    return all(
        abs(x - y) <= TOLERANCE if i in FLOATS else x == y for i, (x, y) in enumerate(zip(a, b, strict=True))
    )


def rebuild(connection: Connection, zone: ZoneInfo, age: timedelta = DEFAULT_AGE) -> int:
    """Replace every cell and own-post row by the raw mentions' figures in `zone` at `age`;
    returns how many cells."""
    built = build(connection, zone, age)
    cells, posts = built.cells, built.posts
    connection.execute(delete(DailyAggregate))
    connection.execute(delete(PostEngagement))
    connection.execute(delete(ScorerAggregate))
    rows = [
        {"streams": key, "day": day, **dict(zip(FIELDS, values, strict=True))}
        for (key, day), values in sorted(cells.items())
    ]
    for i in range(0, len(rows), 5000):
        connection.execute(TABLE.insert(), rows[i : i + 5000])
    post_rows = [
        {"stream_id": s, "day": d, "mention_id": m, "engagement": v} for (s, d, m), v in sorted(posts.items())
    ]
    for i in range(0, len(post_rows), 5000):
        connection.execute(POSTS.insert(), post_rows[i : i + 5000])
    scorer_rows = [
        {"streams": k, "day": d, "scorer": s, "scored": n} for (k, d, s), n in sorted(built.scorers.items())
    ]
    for i in range(0, len(scorer_rows), 5000):
        connection.execute(SCORERS.insert(), scorer_rows[i : i + 5000])
    set_zone(connection, zone)
    set_age(connection, age)
    return len(rows)


def set_zone(connection: Connection, zone: ZoneInfo) -> None:
    connection.execute(delete(AggregateMeta).where(AggregateMeta.name == ZONE_KEY))
    connection.execute(META.insert(), [{"name": ZONE_KEY, "value": zone.key}])


def set_age(connection: Connection, age: timedelta) -> None:
    connection.execute(delete(AggregateMeta).where(AggregateMeta.name == AGE_KEY))
    connection.execute(META.insert(), [{"name": AGE_KEY, "value": str(int(age.total_seconds()))}])


# -- reading -------------------------------------------------------------------------------------


_META_CACHE = "tracker.aggregates.meta"


def usable(session: Session, zone: ZoneInfo, age: timedelta | None = None) -> bool:
    """Whether the cells are in this zone (else the raw mentions are read); with `age`, also
    whether the own posts' engagement is built at that age."""
    meta = session.info.get(_META_CACHE)
    if meta is None:  # read once per session (one transaction): analysis asks for every series
        rows = dict(session.connection().execute(select(AggregateMeta.name, AggregateMeta.value)).all())
        meta = session.info[_META_CACHE] = (rows.get(ZONE_KEY), rows.get(AGE_KEY))
    zone_name, seconds = meta
    if zone_name != zone.key:
        return False
    return age is None or (timedelta(seconds=float(seconds)) if seconds else DEFAULT_AGE) == age


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
    found: dict[date, list[float]] = {}
    for _, day, values in _cells_of(session, first, last, lambda s: bool(s & wanted and not s & unwanted)):
        _add(found, day, values, 1)
    return {d: _typed(v) for d, v in found.items()}


def daily_each(
    session: Session, stream_ids: Sequence[int], first: date, last: date
) -> dict[int, dict[date, Values]]:
    """`daily` of each stream on its own (a mention of two of them counts in both), from one
    read of the range's cells: the overview's per-stream weeks and spikes would otherwise
    read the same cells once per stream and metric."""
    wanted = set(stream_ids)
    if not wanted:
        return {}
    found: dict[int, dict[date, list[float]]] = {s: {} for s in wanted}
    for streams, day, values in _cells_of(session, first, last, lambda s: bool(s & wanted)):
        for stream in streams & wanted:
            _add(found[stream], day, values, 1)
    return {s: {d: _typed(v) for d, v in cells.items()} for s, cells in found.items()}


def _cells_of(
    session: Session, first: date, last: date, keep: Callable[[frozenset[int]], bool]
) -> Iterator[tuple[frozenset[int], date, Sequence[Any]]]:
    """(streams, day, figures) of the cells of first..last whose set of streams `keep` takes.

    The stream sets present in the range are found first (a DISTINCT over the day index),
    then only the cells of the sets kept are read (the primary key): a cost that grows with
    the range, not with the history. Core statements on the session's connection: the ORM's
    row loading would cost more than the database."""
    connection = session.connection()
    in_range = (DailyAggregate.day >= first, DailyAggregate.day <= last)
    keys = {}
    for key in connection.execute(select(DailyAggregate.streams).where(*in_range).distinct()).scalars():
        if keep(streams := streams_of(key)):
            keys[key] = streams
    names = sorted(keys)
    for i in range(0, len(names), CHUNK):
        rows = connection.execute(
            select(DailyAggregate.streams, DailyAggregate.day, *_columns()).where(
                DailyAggregate.streams.in_(names[i : i + CHUNK]), *in_range
            )
        )
        for row in rows:
            yield keys[row[0]], row[1], row[2:]


def scorers(session: Session, stream_ids: Sequence[int], first: date, last: date) -> list[str]:
    """The scorers behind the scores of the streams' mentions of first..last, sorted."""
    wanted = set(stream_ids)
    rows = session.connection().execute(
        select(ScorerAggregate.streams, ScorerAggregate.scorer)
        .where(ScorerAggregate.day >= first, ScorerAggregate.day <= last, ScorerAggregate.scored > 0)
        .distinct()
    )
    return sorted({scorer for key, scorer in rows if streams_of(key) & wanted})


def posts(
    session: Session, stream_ids: Sequence[int], first: date, last: date, *, before: datetime | None = None
) -> dict[date, list[float]]:
    """Per day of first..last, each own post's engagement at the fixed age (a post of two of the
    streams once): one range scan of `post_engagement` by stream and day. `before`: only the
    posts created before then (the posts already as old as the fixed age, on the day that is
    not yet wholly older: their figure no longer changes)."""
    seen: set[int] = set()
    found: dict[date, list[float]] = {}
    for _, day, mention_id, engagement in _post_rows(session, stream_ids, first, last, before):
        if mention_id in seen:
            continue
        seen.add(mention_id)
        found.setdefault(day, []).append(float(engagement))
    return found


def posts_each(
    session: Session, stream_ids: Sequence[int], first: date, last: date, *, before: datetime | None = None
) -> dict[int, dict[date, list[float]]]:
    """`posts` of each stream on its own, from one read for all of them."""
    found: dict[int, dict[date, list[float]]] = {}
    for stream_id, day, _, engagement in _post_rows(session, stream_ids, first, last, before):
        found.setdefault(stream_id, {}).setdefault(day, []).append(float(engagement))
    return found


def _post_rows(
    session: Session, stream_ids: Sequence[int], first: date, last: date, before: datetime | None
) -> list[Any]:
    """(stream id, day, mention id, engagement) of the streams' own-post rows of first..last, in
    the order of day and post; with `before`, of the posts created before then (their created_at
    read from the mentions, by primary key)."""
    if last < first or not stream_ids:
        return []
    query = select(
        PostEngagement.stream_id, PostEngagement.day, PostEngagement.mention_id, PostEngagement.engagement
    ).where(
        PostEngagement.stream_id.in_(sorted(set(stream_ids))),
        PostEngagement.day >= first,
        PostEngagement.day <= last,
    )
    if before is not None:
        query = query.join(Mention, Mention.id == PostEngagement.mention_id)
        query = query.where(Mention.created_at < before)
    return list(session.connection().execute(query.order_by(PostEngagement.day, PostEngagement.mention_id)))
