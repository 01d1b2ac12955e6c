"""Read-side queries of the web layer: mention search and the overview's figures.

Mention search is built from bound parameters only: the search box takes the query
language of tracker/query.py, answered by the full-text index (tracker/search_index.py).
It pages with LIMIT/OFFSET and counts matches
only up to COUNT_CAP, so a page costs the same on 300,000 mentions as on 300: a
stream filter walks the (stream_id, created_at) index of mention_streams, a time
filter the created_at index of mentions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, defer
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression

from tracker.config import Settings
from tracker.metrics import DayValue, daily, daily_each
from tracker.query import QueryError, parse
from tracker.samples import comparable
from tracker.search_index import engine_ids, where
from tracker.store import queries as store_queries
from tracker.store.enums import Role
from tracker.store.models import Mention, MentionStream, Stream
from tracker.store.queries import mention_streams
from tracker.store.queries import stream_names as stream_names  # the pages' name for it
from tracker.timeutil import FIRST_DAY as FIRST_DAY  # the pages' and the API's bounds too
from tracker.timeutil import LAST_DAY as LAST_DAY
from tracker.timeutil import day_bounds, iso_z, utcnow

SORTS = ("newest", "oldest", "engagement")
SENTIMENTS = ("positive", "neutral", "negative", "unscored")
KINDS = ("mention", "own")
PER_PAGE = 25
MAX_PER_PAGE = 200
COUNT_CAP = 10_000
MAX_QUERY = 1000  # tracker.query.MAX_QUERY
# Bounds of what a parameter may name: days (FIRST_DAY..LAST_DAY, from tracker.timeutil) and
# ids the databases' 64-bit integers can hold.
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class MentionFilter:
    q: str | None = None
    stream: str | None = None
    platform: str | None = None
    sentiment: str | None = None
    kind: str | None = None
    since: date | None = None
    until: date | None = None
    sort: str = "newest"
    page: int = 1
    per_page: int = PER_PAGE

    def params(self, **changes: Any) -> dict[str, str]:
        """The filter as query parameters (defaults left out), with `changes` applied."""
        values = replace(self, **changes)
        defaults = MentionFilter()
        found: dict[str, str] = {}
        for name in (
            "q",
            "stream",
            "platform",
            "sentiment",
            "kind",
            "since",
            "until",
            "sort",
            "page",
            "per_page",
        ):
            value = getattr(values, name)
            if value is not None and value != getattr(defaults, name):
                found[name] = value.isoformat() if isinstance(value, date) else str(value)
        return found


@dataclass
class MentionPage:
    mentions: list[dict[str, Any]]
    total: int  # matches, counted up to COUNT_CAP
    capped: bool  # more than COUNT_CAP match
    page: int
    per_page: int
    has_next: bool

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.mentions else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.mentions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mentions": self.mentions,
            "total": self.total,
            "total_capped": self.capped,
            "page": self.page,
            "per_page": self.per_page,
            "has_next": self.has_next,
        }


def parse_filter(params: Mapping[str, str | None]) -> tuple[MentionFilter, list[tuple[str, str]]]:
    """Query parameters -> a filter; every bad value is a (field, message) problem and left out."""
    problems: list[tuple[str, str]] = []

    def text(name: str, limit: int = 100) -> str | None:
        value = (params.get(name) or "").strip()
        if len(value) > limit:
            problems.append((name, f"at most {limit} characters"))
            return None
        return value or None

    def choice(name: str, options: Sequence[str]) -> str | None:
        value = text(name)
        if value is not None and value not in options:
            problems.append((name, f"expected one of {', '.join(options)}, got {value!r}"))
            return None
        return value

    def day(name: str) -> date | None:
        value = text(name)
        try:
            found = date.fromisoformat(value) if value else None
        except ValueError:
            found, value = None, value or ""
        if value and (found is None or not FIRST_DAY <= found <= LAST_DAY):
            problems.append(
                (name, f"expected a day like 2026-09-01 (from {FIRST_DAY} to {LAST_DAY}), got {value!r}")
            )
            return None
        return found

    def number(name: str, default: int, high: int) -> int:
        value = text(name)
        if value is None:
            return default
        if not (value.isascii() and value.isdigit() and len(value) <= 18) or not 1 <= int(value) <= high:
            problems.append((name, f"expected a whole number from 1 to {high}, got {value!r}"))
            return default
        return int(value)

    def query(name: str) -> str | None:
        value = text(name, MAX_QUERY)
        if value is not None:
            try:
                parse(value)
            except QueryError as exc:
                problems.append((name, str(exc)))  # kept: the box shows it, and nothing matches
        return value

    found = MentionFilter(
        q=query("q"),
        stream=text("stream"),
        platform=text("platform", 32),
        sentiment=choice("sentiment", SENTIMENTS),
        kind=choice("kind", KINDS),
        since=day("since"),
        until=day("until"),
        sort=choice("sort", SORTS) or "newest",
        page=number("page", 1, 100_000),
        per_page=number("per_page", PER_PAGE, MAX_PER_PAGE),
    )
    if found.since and found.until and found.until < found.since:
        problems.append(("until", f"{found.until} is before since {found.since}"))
    return found, problems


def platforms(session: Session) -> list[str]:
    """The platforms mentions come from: one index seek per platform (the identity index
    leads with platform), instead of a DISTINCT that reads all of them."""
    found: list[str] = []
    while len(found) < 100:
        query = select(func.min(Mention.platform))
        if found:
            query = query.where(Mention.platform > found[-1])
        platform = session.scalar(query)
        if platform is None:
            break
        found.append(platform)
    return found


def search_mentions(
    session: Session, settings: Settings, f: MentionFilter, *, count: bool = True
) -> MentionPage:
    """One page of mentions matching the filter, with their streams (SPEC §4 fields plus `id`)."""
    from tracker.mentions import mention_record

    found = _matching(session, settings, f)
    if found is None:
        return MentionPage([], 0, False, f.page, f.per_page, False)
    query, created = found
    total = 0
    if count:
        capped = _capped_ids(session, f, query)
        total = int(session.scalar(select(func.count()).select_from(capped)) or 0)
        if total == 0:
            return MentionPage([], 0, False, f.page, f.per_page, False)
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite and f.q and total > COUNT_CAP and f.sort != "engagement" and f.page <= 40:
        # Many matches: the newest ones are near the top of the time index, so read along it
        # and check each row against the full-text index, instead of gathering every match.
        dense = _matching(session, settings, f, per_row=True)
        assert dense is not None
        query, created = dense
    elif sqlite and not f.stream and (f.q or f.sentiment or f.platform):
        # A filter no index serves: walking the time index would fetch every row in time order
        # until a page matches (all 300,000 when few do). One scan and a top-N sort is bounded;
        # unary + keeps SQLite's planner from choosing the index. (A stream's own index bounds
        # the walk by the stream's size; PostgreSQL decides by cost.)
        created = UnaryExpression(created, operator=operators.custom_op("+"))
    page = _ordered(query, created, f.sort).limit(f.per_page + 1).offset((f.page - 1) * f.per_page)
    if f.sort == "engagement":
        # The page's ids first, then their rows: sorted by engagement, every match of the period
        # is sorted, and the time index holds engagement, so without a filter on other columns
        # the sort reads index entries only, not each match's row (a week of 19,000 mentions at
        # 3,000,000: 50 ms to 3 ms). Mention.created_at equals a link's copy of it.
        ids = page.with_only_columns(Mention.id).scalar_subquery()
        page = _ordered(select(Mention).where(Mention.id.in_(ids)), Mention.created_at, f.sort)
    page = page.options(defer(Mention.raw))
    rows: list[Mention] = list(session.scalars(page))
    shown = rows[: f.per_page]
    links = mention_streams(session, [m.id for m in shown])
    mentions = [
        {"id": m.id, "deleted_at": iso_z(m.deleted_at) if m.deleted_at else None,
         **mention_record(m, links.get(m.id, []))}
        for m in shown
    ]  # fmt: skip
    return MentionPage(
        mentions, min(total, COUNT_CAP), total > COUNT_CAP, f.page, f.per_page, len(rows) > f.per_page
    )


def _capped_ids(session: Session, f: MentionFilter, query: Select[Any]) -> Any:
    """At most COUNT_CAP + 1 ids of the matches, to count: from the full-text index alone when
    the query is all there is to match (it holds one row per mention), else from the filter."""
    if f.q and not (f.stream or f.since or f.until or f.platform or f.kind or f.sentiment):
        try:
            direct = engine_ids(parse(f.q), session.get_bind().dialect.name)
        except QueryError:
            direct = None
        if direct is not None:
            return direct.limit(COUNT_CAP + 1).subquery()
    return query.with_only_columns(Mention.id).limit(COUNT_CAP + 1).subquery()


def _matching(
    session: Session, settings: Settings, f: MentionFilter, *, per_row: bool = False
) -> tuple[Select[Any], Any] | None:
    """The filtered query (unordered) and its time column; None when a named stream does not exist
    (or the query cannot be read). `per_row`: see tracker.search_index.where."""
    query = select(Mention)
    created: Any = Mention.created_at
    if f.stream:
        stream_id = store_queries.stream_id(session, f.stream)
        if stream_id is None:
            return None
        link = MentionStream.mention_id == Mention.id
        query = query.join(MentionStream, and_(link, MentionStream.stream_id == stream_id))
        created = MentionStream.created_at  # a copy of the mention's, indexed with the stream
    zone = settings.organisation.zone
    if f.since:
        query = query.where(created >= day_bounds(f.since, f.since, zone)[0])
    if f.until:
        query = query.where(created < day_bounds(f.until, f.until, zone)[1])
    if f.platform:
        query = query.where(Mention.platform == f.platform)
    if f.kind:
        query = query.where(store_queries.kind_is(f.kind))
    if f.sentiment == "unscored":
        query = query.where(Mention.sentiment_label.is_(None))
    elif f.sentiment:
        query = query.where(Mention.sentiment_label == f.sentiment)
    if f.q:
        try:
            parsed = parse(f.q)
        except QueryError:
            return None
        query = query.where(where(parsed, session.get_bind().dialect.name, per_row=per_row))
    return query, created


def like_match(session: Session, q: str) -> Any:
    """The search before the query language: text or author contains q (bench reference)."""
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if session.get_bind().dialect.name == "sqlite":  # SQLite's LIKE already ignores (ASCII) case
        return or_(Mention.text.like(pattern, escape="\\"), Mention.author.like(pattern, escape="\\"))
    return or_(Mention.text.ilike(pattern, escape="\\"), Mention.author.ilike(pattern, escape="\\"))


def _ordered(query: Select[Any], created: Any, sort: str) -> Select[Any]:
    if sort == "oldest":
        return query.order_by(created.asc(), Mention.id.asc())
    if sort == "engagement":
        return query.order_by(Mention.engagement.desc(), created.desc(), Mention.id.desc())
    return query.order_by(created.desc(), Mention.id.desc())


# -- overview ---------------------------------------------------------------------------------


@dataclass
class StreamWeek:
    """One stream's last 7 days against the 7 before."""

    name: str
    role: str
    this: dict[str, float | None] = field(default_factory=dict)
    last: dict[str, float | None] = field(default_factory=dict)
    items: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> (this, last) items

    def too_few(self, metric: str) -> bool:
        """Both weeks have a figure but one rests on fewer than MIN_ITEMS items (tracker/samples.py)."""
        if self.this.get(metric) is None or self.last.get(metric) is None:
            return False
        return not comparable(*self.items.get(metric, (0.0, 0.0)))

    def change(self, metric: str) -> float | None:
        now, before = self.this.get(metric), self.last.get(metric)
        if now is None or before is None or self.too_few(metric):
            return None
        if metric in ("mentions", "engagement"):
            return (now - before) / before if before else None
        return now - before


