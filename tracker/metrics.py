"""Daily metric values of a set of streams, aggregated in SQL, in the organisation's days.

A local day is bucketed in SQL without a per-row time-zone function: the window is
split into runs of days that share one UTC offset (a DST change splits it in two),
and within a run the day number is floor((epoch seconds + offset) / 86400). Each
run is one indexed range scan over mention_streams grouped by that number, so a
year of 300,000 mentions is a few milliseconds per series, on SQLite and
PostgreSQL alike.

Metrics (SPEC §6), per day:
  mentions        distinct mentions created that day in the streams (a count)
  sentiment       mean sentiment of the scored mentions (weight: how many)
  positive_share  share of scored mentions that are positive (weight: how many)
  engagement      mean engagement of the day's own posts, each read from its engagement
                  history at `engagement_age` after posting (weight: how many posts);
                  posts younger than that are left out until they are old enough
  share_of_voice  mentions of the streams / (those + mentions of every competitor stream)

Posts the platform has deleted since they were collected are left out of every metric.

Counts, sentiment and positive share are read from the daily aggregates
(tracker/aggregates.py) when they are built in the organisation's zone: a cost that
does not grow with the history. Otherwise (the zone changed, not yet repaired) they
are computed from the mentions as below, with the same figures. Engagement reads them
too (the cells' sums for the mean, the own posts' rows for the robust estimate) when
they are also built at `engagement_age`, for the days that are wholly older than that
age; of the day still growing old enough, the own posts' rows of the posts already that old.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast, distinct, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tracker import aggregates
from tracker.polarity import POSITIVE
from tracker.store.models import EngagementSnapshot, Mention, MentionStream
from tracker.store.queries import kind_is, links_in_window
from tracker.timeutil import day_start

METRICS = ("mentions", "sentiment", "positive_share", "engagement", "share_of_voice")
COUNT_METRICS = ("mentions",)
RELATIVE_METRICS = ("mentions", "engagement")  # min_effect is relative for these, absolute otherwise
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class DayValue:
    day: date
    value: float
    weight: float


def day_runs(first: date, last: date, zone: ZoneInfo) -> list[tuple[date, date, int | None]]:
    """Runs of consecutive 24-hour days sharing one UTC offset: (first, last, offset seconds).

    A day of a DST change (23 or 25 hours) is a run of its own with offset None: its
    rows all belong to it, whatever their offset.
    """
    runs: list[tuple[date, date, int | None]] = []
    day = first
    while day <= last:
        start, end = day_start(day, zone), day_start(day + timedelta(days=1), zone)
        offset: int | None = None
        if end - start == timedelta(days=1):
            utc_offset = start.astimezone(zone).utcoffset()
            offset = int(utc_offset.total_seconds()) if utc_offset is not None else 0
        if runs and offset is not None and runs[-1][2] == offset:
            runs[-1] = (runs[-1][0], day, offset)
        else:
            runs.append((day, day, offset))
        day += timedelta(days=1)
    return runs


def _epoch(column: Any, dialect: str) -> ColumnElement[Any]:
    """Seconds since 1970 of a naive-UTC timestamp column."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), Integer)
    return cast(func.strftime("%s", column), Integer)


def _by_day(query: Any, column: Any, run_first: date, offset: int | None, dialect: str) -> Any:
    """Add the local day number (days since 1970-01-01) as the first column, grouped by it.

    A DST day (offset None) is one group by construction: its rows are only selected
    by the range, so no expression is needed (and PostgreSQL would read a constant in
    GROUP BY as a column position).
    """
    if offset is None:
        return query.add_columns(literal((run_first - EPOCH).days).label("day"))
    day = cast(func.floor((_epoch(column, dialect) + literal(offset)) / literal(86400.0)), Integer)
    return query.add_columns(day.label("day")).group_by(day)


