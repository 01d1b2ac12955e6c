"""The digest's data: one ISO week against the week before, read from the store (SPEC §8).

Everything the email says is in one JSON-ready dict (`tracker digest --json` prints
it; the templates only format it). Figures come from `tracker.metrics.daily`, the
same SQL aggregation the experiments are measured with, so a stream's mentions in
the digest and in an experiment's baseline agree. "Our" streams are the brand and
owned ones; competitor streams get their own rows but stay out of the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from tracker.config import Settings
from tracker.coverage import uncovered_days
from tracker.digest import fmt
from tracker.digest.weeks import Week
from tracker.maturity import Model
from tracker.metrics import DayValue, daily
from tracker.samples import MIN_ITEMS, comparable
from tracker.spikes import find_spikes
from tracker.store.db import Store
from tracker.store.enums import Role, RunStatus
from tracker.store.models import CollectionRun, Mention, MentionStream
from tracker.store.queries import links_in_window, mention_streams, streams_by_name
from tracker.timeutil import iso_z, utcnow

if TYPE_CHECKING:  # imported when the digest is built (it reads the experiments and the reflection)
    from tracker.digest.activity import DigestExperiment, DigestMaturity

CHART_WEEKS = 8
TOP_MENTIONS = 5
TOP_OWN_POSTS = 3
TOP_SAVED = 3  # top mentions per saved search
TEXT_LIMIT = 400  # characters of a mention's text shown in the digest
Metric = Literal["mentions", "sentiment", "positive_share", "engagement"]
METRICS: tuple[Metric, ...] = ("mentions", "sentiment", "positive_share", "engagement")


class WeekHeader(TypedDict):
    label: str
    start: str
    end: str
    title: str
    complete: bool


class PreviousWeek(TypedDict):
    label: str
    start: str
    end: str


class DigestHeader(TypedDict):
    """The digest's first fields: whose it is, which week, and when it was built."""

    organisation: str
    timezone: str
    week: WeekHeader
    previous_week: PreviousWeek
    engagement_age_hours: float
    generated_at: str


class WeekFigure(TypedDict):
    """A metric this week and last (`change_rel` only for counts and engagement)."""

    value: float | None
    previous: float | None
    change: float | None
    change_rel: float | None
    n: float
    previous_n: float
    comparable: bool
    min_items: int


class MetricFigures(TypedDict):
    """A set of streams' figures of the week, one per metric (share of voice only against competitors)."""

    mentions: WeekFigure
    sentiment: WeekFigure
    positive_share: WeekFigure
    engagement: WeekFigure
    share_of_voice: NotRequired[WeekFigure]


class SummaryRecord(MetricFigures):
    """The totals of our streams (`streams` names them; competitors only if there are no others)."""

    streams: list[str]


class StreamFigures(MetricFigures):
    """One stream's row of figures, with the days of the week its collection did not cover."""

    name: str
    role: str
    connector: str
    uncovered_days: list[str]


class ChartDay(TypedDict):
    day: str
    mentions: int
    sentiment: float | None
    scored: int


class ChartRecord(TypedDict):
    """Daily mentions and mean sentiment of our streams over the chart's weeks."""

    first: str
    last: str
    days: list[ChartDay]


class DigestMention(TypedDict):
    """A top mention or own post as the digest shows it (text cut at TEXT_LIMIT)."""

    platform: str
    author: str | None
    url: str | None
    text: str
    created_at: str
    local_time: str
    kind: str
    engagement: int
    likes: int | None
    reposts: int | None
    replies: int | None
    quotes: int | None
    sentiment: float | None
    sentiment_label: str | None
    streams: list[str]


class SpikeRecord(TypedDict):
    """A day of the week on which a stream had far more mentions than usual (tracker.spikes)."""

    day: str
    stream: str
    role: str
    mentions: int
    expected: float
    ratio: float | None
    score: float


class DigestAlert(TypedDict):
    """An alert firing of the week (tracker/alerts.py)."""

    alert: str
    kind: str
    subject: str
    fired_at: str
    local_time: str
    cleared_at: str | None