WEEK_METRICS = ("mentions", "sentiment", "positive_share", "engagement")


def today(settings: Settings) -> date:
    return utcnow().astimezone(settings.organisation.zone).date()


def weeks(session: Session, settings: Settings, day: date) -> list[StreamWeek]:
    """Per stream: the 7 complete days before `day` against the 7 days before those."""
    zone = settings.organisation.zone
    first, last = day - timedelta(days=14), day - timedelta(days=1)
    split = day - timedelta(days=7)
    streams = _streams(session, settings)
    age = settings.experiments.engagement_age
    each = {m: daily_each(session, m, [s.id for s in streams], first, last, zone, engagement_age=age)
            for m in WEEK_METRICS}  # fmt: skip
    found = []
    for stream in streams:
        row = StreamWeek(stream.name, stream.role)
        for metric in WEEK_METRICS:
            values = each[metric][stream.id]
            recent = [v for d, v in values.items() if d >= split]
            before = [v for d, v in values.items() if d < split]
            row.this[metric], row.last[metric] = _combine(metric, recent), _combine(metric, before)
            row.items[metric] = (_items(metric, recent), _items(metric, before))
        found.append(row)
    return found


def _items(metric: str, values: list[DayValue]) -> float:
    """What a window's figure rests on: mentions counted, else the weights (scored mentions, posts)."""
    return float(sum(v.value if metric == "mentions" else v.weight for v in values))