def daily(
    session: Session,
    metric: str,
    stream_ids: Sequence[int],
    first: date,
    last: date,
    zone: ZoneInfo,
    *,
    competitor_ids: Sequence[int] = (),
    engagement_age: timedelta = timedelta(hours=48),
    now: datetime | None = None,
    matching: Any = None,
) -> dict[date, DayValue]:
    """The metric for each day of first..last that has data (counts: every day, zeros included).

    `matching`: a subquery of mention ids (a saved search, tracker/selection.py); only those
    of the streams' mentions count. Competitor mentions (share_of_voice) are never narrowed.
    """
    now = now or datetime.now(UTC)
    if metric == "mentions":
        counts = _counts(session, stream_ids, first, last, zone, matching=matching)
        return {d: DayValue(d, float(counts.get(d, 0)), 1.0) for d in _days(first, last)}
    if metric in ("sentiment", "positive_share"):
        return _scores(session, metric, stream_ids, first, last, zone, matching)
    if metric == "engagement":
        return _engagement(session, stream_ids, first, last, zone, engagement_age, now, matching)
    if metric == "share_of_voice":
        ours = _counts(session, stream_ids, first, last, zone, matching=matching)
        theirs = _counts(session, competitor_ids, first, last, zone, exclude=stream_ids)
        found = {}
        for d in _days(first, last):
            total = ours.get(d, 0) + theirs.get(d, 0)
            if total:
                found[d] = DayValue(d, ours.get(d, 0) / total, float(total))
        return found
    raise ValueError(f"unknown metric {metric!r}")


EACH_METRICS = ("mentions", "sentiment", "positive_share", "engagement")


def daily_each(
    session: Session,
    metric: str,
    stream_ids: Sequence[int],
    first: date,
    last: date,
    zone: ZoneInfo,
    *,
    engagement_age: timedelta = timedelta(hours=48),
    now: datetime | None = None,
) -> dict[int, dict[date, DayValue]]:
    """`daily` of each stream on its own: the same figures, for per-stream tables (the
    overview's weeks and spikes). From the aggregates the streams' cells (and own-post rows)
    are read once for all of them instead of once per stream; otherwise (the raw mentions)
    stream by stream."""
    now = now or datetime.now(UTC)
    ids = list(dict.fromkeys(stream_ids))
    if metric not in EACH_METRICS or not _aggregated(session, zone, None):
        return {s: daily(session, metric, [s], first, last, zone, engagement_age=engagement_age, now=now)
                for s in ids}  # fmt: skip
    if metric == "engagement":
        return _engagement_each(session, ids, first, last, zone, engagement_age, now)
    cells = aggregates.daily_each(session, ids, first, last)
    found: dict[int, dict[date, DayValue]] = {}
    for s in ids:
        mine = cells.get(s, {})
        if metric == "mentions":
            found[s] = {
                d: DayValue(d, float(mine[d][0] if d in mine else 0), 1.0) for d in _days(first, last)
            }
        else:
            found[s] = {
                d: DayValue(d, (v[2] if metric == "sentiment" else v[3]) / v[1], float(v[1]))
                for d, v in mine.items()
                if v[1]
            }
    return found


def _engagement_each(
    session: Session,
    ids: list[int],
    first: date,
    last: date,
    zone: ZoneInfo,
    age: timedelta,
    now: datetime,
) -> dict[int, dict[date, DayValue]]:
    """`_engagement` of each stream on its own (`daily_each`)."""
    if not _at_age(session, zone, age, None, None):
        return {s: _engagement(session, [s], first, last, zone, age, now) for s in ids}
    found: dict[int, dict[date, DayValue]] = {s: {} for s in ids}
    old_enough = _old_enough(first, last, zone, age, now)
    if old_enough is not None:
        for s, cells in aggregates.daily_each(session, ids, first, old_enough).items():
            found[s].update(_own_means(cells))
        first = old_enough + timedelta(days=1)
    for s, posts in aggregates.posts_each(session, ids, first, last, before=now - age).items():
        found[s].update(_post_means(posts))
    return found


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _linked(
    stream_ids: Sequence[int], lo: datetime, hi: datetime, exclude: Sequence[int] = (), matching: Any = None
) -> Any:
    """Distinct (mention id, created_at) of the streams in [lo, hi), deleted posts left out.

    A post the platform has deleted (tracker.refresh marks it) is kept in the store but no
    longer counted; the deleted ones are few, found through their own index.
    """
    deleted = select(Mention.id).where(Mention.deleted_at.is_not(None))
    query = links_in_window(stream_ids, lo, hi).where(MentionStream.mention_id.not_in(deleted))
    if exclude:
        ours = select(MentionStream.mention_id).where(MentionStream.stream_id.in_(list(exclude)))
        query = query.where(MentionStream.mention_id.not_in(ours))
    if matching is not None:
        query = query.where(MentionStream.mention_id.in_(matching))
    return query.distinct().subquery()