class SavedSearchRecord(TypedDict):
    """A saved search's mentions this week and last, and this week's most engaging ones."""

    name: str
    query: str
    mentions: int
    previous: int
    top_mentions: list[DigestMention]


class LastError(TypedDict):
    at: str
    status: str
    error: str | None


class HealthRow(TypedDict):
    """One configured stream's collection runs of the week, its last error and uncovered days."""

    name: str
    connector: str
    runs: int
    ok: int
    partial: int
    failed: int
    last_error: LastError | None
    uncovered_days: list[str]
    collected: bool


class HealthRecord(TypedDict):
    """The week's collection health: run totals, per stream, and one line per problem."""

    runs: int
    ok: int
    partial: int
    failed: int
    streams: list[HealthRow]
    problems: list[str]


class DigestFigures(DigestHeader):
    """The part of the digest read in the week's one session (build_digest)."""

    summary: SummaryRecord
    streams: list[StreamFigures]
    chart: ChartRecord
    spikes: list[SpikeRecord]
    top_mentions: list[DigestMention]
    top_own_posts: list[DigestMention]
    saved_searches: list[SavedSearchRecord]
    alerts: list[DigestAlert]
    health: HealthRecord


class DigestRecord(DigestFigures):
    """The whole digest: `tracker digest --json` prints it, the templates format it."""

    experiments: dict[str, list[DigestExperiment]]
    maturity: DigestMaturity
    highlights: list[str]


@dataclass(frozen=True)
class _Stream:
    name: str
    role: str
    connector: str
    id: int | None  # None: configured but not in the database yet
    configured: bool


@dataclass(frozen=True)
class _WeekBuild:
    """One week's build: the session, settings, week and clock every part of it reads."""

    session: Session
    settings: Settings
    week: Week
    zone: ZoneInfo
    now: datetime

    @property
    def history_first(self) -> date:
        return self.week.start - timedelta(days=7 * CHART_WEEKS)

    @property
    def last_complete_day(self) -> date:
        return self.now.astimezone(self.zone).date() - timedelta(days=1)

    def series(self, metric: str, ids: Sequence[int], first: date, competitors: Sequence[int] = ()) -> Any:
        return daily(
            self.session,
            metric,
            ids,
            first,
            self.week.end,
            self.zone,
            competitor_ids=competitors,
            engagement_age=self.settings.experiments.engagement_age,
            now=self.now,
        )


def build_digest(
    store: Store, settings: Settings, week: Week, *, model: Model, now: datetime | None = None
) -> DigestRecord:
    """The whole digest of `week` as plain data (dates ISO, instants UTC with Z)."""
    now = now or utcnow()
    with store.read() as session:
        figures = _figures_of_week(_WeekBuild(session, settings, week, settings.organisation.zone, now))
    from tracker.digest.activity import experiments, maturity

    data: DigestRecord = {
        **figures,
        "experiments": experiments(store, settings, model, week, now),
        "maturity": maturity(store, settings, model, week),
        "highlights": [],  # said of the rest of the record, below
    }
    data["highlights"] = fmt.highlights(data)
    return data


def _figures_of_week(ctx: _WeekBuild) -> DigestFigures:
    """Everything of the digest that the week's session reads, in the order --json prints it."""
    streams = _streams(ctx.session, ctx.settings)
    uncovered = _uncovered(ctx, streams)
    return {
        **_header(ctx),
        "summary": _summary(ctx, streams),
        "streams": [_stream_figures(ctx, s, uncovered.get(s.name, [])) for s in streams],
        "chart": _chart(ctx, streams),
        "spikes": _spikes(ctx, streams, uncovered),
        "top_mentions": _top(ctx, streams, kind="mention", limit=TOP_MENTIONS),
        "top_own_posts": _top(ctx, streams, kind="own", limit=TOP_OWN_POSTS),
        "saved_searches": _saved_searches(ctx, streams),
        "alerts": _alerts(ctx),
        "health": _health(ctx, streams, uncovered),
    }