def _combine(metric: str, values: list[DayValue]) -> float | None:
    """A window's figure: the sum for counts, else the mean weighted by what each day rests on."""
    if metric == "mentions":
        return sum(v.value for v in values)
    weight = sum(v.weight for v in values)
    return sum(v.value * v.weight for v in values) / weight if weight else None


def _streams(session: Session, settings: Settings) -> list[Stream]:
    rows = store_queries.streams_by_name(session)
    order = [s.name for s in settings.streams if s.name in rows]
    order += sorted(n for n in rows if n not in order)
    return [rows[n] for n in order]


@dataclass(frozen=True)
class DailyPoint:
    day: date
    mentions: int
    sentiment: float | None


def chart_streams(session: Session, settings: Settings) -> set[str]:
    """The streams the overview's daily chart adds up: all but competitors (all, if only those)."""
    streams = _streams(session, settings)
    return {s.name for s in streams if s.role != Role.COMPETITOR} or {s.name for s in streams}


def daily_series(session: Session, settings: Settings, first: date, last: date) -> list[DailyPoint]:
    """Daily mentions and mean sentiment of the organisation's own streams (all but competitors)."""
    streams = _streams(session, settings)
    ids = [s.id for s in streams if s.role != Role.COMPETITOR] or [s.id for s in streams]
    zone = settings.organisation.zone
    counts = daily(session, "mentions", ids, first, last, zone) if ids else {}
    scores = daily(session, "sentiment", ids, first, last, zone) if ids else {}
    return [
        DailyPoint(
            first + timedelta(days=i),
            int(counts[d].value) if (d := first + timedelta(days=i)) in counts else 0,
            scores[d].value if d in scores else None,
        )
        for i in range((last - first).days + 1)
    ]