def _counts(
    session: Session,
    stream_ids: Sequence[int],
    first: date,
    last: date,
    zone: ZoneInfo,
    exclude: Sequence[int] = (),
    *,
    matching: Any = None,
    use_aggregates: bool | None = None,
) -> dict[date, int]:
    if not stream_ids:
        return {}
    if matching is None and _aggregated(session, zone, use_aggregates):
        cells = aggregates.daily(session, stream_ids, first, last, exclude=exclude)
        return {d: v[0] for d, v in cells.items() if v[0]}
    dialect = session.get_bind().dialect.name
    found: dict[date, int] = {}
    for run_first, run_last, offset in day_runs(first, last, zone):
        lo, hi = day_start(run_first, zone), day_start(run_last + timedelta(days=1), zone)
        linked = _linked(stream_ids, lo, hi, exclude, matching)
        query = select(func.count(distinct(linked.c.mention_id)))
        query = _by_day(query, linked.c.created_at, run_first, offset, dialect)
        for count, number in session.execute(query):
            if count:
                found[EPOCH + timedelta(days=int(number))] = int(count)
    return found


def _aggregated(session: Session, zone: ZoneInfo, use: bool | None) -> bool:
    """Whether to read the daily aggregates (tracker/aggregates.py): when built in this zone."""
    return aggregates.usable(session, zone) if use is None else use


def _scores(
    session: Session,
    metric: str,
    stream_ids: Sequence[int],
    first: date,
    last: date,
    zone: ZoneInfo,
    matching: Any = None,
    *,
    use_aggregates: bool | None = None,
) -> dict[date, DayValue]:
    found: dict[date, DayValue] = {}
    if matching is None and _aggregated(session, zone, use_aggregates):
        for d, (_, n, total, positives, *_) in aggregates.daily(session, stream_ids, first, last).items():
            if n:
                found[d] = DayValue(d, (total if metric == "sentiment" else positives) / n, float(n))
        return found
    dialect = session.get_bind().dialect.name
    for run_first, run_last, offset in day_runs(first, last, zone):
        lo, hi = day_start(run_first, zone), day_start(run_last + timedelta(days=1), zone)
        linked = _linked(stream_ids, lo, hi, matching=matching)
        positive = func.sum(cast(Mention.sentiment >= POSITIVE, Integer))
        query = (
            select(func.count(Mention.sentiment), func.sum(Mention.sentiment), positive)
            .select_from(linked)
            .join(Mention, Mention.id == linked.c.mention_id)
            .where(Mention.sentiment.is_not(None))
        )
        query = _by_day(query, linked.c.created_at, run_first, offset, dialect)
        for n, total, positives, number in session.execute(query):
            if not n:
                continue
            value = float(total) / n if metric == "sentiment" else float(positives) / n
            d = EPOCH + timedelta(days=int(number))
            found[d] = DayValue(d, value, float(n))
    return found


def _engagement(
    session: Session,
    stream_ids: Sequence[int],
    first: date,
    last: date,
    zone: ZoneInfo,
    age: timedelta,
    now: datetime,
    matching: Any = None,
    *,
    use_aggregates: bool | None = None,
) -> dict[date, DayValue]:
    """Own posts only; each post's engagement as it stood `age` after posting."""
    if not _at_age(session, zone, age, matching, use_aggregates):
        return _post_means(_posts_raw(session, stream_ids, first, last, zone, age, now, matching))
    found: dict[date, DayValue] = {}
    old_enough = _old_enough(first, last, zone, age, now)
    if old_enough is not None:
        found.update(_own_means(aggregates.daily(session, stream_ids, first, old_enough)))
        first = old_enough + timedelta(days=1)
    found.update(_post_means(aggregates.posts(session, stream_ids, first, last, before=now - age)))
    return found


def _own_means(cells: dict[date, aggregates.Values]) -> dict[date, DayValue]:
    """Per day, the own posts' mean engagement from the cells' count and sum of them."""
    return {d: DayValue(d, v[6] / v[5], float(v[5])) for d, v in cells.items() if v[5]}