def _header(ctx: _WeekBuild) -> DigestHeader:
    week, previous = ctx.week, ctx.week.previous
    return {
        "organisation": ctx.settings.organisation.name,
        "timezone": ctx.settings.organisation.timezone,
        "week": {
            "label": week.label,
            "start": week.start.isoformat(),
            "end": week.end.isoformat(),
            "title": week.title(),
            "complete": ctx.now >= week.bounds(ctx.zone)[1],
        },
        "previous_week": {
            "label": previous.label,
            "start": previous.start.isoformat(),
            "end": previous.end.isoformat(),
        },
        "engagement_age_hours": round(ctx.settings.experiments.engagement_age.total_seconds() / 3600, 1),
        "generated_at": iso_z(ctx.now.replace(microsecond=0)),
    }


def _streams(session: Session, settings: Settings) -> list[_Stream]:
    """Configured streams in config order, then import-only ones by name; competitors last."""
    rows = streams_by_name(session)
    found = []
    for conf in settings.streams:
        row = rows.get(conf.name)
        found.append(_Stream(conf.name, conf.role, conf.connector, row.id if row else None, True))
    for name in sorted(set(rows) - {s.name for s in settings.streams}):
        row = rows[name]
        found.append(_Stream(name, row.role, row.connector, row.id, False))
    return sorted(found, key=lambda s: s.role == Role.COMPETITOR)


def _ours(streams: Sequence[_Stream]) -> list[int]:
    ids = [s.id for s in streams if s.id is not None and s.role != Role.COMPETITOR]
    return ids or [s.id for s in streams if s.id is not None]


def _competitors(streams: Sequence[_Stream]) -> list[int]:
    return [s.id for s in streams if s.id is not None and s.role == Role.COMPETITOR]


# -- figures ----------------------------------------------------------------------------------


def _week_value(values: dict[date, DayValue], week: Week, metric: str) -> tuple[float | None, float]:
    """(the week's value, its weight): a count sums; means are weighted by their day's weight."""
    days = [values[d] for d in week.days() if d in values]
    if metric == "mentions":
        return float(sum(v.value for v in days)), float(len(days))
    weight = sum(v.weight for v in days)
    if not weight:
        return None, 0.0
    return sum(v.value * v.weight for v in days) / weight, weight


def _entry(values: dict[date, DayValue], week: Week, metric: str) -> WeekFigure:
    """A metric this week and last, with the change (relative only for counts and engagement)."""
    value, n = _week_value(values, week, metric)
    previous, previous_n = _week_value(values, week.previous, metric)
    change = value - previous if value is not None and previous is not None else None
    relative = metric in ("mentions", "engagement")
    items, previous_items = (value, previous) if metric == "mentions" else (n, previous_n)
    return {
        "value": value,
        "previous": previous,
        "change": change,
        "change_rel": change / previous if relative and change is not None and previous else None,
        "n": n,
        "previous_n": previous_n,
        # tracker/samples.py: a change resting on fewer than MIN_ITEMS items is "too few to compare"
        "comparable": comparable(items, previous_items),
        "min_items": MIN_ITEMS,
    }


def _figures(ctx: _WeekBuild, ids: Sequence[int], competitors: Sequence[int] = ()) -> MetricFigures:
    first = ctx.week.previous.start

    def figure(metric: Metric) -> WeekFigure:
        return _entry(ctx.series(metric, ids, first), ctx.week, metric)

    figures: MetricFigures = {
        "mentions": figure("mentions"),
        "sentiment": figure("sentiment"),
        "positive_share": figure("positive_share"),
        "engagement": figure("engagement"),
    }
    if competitors:
        sov = ctx.series("share_of_voice", ids, first, competitors)
        figures["share_of_voice"] = _entry(sov, ctx.week, "share_of_voice")
    return figures