@dataclass(frozen=True)
class Spike:
    day: date
    stream: str
    mentions: int
    usual: float  # what is normal for that weekday (the digest's robust rule)

    @property
    def ratio(self) -> float | None:
        return self.mentions / self.usual if self.usual else None


def spikes(session: Session, settings: Settings, first: date, last: date, *, recent: int = 28) -> list[Spike]:
    """Days of the last `recent` days far above a stream's normal volume for that weekday.

    The same rule as the digest (tracker/spikes.py): judged robustly (median and
    MAD) against the trailing weeks of the same weekday, so a page and the email agree.
    """
    from tracker.spikes import find_spikes

    zone = settings.organisation.zone
    found: list[Spike] = []
    streams = _streams(session, settings)
    each = daily_each(session, "mentions", [s.id for s in streams], first, last, zone)
    for stream in streams:
        counts = each[stream.id]
        history = {d: v.value for d, v in counts.items()}
        days = [d for d in history if d > last - timedelta(days=recent)]
        for spike in find_spikes(history, days):
            found.append(Spike(spike.day, stream.name, int(spike.count), spike.expected))
    return sorted(found, key=lambda s: (-(s.ratio or s.mentions), s.day))[:8]


def top_mentions(
    session: Session, settings: Settings, first: date, last: date, limit: int = 5
) -> list[dict[str, Any]]:
    """The most engaging mentions of first..last (any stream)."""
    f = MentionFilter(since=first, until=last, sort="engagement", per_page=limit)
    return search_mentions(session, settings, f, count=False).mentions