def _post_means(posts: dict[date, list[float]]) -> dict[date, DayValue]:
    """Per day, the mean of the posts' engagement, weighted by how many."""
    return {d: DayValue(d, sum(v) / len(v), float(len(v))) for d, v in posts.items()}


def _at_age(session: Session, zone: ZoneInfo, age: timedelta, matching: Any, use: bool | None) -> bool:
    """Whether the aggregates give the own posts' engagement: built in this zone at this age, and
    no saved search narrows the posts."""
    return matching is None and (aggregates.usable(session, zone, age) if use is None else use)


def _old_enough(first: date, last: date, zone: ZoneInfo, age: timedelta, now: datetime) -> date | None:
    """The last day of first..last wholly older than `age`, if any: its posts' figures are in
    the cells. On the days after it only the posts already that old count (own-post rows)."""
    cut = min(day_start(last + timedelta(days=1), zone), now - age)
    # the days before the one `cut` falls in (or starts) end at or before it
    end = min(last, cut.astimezone(zone).date() - timedelta(days=1))
    return end if end >= first else None


def engagement_posts(
    session: Session,
    stream_ids: Sequence[int],
    first: date,
    last: date,
    zone: ZoneInfo,
    age: timedelta,
    now: datetime,
    *,
    matching: Any = None,
    use_aggregates: bool | None = None,
) -> dict[date, list[float]]:
    """Per day, the engagement of each own post (as `engagement` reads them), for robust estimates.

    From the own posts' rows of the aggregates (a range scan by day) when they are built at
    `age`, else from the engagement history."""
    if not _at_age(session, zone, age, matching, use_aggregates):
        return _posts_raw(session, stream_ids, first, last, zone, age, now, matching)
    found: dict[date, list[float]] = {}
    old_enough = _old_enough(first, last, zone, age, now)
    if old_enough is not None:
        found.update(aggregates.posts(session, stream_ids, first, old_enough))
        first = old_enough + timedelta(days=1)
    found.update(aggregates.posts(session, stream_ids, first, last, before=now - age))
    return found


def _posts_raw(
    session: Session,
    stream_ids: Sequence[int],
    first: date,
    last: date,
    zone: ZoneInfo,
    age: timedelta,
    now: datetime,
    matching: Any = None,
) -> dict[date, list[float]]:
    """`engagement_posts` from the mentions and their engagement history (a post of two of the
    streams once), in the order of the posts' ids (as the aggregates' own-post rows are read)."""
    if last < first:
        return {}
    lo, hi = day_start(first, zone), min(day_start(last + timedelta(days=1), zone), now - age)
    if hi <= lo:
        return {}
    linked = _linked(stream_ids, lo, hi, matching=matching)
    posts = session.execute(
        select(Mention.id, Mention.created_at, Mention.engagement)
        .join(linked, linked.c.mention_id == Mention.id)
        .where(kind_is("own"))
        .order_by(Mention.id)
    ).all()
    if not posts:
        return {}
    at_age = _engagement_at_age(session, [(p.id, p.created_at + age) for p in posts])
    sums: dict[date, list[float]] = {}
    for post in posts:
        value = at_age.get(post.id, post.engagement)
        sums.setdefault(post.created_at.astimezone(zone).date(), []).append(float(value))
    return sums


def _engagement_at_age(session: Session, marks: list[tuple[int, datetime]]) -> dict[int, int]:
    """Per post, the engagement of its last snapshot at or before the mark; when the post was
    first observed only after the mark (history imported late), its earliest snapshot."""
    ids = [post_id for post_id, _ in marks]
    mark = dict(marks)
    history: dict[int, list[tuple[datetime, int]]] = {}
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(
                EngagementSnapshot.mention_id, EngagementSnapshot.observed_at, EngagementSnapshot.engagement
            )
            .where(EngagementSnapshot.mention_id.in_(ids[i : i + 500]))
            .order_by(EngagementSnapshot.mention_id, EngagementSnapshot.observed_at, EngagementSnapshot.id)
        )
        for mention_id, observed, engagement in rows:
            history.setdefault(mention_id, []).append((observed, engagement))
    found: dict[int, int] = {}
    for post_id, snapshots in history.items():
        before = [e for observed, e in snapshots if observed <= mark[post_id]]
        found[post_id] = before[-1] if before else snapshots[0][1]
    return found