def _summary(ctx: _WeekBuild, streams: Sequence[_Stream]) -> SummaryRecord:
    ours = _ours(streams)
    names = [s.name for s in streams if s.role != Role.COMPETITOR] or [s.name for s in streams]
    figures = _figures(ctx, ours, _competitors(streams)) if ours else _figures(ctx, [])
    return {"streams": names, **figures}


def _stream_figures(ctx: _WeekBuild, stream: _Stream, uncovered: list[date]) -> StreamFigures:
    week_days = set(ctx.week.days())
    return {
        "name": stream.name,
        "role": stream.role,
        "connector": stream.connector,
        **_figures(ctx, [stream.id] if stream.id is not None else []),
        "uncovered_days": [d.isoformat() for d in uncovered if d in week_days],
    }


def _chart(ctx: _WeekBuild, streams: Sequence[_Stream]) -> ChartRecord:
    """Daily mentions and mean sentiment of our streams over the last 8 weeks."""
    ours = _ours(streams)
    first = ctx.history_first + timedelta(days=7)
    counts = ctx.series("mentions", ours, first)
    scores = ctx.series("sentiment", ours, first)
    days = [first + timedelta(days=i) for i in range((ctx.week.end - first).days + 1)]
    return {
        "first": first.isoformat(),
        "last": ctx.week.end.isoformat(),
        "days": [
            {
                "day": d.isoformat(),
                "mentions": int(counts[d].value) if d in counts else 0,
                "sentiment": round(scores[d].value, 4) if d in scores else None,
                "scored": int(scores[d].weight) if d in scores else 0,
            }
            for d in days
        ],
    }


# -- spikes, top mentions, health -------------------------------------------------------------


def _uncovered(ctx: _WeekBuild, streams: Sequence[_Stream]) -> dict[str, list[date]]:
    """Per collected stream, the days of the chart window its collection did not cover."""
    last = min(ctx.week.end, ctx.last_complete_day)
    found: dict[str, list[date]] = {}
    for s in streams:
        if s.id is not None and s.configured and last >= ctx.history_first:
            found[s.name] = uncovered_days(ctx.session, [s.id], ctx.history_first, last, ctx.zone)
    return found


def _spikes(
    ctx: _WeekBuild, streams: Sequence[_Stream], uncovered: dict[str, list[date]]
) -> list[SpikeRecord]:
    found: list[SpikeRecord] = []
    for s in streams:
        if s.id is None:
            continue
        counts = ctx.series("mentions", [s.id], ctx.history_first)
        skip = set(uncovered.get(s.name, []))
        history = {d: v.value for d, v in counts.items() if d not in skip and d <= ctx.last_complete_day}
        for spike in find_spikes(history, ctx.week.days(), weeks=CHART_WEEKS):
            found.append(
                {
                    "day": spike.day.isoformat(),
                    "stream": s.name,
                    "role": s.role,
                    "mentions": int(spike.count),
                    "expected": round(spike.expected, 1),
                    "ratio": round(spike.count / spike.expected, 1) if spike.expected > 0 else None,
                    "score": round(spike.score, 1),
                }
            )
    return sorted(found, key=lambda f: (f["day"], -f["score"]))


TOP_CHUNK = 500  # candidate ids per statement (one IN list)


def _top(ctx: _WeekBuild, streams: Sequence[_Stream], *, kind: str, limit: int) -> list[DigestMention]:
    """The week's items of our streams with the most engagement (latest figures): what others
    said (`mention`), or our own posts (`own`), which would otherwise crowd the others out."""
    ours = _ours(streams)
    if not ours:
        return []
    lo, hi = ctx.week.bounds(ctx.zone)
    # The week's mentions in order of engagement from the time index alone (it holds id and
    # engagement), a chunk at a time, each chunk then narrowed to the kind and our streams: the
    # week's links of our streams joined to their mentions and sorted read every one of them
    # (19,000 at 3,000,000 mentions: 180 ms on PostgreSQL). Mention.created_at equals a link's copy.
    order = (Mention.engagement.desc(), Mention.created_at.desc(), Mention.id)
    ranked = select(Mention.id).where(Mention.created_at >= lo, Mention.created_at < hi).order_by(*order)
    linked = (  # correlated: each candidate's own links, by the primary key (mention, stream)
        links_in_window(ours, lo, hi).with_only_columns(MentionStream.mention_id)
        .where(MentionStream.mention_id == Mention.id).exists()
    )  # fmt: skip
    rows: list[Mention] = []
    done, size = 0, max(50, 10 * limit)
    while len(rows) < limit:
        ids = list(ctx.session.scalars(ranked.limit(size)))
        for i in range(done, len(ids), TOP_CHUNK):
            chunk = ids[i : i + TOP_CHUNK]
            candidates = select(Mention).where(Mention.id.in_(chunk), linked).options(defer(Mention.raw))
            # the kind tested here: in SQL, SQLite walks the kind's index through all history
            found = ctx.session.scalars(candidates.order_by(*order))
            rows += [m for m in found if m.kind == kind]
            if len(rows) >= limit:
                break
        if len(ids) < size:
            break
        done, size = len(ids), 4 * size
    rows = rows[:limit]
    names = {s.id: s.name for s in streams if s.id is not None}
    links = mention_streams(ctx.session, [m.id for m in rows], names)
    return [_mention(m, sorted(links.get(m.id, [])), ctx.zone) for m in rows]


def _alerts(ctx: _WeekBuild) -> list[DigestAlert]:
    """The week's alert firings, oldest first (tracker/alerts.py)."""
    from tracker.store.models import AlertFiring

    start, end = ctx.week.bounds(ctx.zone)
    rows = ctx.session.scalars(
        select(AlertFiring)
        .where(AlertFiring.fired_at >= start, AlertFiring.fired_at < end)
        .order_by(AlertFiring.fired_at)
    ).all()
    return [
        {"alert": r.alert, "kind": r.kind, "subject": r.subject, "fired_at": iso_z(r.fired_at),
         "local_time": f"{r.fired_at.astimezone(ctx.zone):%a %H:%M}",
         "cleared_at": iso_z(r.cleared_at) if r.cleared_at else None}
        for r in rows
    ]  # fmt: skip


def _saved_searches(ctx: _WeekBuild, streams: Sequence[_Stream]) -> list[SavedSearchRecord]:
    """Per saved search: its mentions this week and last, and this week's most engaging ones
    (any stream), read through the full-text index (tracker/saved_searches.py)."""
    from tracker.query import QueryError, parse
    from tracker.search_index import where
    from tracker.store.models import SavedSearch

    found: list[SavedSearchRecord] = []
    names = {s.id: s.name for s in streams if s.id is not None}
    dialect = ctx.session.get_bind().dialect.name
    for search in ctx.session.scalars(select(SavedSearch).order_by(SavedSearch.name)):
        try:
            clause = where(parse(search.query), dialect)
        except QueryError:  # saved before a change of the language: shown, not fatal
            continue
        counts = []
        for week in (ctx.week, ctx.week.previous):
            lo, hi = week.bounds(ctx.zone)
            window = (Mention.created_at >= lo, Mention.created_at < hi)
            counts.append(ctx.session.scalar(select(func.count()).where(clause, *window)) or 0)
        lo, hi = ctx.week.bounds(ctx.zone)
        top = ctx.session.scalars(
            select(Mention)
            .where(clause, Mention.created_at >= lo, Mention.created_at < hi)
            .order_by(Mention.engagement.desc(), Mention.created_at.desc(), Mention.id)
            .limit(TOP_SAVED)
        ).all()
        links = mention_streams(ctx.session, [m.id for m in top], names)
        found.append(
            {
                "name": search.name,
                "query": search.query,
                "mentions": counts[0],
                "previous": counts[1],
                "top_mentions": [_mention(m, sorted(links.get(m.id, [])), ctx.zone) for m in top],
            }
        )
    return found


def _mention(m: Mention, streams: list[str], zone: ZoneInfo) -> DigestMention:
    text = " ".join(m.text.split())
    local = m.created_at.astimezone(zone)
    return {
        "platform": m.platform,
        "author": m.author,
        "url": m.url,
        "text": text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1].rstrip() + "…",
        "created_at": iso_z(m.created_at),
        "local_time": f"{fmt.day_short(local.date())}, {local:%H:%M}",
        "kind": m.kind,
        "engagement": m.engagement,
        "likes": m.likes,
        "reposts": m.reposts,
        "replies": m.replies,
        "quotes": m.quotes,
        "sentiment": m.sentiment,
        "sentiment_label": m.sentiment_label,
        "streams": streams,
    }


def _health(ctx: _WeekBuild, streams: Sequence[_Stream], uncovered: dict[str, list[date]]) -> HealthRecord:
    """Collection runs of the week per configured stream, failures, and days not covered."""
    lo, hi = ctx.week.bounds(ctx.zone)
    in_week = (CollectionRun.started_at >= lo, CollectionRun.started_at < hi)
    counts: dict[tuple[int, str], int] = {}
    grouped = (
        select(CollectionRun.stream_id, CollectionRun.status, func.count())
        .where(*in_week)
        .group_by(CollectionRun.stream_id, CollectionRun.status)
    )
    for stream_id, status, n in ctx.session.execute(grouped):
        counts[(stream_id, status)] = n
    newest = select(func.max(CollectionRun.id)).where(*in_week, CollectionRun.error.is_not(None))
    failed = select(CollectionRun).where(CollectionRun.id.in_(newest.group_by(CollectionRun.stream_id)))
    errors = {run.stream_id: run for run in ctx.session.scalars(failed)}
    ever = set(ctx.session.scalars(select(CollectionRun.stream_id).distinct()))
    week_days = set(ctx.week.days())
    rows = [
        _health_row(s, counts, errors, [d for d in uncovered.get(s.name, []) if d in week_days], s.id in ever)
        for s in streams
        if s.configured
    ]
    return _health_summary(rows)


def _health_row(
    s: _Stream,
    counts: dict[tuple[int, str], int],
    errors: dict[int, CollectionRun],
    uncovered: list[date],
    collected: bool,
) -> HealthRow:
    stored = (RunStatus.OK, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.RUNNING)
    by_status = {st: counts.get((s.id, st), 0) if s.id else 0 for st in stored}
    error = errors.get(s.id) if s.id else None
    return {
        "name": s.name,
        "connector": s.connector,
        "runs": sum(by_status.values()),
        "ok": by_status[RunStatus.OK],
        "partial": by_status[RunStatus.PARTIAL],
        "failed": by_status[RunStatus.FAILED],
        "last_error": (
            {"at": iso_z(error.started_at), "status": error.status, "error": error.error} if error else None
        ),
        "uncovered_days": [d.isoformat() for d in uncovered],
        "collected": collected,
    }


def _health_summary(rows: list[HealthRow]) -> HealthRecord:
    """Totals and one line per problem. A week without runs is not one by itself (one run can
    backfill a week): what matters is failed runs and days the collection did not cover."""
    problems = []
    for r in rows:
        if r["failed"] or r["partial"]:
            what = ", ".join(f"{n} {k}" for k, n in (("failed", r["failed"]), ("partial", r["partial"])) if n)
            last = f"; last error: {r['last_error']['error']}" if r["last_error"] else ""
            problems.append(f"{r['name']}: {what} run(s) of {r['runs']}{last}")
        if not r["collected"]:
            problems.append(f"{r['name']}: never collected (`tracker collect` or `tracker run` collects it)")
        if r["uncovered_days"]:
            days = ", ".join(fmt.day_short(date.fromisoformat(d)) for d in r["uncovered_days"])
            problems.append(f"{r['name']}: not covered on {days} (mentions of those days may be missing)")
    return {
        "runs": sum(r["runs"] for r in rows),
        "ok": sum(r["ok"] for r in rows),
        "partial": sum(r["partial"] for r in rows),
        "failed": sum(r["failed"] for r in rows),
        "streams": rows,
        "problems": problems,
    }
