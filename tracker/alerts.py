"""Alerts: a spike, a sentiment drop, a keyword or a collection problem, pushed when it starts.

`check` evaluates every `[[alerts]]` alert (the scheduler calls it right after each
collection run of the streams an alert watches) and keeps one state per alert in the
database, as `alert_firings` rows:

  fires     the condition holds, no firing of this alert is open, and the last firing is
            at least `cooldown` old: a row is written with the figures, the window, the
            top 5 mentions by engagement and one pending delivery per channel
  holds     the condition still holds and a firing is open: nothing (once per episode)
  clears    the condition no longer holds: the open firing gets `cleared_at`

A firing is active only while its episode is ongoing: not cleared, and its condition held
at a recent check (`last_held_at`, within the alert's window or two collection intervals,
see episode_status); one whose checks stopped is shown as "unchecked", never as active.

The conditions (pure functions below, tested on synthetic data):

  spike           mentions in the last `window` against the same slot of the week over the
                  trailing 8 weeks, with the digest's robust weekday-aware rule
                  (tracker/spikes.py) adapted from days to slots of `window`; `min_mentions`
  sentiment_drop  mean sentiment of the last `window` at least `threshold` below the mean of
                  the 28 days before, with at least `min_scored` scored mentions, and the drop
                  at least 4 standard errors (chance alone: about 3 in 100,000 windows);
                  posts the platform has deleted are left out, as every metric leaves them
  keyword         mentions first seen in the last `window` that match `query` (the query
                  language of the mention search, tracker/query.py)
  collection      a stream's last `runs` runs all failed, or it has not been covered for
                  longer than `gap`

What they read: the sentiment drop's 28 usual days come from the daily aggregates
(tracker/aggregates.py: count, sum and sum of squares of the scores) for the organisation
days wholly inside them, and from the mentions for the rest (the partial days at both ends
and the alert's window, whose worst mentions are named); a saved-search selection reads
the mentions. The spike's slots are windows counted back from the moment of the check
(the last hour, the hour before, ...), which no organisation day contains whole: it reads
the links of its 8 weeks by the (stream, created_at) index, a cost bounded by those weeks,
not by the history.

Delivery (`deliver_due`) sends each pending channel: email over [smtp] from [digest]
from (one message per recipient, as the digest), a webhook POST signed with
HMAC-SHA256 of the raw body (`X-Tracker-Signature: sha256=<hex>`). A channel is marked
`in_progress` before it is tried: one found so later was interrupted mid-way and is
"in doubt", never resent by itself. A certain failure is retried with backoff. During
quiet hours a firing is held; when they end, every held firing bound for one destination
(an address; a webhook with its format and secret) goes out as one message, all of them
marked in one transaction before and after the send, so they succeed, fail, retry or
fall in doubt together. Secrets (the SMTP password, the
webhook secret) are read only when sending and never stored or logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import json
import logging
import math
import smtplib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from statistics import mean, stdev
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from tracker import aggregates
from tracker.config import AlertConfig, Settings, resolve_secret
from tracker.selection import matching_ids
from tracker.spikes import MIN_HISTORY_SLOTS, spike_verdict
from tracker.store import queries as store_queries
from tracker.store.db import Store
from tracker.store.enums import DeliveryStatus, RunStatus
from tracker.store.models import AlertFiring, CollectionRun, Mention, MentionStream, SavedSearch
from tracker.timeutil import day_start, iso_z, parse_instant, utcnow

log = logging.getLogger("tracker.alerts")

WEEK = timedelta(days=7)
SPIKE_WEEKS = 8
SENTIMENT_DAYS = 28
TOP = 5
BACKOFF = timedelta(seconds=30)  # after a certain failure: 30s, 1m, 2m, ... up to MAX_ATTEMPTS
MAX_ATTEMPTS = 8
WEBHOOK_TIMEOUT = 10.0
ERROR_LIMIT = 500
_lock = threading.RLock()  # one check at a time per process (runs are evaluated from threads)
LEASE = "alerts:deliver"  # and one delivering worker at a time per database


# -- pure conditions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether an alert's condition holds now, with the figures that say so."""

    holds: bool
    figures: dict[str, Any] = field(default_factory=dict)
    headline: str = ""  # the subject's figure, e.g. "58 mentions in the last hour, usually 6"
    mention_ids: tuple[int, ...] = ()
    error: str | None = None  # the alert cannot be evaluated (an unknown saved search)


@dataclass(frozen=True)
class Moments:
    """How many scores, their sum and their sum of squares: a mean and a spread that add up."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    @classmethod
    def of(cls, values: Sequence[float]) -> Moments:
        return cls(len(values), math.fsum(values), math.fsum(v * v for v in values))

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.n + other.n, self.total + other.total, self.squares + other.squares)

    def __len__(self) -> int:
        return self.n

    def mean(self) -> float:
        return self.total / self.n

    def stdev(self) -> float:
        return math.sqrt(max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1)))


def sentiment_verdict(
    recent: Sequence[float], usual: Sequence[float] | Moments, *, threshold: float, min_scored: int
) -> tuple[bool, dict[str, Any]]:
    """Whether the mean of `recent` is at least `threshold` below the mean of `usual`, with at
    least `min_scored` recent scores and a drop of at least 4 standard errors. `usual` may be
    the scores or their Moments (what the daily aggregates give)."""
    figures: dict[str, Any] = {"scored": len(recent), "mean": None, "usual": None}
    if len(recent) < min_scored or len(usual) < max(30, min_scored):
        return False, figures
    now_mean = mean(recent)
    if isinstance(usual, Moments):
        usual_mean, spread = usual.mean(), usual.stdev()
    else:
        usual_mean, spread = mean(usual), stdev(usual)
    figures.update(mean=round(now_mean, 3), usual=round(usual_mean, 3))
    standard_error = spread / math.sqrt(len(recent))
    drop = usual_mean - now_mean
    return drop >= threshold and drop >= 4 * standard_error, figures


def collection_problem(
    statuses: Sequence[str], covered_until: datetime | None, now: datetime, *, runs: int, gap: timedelta
) -> str | None:
    """What is wrong with one stream's collection, or None. `statuses`: newest run first."""
    recent = list(statuses[:runs])
    if len(recent) >= runs and all(s == RunStatus.FAILED for s in recent):
        return f"failed {runs} runs in a row"
    if covered_until is not None and now - covered_until > gap:
        return f"not covered for {duration_text(now - covered_until)} (more than {duration_text(gap)})"
    return None


def quiet_end(now: datetime, quiet: tuple[time, time] | None, zone: ZoneInfo) -> datetime | None:
    """When the quiet hours `now` falls in end (UTC), or None when `now` is not in them."""
    if quiet is None:
        return None
    start, end = quiet
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(now.tzinfo)


def duration_text(span: timedelta) -> str:
    """`hour`, `6 hours`, `30 minutes`, `2 days` (as in "in the last ...")."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds // 60, 1)} minutes"


def streams_label(streams: Sequence[str]) -> str:
    if not streams:
        return "no streams"
    return ", ".join(streams) if len(streams) <= 2 else f"{streams[0]} and {len(streams) - 1} more streams"


# -- evaluation on the store ----------------------------------------------------------------------


def evaluate(settings: Settings, store: Store, alert: AlertConfig, now: datetime) -> Verdict:
    """Whether `alert`'s condition holds at `now`, read from the database."""
    with store.read() as session:
        ids = store_queries.stream_ids(session, alert.streams)
        stream_ids = [ids[n] for n in alert.streams if n in ids]
        searched = None
        if alert.search and alert.kind != "collection":
            searched = session.scalar(select(SavedSearch.query).where(SavedSearch.name == alert.search))
            if searched is None:
                problem = search_problem(alert)
                return Verdict(False, {"note": problem}, problem, error=problem)
        if not stream_ids:
            return Verdict(False, {"note": "no collected streams"}, "none of its streams has mentions yet")
        if alert.kind == "collection":
            return _collection(session, alert, ids, now)
        start = now - alert.window
        matching = matching_ids(session, searched) if searched is not None else None
        if alert.kind == "spike":
            return _spike(session, alert, stream_ids, now, matching)
        if alert.kind == "sentiment_drop":
            return _sentiment(session, alert, stream_ids, now, matching, settings.organisation.zone)
        return _keyword(session, alert, stream_ids, start, now, searched)


def search_problem(alert: AlertConfig) -> str:
    return (f"alerts {alert.name}: search: no saved search {alert.search!r} "
            "(`tracker search list` shows them; `tracker search add` saves one)")  # fmt: skip


def unknown_searches(store: Store, alerts: Sequence[AlertConfig]) -> dict[str, str]:
    """Per alert whose saved search does not exist, what is wrong."""
    wanted = {a.search for a in alerts if a.search and a.kind != "collection"}
    if not wanted:
        return {}
    with store.read() as session:
        saved = set(session.scalars(select(SavedSearch.name).where(SavedSearch.name.in_(wanted))))
    return {a.name: search_problem(a) for a in alerts if a.search in wanted - saved}


def _spike(
    session: Any, alert: AlertConfig, stream_ids: list[int], now: datetime, matching: Any = None
) -> Verdict:
    from tracker.coverage import coverage

    w = alert.window
    first = now - w * (int(SPIKE_WEEKS * WEEK / w) + 1)
    query = store_queries.links_in_window(stream_ids, first, now)
    if matching is not None:  # a saved search: its matches only, now and in the usual hours alike
        query = query.where(MentionStream.mention_id.in_(matching))
    rows = session.execute(query).all()
    seen: dict[int, datetime] = {mid: created for mid, created in rows}
    counts: dict[int, float] = {}
    for created in seen.values():
        k = int((now - created) / w)
        counts[k] = counts.get(k, 0.0) + 1
    covers = [coverage(session, sid) for sid in stream_ids]
    n = int(SPIKE_WEEKS * WEEK / w)
    slots = {
        k: counts.get(k, 0.0)
        for k in range(1, n + 1)
        if all(c.covers(now - w * (k + 1), now - w * k) for c in covers)
    }
    current = counts.get(0, 0.0)
    period = max(int(WEEK / w), 1)
    holds, expected, score = spike_verdict(
        slots, current, period=period, threshold=alert.threshold, min_mentions=alert.min_mentions,
        min_history=min(MIN_HISTORY_SLOTS, 2 * max(int(WEEK / w), 1)),
    )  # fmt: skip
    recent = [mid for mid, created in seen.items() if created >= now - w]
    need = min(MIN_HISTORY_SLOTS, 2 * period)
    said = f"{round(current):,} mention{'' if round(current) == 1 else 's'} in the last {duration_text(w)}"
    headline = f"{said}, usually {round(expected):,}"
    if len(slots) < need:  # nothing is called usual (nor unusual) before two weeks of history
        known = f"{len(slots)} of {need} windows covered"
        headline = f"{said}; too little history to know what is usual ({known})"
    figures = {"mentions": round(current), "usual": round(expected, 1), "score": round(score, 2),
               "history_slots": len(slots)}  # fmt: skip
    return Verdict(holds, figures, headline, tuple(recent))


def _sentiment(
    session: Any,
    alert: AlertConfig,
    stream_ids: list[int],
    now: datetime,
    matching: Any = None,
    zone: ZoneInfo | None = None,
    *,
    use_aggregates: bool | None = None,
) -> Verdict:
    start, lo = now - alert.window, now - timedelta(days=SENTIMENT_DAYS)
    usual_cells = Moments()
    ranges = [(lo, now)]
    if matching is None and zone is not None:
        first, last = lo.astimezone(zone).date(), start.astimezone(zone).date() - timedelta(days=1)
        if day_start(first, zone) < lo:
            first += timedelta(days=1)  # the days wholly inside the usual span [lo, start)
        use = aggregates.usable(session, zone) if use_aggregates is None else use_aggregates
        if use and first <= last:
            for values in aggregates.daily(session, stream_ids, first, last).values():
                usual_cells += Moments(values[1], values[2], values[7])
            ranges = [(lo, day_start(first, zone)), (day_start(last + timedelta(days=1), zone), now)]
    unique: dict[int, tuple[datetime, float]] = {}
    for range_lo, range_hi in ranges:
        query = (
            select(Mention.id, Mention.created_at, Mention.sentiment)
            .join(MentionStream, MentionStream.mention_id == Mention.id)
            .where(MentionStream.stream_id.in_(stream_ids), Mention.sentiment.is_not(None),
                   Mention.deleted_at.is_(None),
                   Mention.created_at >= range_lo, Mention.created_at < range_hi)
        )  # fmt: skip
        if matching is not None:
            query = query.where(Mention.id.in_(matching))
        unique.update({mid: (created, score) for mid, created, score in session.execute(query)})
    recent = [s for c, s in unique.values() if c >= start]
    usual = usual_cells + Moments.of([s for c, s in unique.values() if c < start])
    holds, figures = sentiment_verdict(recent, usual, threshold=alert.threshold, min_scored=alert.min_scored)
    headline = (
        f"mean sentiment {figures['mean']:+.2f} in the last {duration_text(alert.window)}, "
        f"usually {figures['usual']:+.2f} ({len(recent)} scored)"
        if figures["mean"] is not None
        else f"{len(recent)} scored mentions in the last {duration_text(alert.window)}"
    )
    worst = sorted(
        (mid for mid, (c, s) in unique.items() if c >= start and s < 0), key=lambda m: unique[m][1]
    )
    return Verdict(holds, figures, headline, tuple(worst))


def _keyword(
    session: Any,
    alert: AlertConfig,
    stream_ids: list[int],
    start: datetime,
    now: datetime,
    searched: str | None = None,
) -> Verdict:
    """New mentions matching the alert's query and its saved search (both, when both are set)."""
    from tracker.query import matches, target

    queries = [q for q in (alert.query, searched) if q is not None]
    shown = alert.query if alert.query is not None else f"saved search {alert.search!r}"
    if alert.query is not None and searched is not None:
        shown = f"{alert.query} (in saved search {alert.search!r})"
    names = store_queries.stream_names_by_id(session, stream_ids)
    rows = session.execute(
        select(Mention, MentionStream.stream_id)
        .join(MentionStream, MentionStream.mention_id == Mention.id)
        .where(MentionStream.stream_id.in_(stream_ids), Mention.first_seen_at >= start,
               Mention.first_seen_at <= now, Mention.deleted_at.is_(None))
    ).all()  # fmt: skip
    streams_of: dict[int, list[str]] = {}
    by_id: dict[int, Mention] = {}
    for mention, sid in rows:
        by_id[mention.id] = mention
        streams_of.setdefault(mention.id, []).append(names[sid])
    # the query's view of each mention (a Target): typed, and its document is built once for all queries
    targets = {mid: target(m, streams=streams_of[mid]) for mid, m in by_id.items()}
    hits = [mid for mid, t in targets.items() if all(matches(q, t) for q in queries)]
    n = len(hits)
    headline = f"{n} new {'mention matches' if n == 1 else 'mentions match'} {shown}"
    figures = {"matches": n, "query": alert.query} | ({"search": alert.search} if alert.search else {})
    return Verdict(n > 0, figures, headline, tuple(hits))


def _collection(session: Any, alert: AlertConfig, ids: Mapping[str, int], now: datetime) -> Verdict:
    from tracker.coverage import coverage

    problems: dict[str, str] = {}
    for name in alert.streams:
        if name not in ids:
            continue
        statuses = list(
            session.scalars(
                select(CollectionRun.status)
                .where(CollectionRun.stream_id == ids[name], CollectionRun.status != RunStatus.RUNNING)
                .order_by(CollectionRun.started_at.desc())
                .limit(alert.runs)
            )
        )
        problem = collection_problem(statuses, coverage(session, ids[name]).covered_until, now,
                                     runs=alert.runs, gap=alert.gap)  # fmt: skip
        if problem:
            problems[name] = problem
    if not problems:
        return Verdict(False, {"problems": {}})
    first = next(iter(problems))
    headline = f"{first} {problems[first]}" + (
        f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    )
    return Verdict(True, {"problems": problems}, headline)


# -- state: once per episode ----------------------------------------------------------------------


@dataclass
class CheckResult:
    alert: str
    state: str  # fired | active | cleared | quiet | cooling_down | would_fire | error
    headline: str
    firing_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"alert": self.alert, "state": self.state, "headline": self.headline, "firing": self.firing_id}


KIND_TITLES = {"spike": "Spike", "sentiment_drop": "Sentiment drop", "keyword": "Keyword alert",
               "collection": "Collection problem"}  # fmt: skip


def subject_line(alert: AlertConfig, headline: str) -> str:
    """`Spike on acme-mastodon: 58 mentions in the last hour, usually 6`."""
    return f"{KIND_TITLES[alert.kind]} on {streams_label(alert.streams)}: {headline}"


def check(
    settings: Settings,
    store: Store,
    *,
    now: datetime | None = None,
    streams: Iterable[str] | None = None,
    dry_run: bool = False,
    deliver: bool = True,
) -> list[CheckResult]:
    """Evaluate the alerts (those watching any of `streams`, or all) and record what changed;
    then deliver what is due. With `dry_run` nothing is written or sent."""
    now = now or utcnow()
    touched = set(streams) if streams is not None else None
    results = []
    with _lock:
        for alert in settings.alerts:
            if touched is not None and not touched & set(alert.streams):
                continue
            verdict = evaluate(settings, store, alert, now)
            if verdict.error is not None:  # said, never fired nor cleared: the config needs fixing
                log.error("%s", verdict.error)
                results.append(CheckResult(alert.name, "error", verdict.error))
                continue
            results.append(_transition(settings, store, alert, verdict, now, dry_run))
        if deliver and not dry_run:
            deliver_due(settings, store, now=now)
    return results


def _transition(
    settings: Settings, store: Store, alert: AlertConfig, verdict: Verdict, now: datetime, dry_run: bool
) -> CheckResult:
    with store.read() as session:
        last = session.scalars(
            select(AlertFiring).where(AlertFiring.alert == alert.name).order_by(AlertFiring.fired_at.desc())
        ).first()
    open_firing = last if last is not None and last.cleared_at is None else None
    if not verdict.holds:
        if open_firing is not None and not dry_run:
            with store.write() as session:
                row = session.get(AlertFiring, open_firing.id)
                assert row is not None
                row.cleared_at = now
        return CheckResult(alert.name, "cleared" if open_firing else "quiet", verdict.headline)
    if open_firing is not None:
        if not dry_run:  # still ongoing: what keeps it "active" (episode_status)
            with store.write() as session:
                row = session.get(AlertFiring, open_firing.id)
                assert row is not None
                row.last_held_at = max(now, row.last_held_at or now)
        return CheckResult(alert.name, "active", verdict.headline, open_firing.id)
    if last is not None and now < last.fired_at + alert.cooldown:
        return CheckResult(alert.name, "cooling_down", verdict.headline, last.id)
    if dry_run:
        return CheckResult(alert.name, "would_fire", verdict.headline)
    with store.write() as session:
        firing = AlertFiring(
            alert=alert.name,
            kind=alert.kind,
            streams=list(alert.streams),
            window_start=now - alert.window,
            window_end=now,
            fired_at=now,
            last_held_at=now,
            held_until=quiet_end(now, alert.quiet_hours, settings.organisation.zone),
            subject=subject_line(alert, verdict.headline),
            figures=verdict.figures,
            mentions=_top_mentions(session, verdict.mention_ids),
            deliveries={c: {"status": DeliveryStatus.PENDING, "attempts": 0} for c in channels(alert)},
        )
        session.add(firing)
        session.flush()
        firing_id = firing.id
    log.info("alert %s fired: %s", alert.name, verdict.headline)
    return CheckResult(alert.name, "fired", verdict.headline, firing_id)


def channels(alert: AlertConfig) -> list[str]:
    return [f"email:{to}" for to in alert.to] + (["webhook"] if alert.webhook else [])


def _top_mentions(session: Any, ids: Sequence[int]) -> list[dict[str, Any]]:
    from tracker.digest.fmt import safe_url

    if not ids:
        return []
    rows = session.scalars(
        select(Mention)
        .where(Mention.id.in_(list(ids)[:5000]))
        .order_by(Mention.engagement.desc(), Mention.id)
    ).all()
    return [
        {"id": m.id, "platform": m.platform, "author": m.author, "text": (m.text or "")[:500],
         "url": safe_url(m.url), "engagement": m.engagement, "sentiment": m.sentiment,
         "created_at": iso_z(m.created_at)}
        for m in rows[:TOP]
    ]  # fmt: skip


# -- messages -------------------------------------------------------------------------------------


def alert_url(settings: Settings, name: str) -> str:
    return f"http://{settings.web.host}:{settings.web.port}/alerts/{name}"


def fresh_for(settings: Settings | None, row: AlertFiring) -> timedelta:
    """How recent the last check must be for an open firing to count as ongoing: the alert's
    window, or twice the longest `every` of the streams it watches (checks follow collection
    runs), whichever is longer. A firing of an alert no longer configured: its own window."""
    window = row.window_end - row.window_start
    alert = next((a for a in settings.alerts if a.name == row.alert), None) if settings else None
    if alert is None or settings is None:
        return window
    every = [s.every for s in settings.streams if s.name in alert.streams]
    return max([alert.window, *(2 * e for e in every)])


def episode_status(row: AlertFiring, now: datetime, fresh: timedelta) -> str:
    """`active` while the episode is ongoing: not cleared, and the condition held at a check no
    older than `fresh` (fresh_for). `ended`: a check found it no longer holds (cleared_at).
    `unchecked`: not cleared, but no check since its condition last held is recent enough to
    say it still does (say `tracker run` stopped, or the alert was removed): not active."""
    if row.cleared_at is not None:
        return "ended"
    last = row.last_held_at or row.fired_at
    return "active" if now - last <= fresh else "unchecked"


class Window(TypedDict):
    start: str
    end: str


class FiringRecord(TypedDict):
    """A firing as `alerts history --json`, the API, the web's alert pages and messages show it."""

    id: int | None  # None: the sample `alerts test` sends (sample_record)
    alert: str
    kind: str
    streams: list[str]
    window: Window
    fired_at: str
    cleared_at: str | None
    last_held_at: str
    status: str  # active | ended | unchecked (episode_status)
    active: bool
    held_until: str | None  # quiet hours: sent then
    subject: str
    figures: dict[str, Any]
    mentions: list[dict[str, Any]]
    deliveries: dict[str, dict[str, Any]]  # channel -> its delivery state (DeliveryStatus)


def firing_record(
    row: AlertFiring, now: datetime | None = None, *, settings: Settings | None = None
) -> FiringRecord:
    """A firing as the CLI (--json), the API and messages show it."""
    now = now or utcnow()
    episode = episode_status(row, now, fresh_for(settings, row))
    deliveries = {}
    for channel, state in (row.deliveries or {}).items():
        status = state.get("status")
        shown = DeliveryStatus.IN_DOUBT if status == DeliveryStatus.IN_PROGRESS else status
        deliveries[channel] = {**state, "status": shown}
    return {
        "id": row.id,
        "alert": row.alert,
        "kind": row.kind,
        "streams": list(row.streams),
        "window": {"start": iso_z(row.window_start), "end": iso_z(row.window_end)},
        "fired_at": iso_z(row.fired_at),
        "cleared_at": iso_z(row.cleared_at) if row.cleared_at else None,
        "last_held_at": iso_z(row.last_held_at or row.fired_at),
        "status": episode,  # active | ended | unchecked (episode_status)
        "active": episode == "active",
        "held_until": iso_z(row.held_until) if row.held_until else None,  # quiet hours: sent then
        "subject": row.subject,
        "figures": dict(row.figures),
        "mentions": list(row.mentions),
        "deliveries": deliveries,
    }


def mute_hint(settings: Settings, name: str) -> str:
    return (f"To mute this alert, remove or comment out the [[alerts]] table named {name!r} in "
            f"{settings.path.name} (a longer cooldown sends it less often).")  # fmt: skip


def render_text(settings: Settings, record: FiringRecord) -> str:
    from tracker.digest.fmt import plain

    lines = [plain(record["subject"]), ""]
    lines.append(f"Alert: {record['alert']} ({record['kind']}), streams: {', '.join(record['streams'])}")
    lines.append(f"Window: {record['window']['start']} to {record['window']['end']}")
    for key, value in record["figures"].items():
        if isinstance(value, dict):
            for k, v in value.items():
                lines.append(f"  {plain(str(k))}: {plain(str(v))}")
        else:
            lines.append(f"  {key}: {plain(str(value))}")
    if record["mentions"]:
        lines += ["", "Top mentions by engagement:"]
        for m in record["mentions"]:
            who = plain(m.get("author")) or "someone"
            lines.append(
                f"- {who} on {m['platform']} ({m['engagement']} engagement): {plain(m['text'])[:200]}"
            )
            if m.get("url"):
                lines.append(f"  {m['url']}")
    lines += [
        "",
        f"This alert on the web: {alert_url(settings, record['alert'])}",
        mute_hint(settings, record["alert"]),
    ]
    return "\n".join(lines) + "\n"


def render_html(settings: Settings, record: FiringRecord) -> str:
    body = _html_parts(settings, record, heading="h1")
    return "\n".join(["<!doctype html><html><body>", *body, "</body></html>"]) + "\n"


def _html_parts(settings: Settings, record: FiringRecord, *, heading: str) -> list[str]:
    e = html.escape
    figures = []
    for key, value in record["figures"].items():
        if isinstance(value, dict):
            figures += [f"<li>{e(str(k))}: {e(str(v))}</li>" for k, v in value.items()]
        else:
            figures.append(f"<li>{e(str(key))}: {e(str(value))}</li>")
    mentions = []
    for m in record["mentions"]:
        who = e(m.get("author") or "someone")
        text = e((m.get("text") or "")[:300])
        link = f' <a href="{e(m["url"], quote=True)}">open</a>' if m.get("url") else ""
        mentions.append(
            f"<li><b>{who}</b> on {e(m['platform'])} ({m['engagement']} engagement): {text}{link}</li>"
        )
    url = e(alert_url(settings, record["alert"]), quote=True)
    sub = "h3" if heading == "h2" else "h2"
    parts = [
        f"<{heading}>{e(record['subject'])}</{heading}>",
        f"<p>Alert <b>{e(record['alert'])}</b> ({e(record['kind'])}) on {e(', '.join(record['streams']))}, "
        f"window {e(record['window']['start'])} to {e(record['window']['end'])}.</p>",
        "<ul>" + "".join(figures) + "</ul>",
    ]
    if mentions:
        parts += [f"<{sub}>Top mentions by engagement</{sub}>", "<ul>" + "".join(mentions) + "</ul>"]
    parts += [
        f'<p><a href="{url}">This alert on the web</a></p>',
        f"<p>{e(mute_hint(settings, record['alert']))}</p>",
    ]
    return parts


def email_message(settings: Settings, record: FiringRecord, to: str, now: datetime) -> EmailMessage:
    return _message(settings, record["subject"], render_text(settings, record),
                    render_html(settings, record), to, now)  # fmt: skip


def held_subject(records: Sequence[FiringRecord]) -> str:
    """`3 alerts held by quiet hours: Spike on acme-mastodon: ...; Keyword alert on ...`."""
    return f"{len(records)} alerts held by quiet hours: " + "; ".join(r["subject"] for r in records)


def _held_intro(settings: Settings, records: Sequence[FiringRecord]) -> str:
    zone = settings.organisation.zone
    until = max(r["held_until"] for r in records if r["held_until"])
    local = f"{parse_instant(until).astimezone(zone):%H:%M} ({settings.organisation.timezone})"
    return (f"These {len(records)} alerts fired during quiet hours and were held until they ended at "
            f"{local}. Each is shown as it was when it fired, and whether it is still on.")  # fmt: skip


def _episode_line(record: FiringRecord) -> str:
    if record["status"] == "ended":
        return f"Fired {record['fired_at']}, ended {record['cleared_at']}."
    if record["status"] == "active":
        return f"Fired {record['fired_at']}, still holding at the last check ({record['last_held_at']})."
    return f"Fired {record['fired_at']}, not checked since {record['last_held_at']}."


def held_text(settings: Settings, records: Sequence[FiringRecord]) -> str:
    from tracker.digest.fmt import plain

    parts = [plain(held_subject(records)), "", _held_intro(settings, records)]
    for i, record in enumerate(records, start=1):
        parts += ["", f"--- {i} of {len(records)} ---", _episode_line(record), render_text(settings, record)]
    return "\n".join(parts)


def held_html(settings: Settings, records: Sequence[FiringRecord]) -> str:
    e = html.escape
    parts = ["<!doctype html><html><body>", f"<h1>{len(records)} alerts held by quiet hours</h1>",
             f"<p>{e(_held_intro(settings, records))}</p>"]  # fmt: skip
    for record in records:
        parts += ["<hr>", *_html_parts(settings, record, heading="h2"), f"<p>{e(_episode_line(record))}</p>"]
    return "\n".join([*parts, "</body></html>"]) + "\n"


def held_email_message(
    settings: Settings, records: Sequence[FiringRecord], to: str, now: datetime
) -> EmailMessage:
    """One email listing every firing held by quiet hours for `to`."""
    return _message(settings, held_subject(records), held_text(settings, records),
                    held_html(settings, records), to, now)  # fmt: skip


def _message(
    settings: Settings, subject: str, text: str, body_html: str, to: str, now: datetime
) -> EmailMessage:
    sender = settings.digest.sender if settings.digest else "tracker@localhost"
    msg = EmailMessage()
    msg["Subject"] = " ".join(subject.split())[:300]
    msg["From"] = formataddr((f"{settings.organisation.name} tracker", sender))
    msg["To"] = to
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid("alert", domain=sender.rsplit("@", 1)[-1])
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(body_html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def webhook_body(settings: Settings, alert: AlertConfig, record: FiringRecord) -> bytes:
    url = alert_url(settings, record["alert"])
    if alert.format == "slack":
        lines = [f"*{record['subject']}*"]
        for m in record["mentions"]:
            who, said = m.get("author") or "someone", (m.get("text") or "")[:140]
            lines.append(f"• {who}: {said} {m.get('url') or ''}".rstrip())
        lines.append(f"<{url}|Open the alert>")
        payload: dict[str, Any] = {"text": "\n".join(lines)}
    else:
        payload = {"alert": record, "url": url}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")


def held_webhook_body(settings: Settings, alert: AlertConfig, records: Sequence[FiringRecord]) -> bytes:
    """One payload for every firing held by quiet hours: json `{"alerts": [...], "count", "url"}`
    (a single firing is `{"alert": ..., "url"}`), slack one `text` listing them all."""
    url = f"http://{settings.web.host}:{settings.web.port}/alerts"
    if alert.format == "slack":
        lines = [f"*{len(records)} alerts held by quiet hours*"]
        for r in records:
            lines.append(f"• <{alert_url(settings, r['alert'])}|{r['subject']}> ({_episode_line(r)})")
        lines.append(f"<{url}|Open the alerts>")
        payload: dict[str, Any] = {"text": "\n".join(lines)}
    else:
        payload = {"alerts": list(records), "count": len(records), "url": url}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


# -- delivery -------------------------------------------------------------------------------------


class _InDoubt(Exception):
    pass


def deliver_due(
    settings: Settings,
    store: Store,
    *,
    now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[tuple[int, str, str]]:
    """Send every channel of every firing that is pending or due for a retry (and not held by
    quiet hours). Returns (firing id, channel, status) for each channel tried."""
    from tracker.leases import acquire, release

    now = now or utcnow()
    with _lock:
        if not acquire(store, LEASE, timedelta(minutes=10)):
            return []
        try:
            return _deliver_all(settings, store, now, transport)
        finally:
            release(store, LEASE)


def _deliver_all(
    settings: Settings, store: Store, now: datetime, transport: httpx.BaseTransport | None
) -> list[tuple[int, str, str]]:
    by_name = {a.name: a for a in settings.alerts}
    with store.read() as session:
        rows = session.scalars(
            select(AlertFiring)
            .where(AlertFiring.fired_at >= now - timedelta(days=7))
            .order_by(AlertFiring.fired_at)
        ).all()
    done: list[tuple[int, str, str]] = []
    held: dict[tuple[str, ...], list[tuple[AlertConfig, int, str]]] = {}
    for row in rows:
        alert = by_name.get(row.alert)
        if alert is None or (row.held_until is not None and row.held_until > now):
            continue
        for channel, state in dict(row.deliveries).items():
            due = state.get("status") == DeliveryStatus.PENDING or (
                state.get("status") == DeliveryStatus.FAILED and state.get("attempts", 0) < MAX_ATTEMPTS
                and (state.get("next_at") is None or state["next_at"] <= iso_z(now))
            )  # fmt: skip
            if not due:
                continue
            if row.held_until is not None:  # held by quiet hours: sent together below
                held.setdefault(destination(alert, channel), []).append((alert, row.id, channel))
                continue
            status = _deliver(settings, store, [(alert, row.id, channel)], now, transport)
            done.append((row.id, channel, status))
    for members in held.values():  # one message per destination, however many firings it holds
        status = _deliver(settings, store, members, now, transport)
        done += [(firing_id, channel, status) for _, firing_id, channel in members]
    return done


def destination(alert: AlertConfig, channel: str) -> tuple[str, ...]:
    """Where a channel's message goes: firings held by quiet hours that share one are sent as
    one message (an address; a webhook URL with its format and signing secret)."""
    if channel == "webhook":
        return ("webhook", alert.webhook or "", alert.format, alert.webhook_secret_env or "")
    return ("email", channel)


def _set_states(store: Store, members: Sequence[tuple[int, str]], **fields: Any) -> None:
    """Update the state of each (firing, channel) in one transaction."""
    if fields.get("error"):
        fields["error"] = str(fields["error"])[:ERROR_LIMIT]
    with store.write() as session:
        for firing_id, channel in members:
            row = session.get(AlertFiring, firing_id)
            assert row is not None
            deliveries = dict(row.deliveries)
            deliveries[channel] = {**deliveries.get(channel, {}), **fields}
            row.deliveries = deliveries


def _deliver(
    settings: Settings, store: Store, members: Sequence[tuple[AlertConfig, int, str]], now: datetime,
    transport: httpx.BaseTransport | None,
) -> str:  # fmt: skip
    """Send one message to the channel the members share: one firing's, or (quiet hours) one
    listing every held firing. Every member is marked in_progress in one transaction before it
    is tried and sent (or failed) in one after, so an interruption leaves each of them in doubt
    and none is resent by itself."""
    pairs = [(firing_id, channel) for _, firing_id, channel in members]
    records, attempts = [], 0
    batch = make_msgid("held").strip("<>") if len(members) > 1 else None
    with store.write() as session:
        for firing_id, channel in pairs:
            row = session.get(AlertFiring, firing_id)
            assert row is not None
            records.append(firing_record(row, now, settings=settings))
            deliveries = dict(row.deliveries)
            state = dict(deliveries.get(channel, {}))
            attempt = int(state.get("attempts", 0)) + 1
            state.update(status=DeliveryStatus.IN_PROGRESS, attempts=attempt, started_at=iso_z(now))
            if batch:  # which firings went in the same message
                state.update(batch=batch, sent_with=[i for i, _ in pairs if i != firing_id])
            attempts = max(attempts, state["attempts"])
            deliveries[channel] = state
            row.deliveries = deliveries
    alert, _, channel = members[0]
    names = ", ".join(dict.fromkeys(a.name for a, _, _ in members))
    try:
        if channel == "webhook":
            body = (webhook_body(settings, alert, records[0]) if batch is None
                    else held_webhook_body(settings, alert, records))  # fmt: skip
            send_webhook(settings, alert, body, transport)
        else:
            to = channel.split(":", 1)[1]
            message = (email_message(settings, records[0], to, now) if batch is None
                       else held_email_message(settings, records, to, now))  # fmt: skip
            send_email(settings, message, to)
    except _InDoubt as exc:
        _set_states(store, pairs, error=f"interrupted mid-way ({exc}): delivery unknown")
        log.warning("alert %s: %s in doubt: %s", names, channel, exc)
        return DeliveryStatus.IN_DOUBT
    except _Failed as exc:
        next_at = now + BACKOFF * (2 ** (attempts - 1))
        _set_states(store, pairs, status=DeliveryStatus.FAILED, error=str(exc), next_at=iso_z(next_at))
        log.warning("alert %s: %s failed (attempt %d, next at %s): %s", names, channel, attempts,
                    iso_z(next_at), exc)  # fmt: skip
        return DeliveryStatus.FAILED
    _set_states(store, pairs, status=DeliveryStatus.SENT, sent_at=iso_z(utcnow()), error=None, next_at=None)
    if batch:
        log.info("alerts %s: %d held firings sent as one message to %s", names, len(pairs), channel)
    return DeliveryStatus.SENT


class _Failed(Exception):
    """Certainly not delivered: tried again later."""


def send_webhook(
    settings: Settings, alert: AlertConfig, body: bytes, transport: httpx.BaseTransport | None = None
) -> None:
    """POST the raw body, signed when webhook_secret_env is set. Raises _Failed or _InDoubt."""
    assert alert.webhook is not None
    headers = {"Content-Type": "application/json", "User-Agent": "tracker-alerts"}
    try:
        secret = resolve_secret(alert.webhook_secret_env, f"alerts[{alert.index}].webhook_secret_env")
    except Exception as exc:
        raise _Failed(str(exc)) from None
    if secret:
        headers["X-Tracker-Signature"] = signature(secret, body)
    try:
        with httpx.Client(timeout=WEBHOOK_TIMEOUT, transport=transport, follow_redirects=False) as client:
            response = client.post(alert.webhook, content=body, headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise _Failed(f"cannot reach the webhook at {_where(alert.webhook)}: {_connect_words(exc)}") from None
    except httpx.HTTPError as exc:  # sent, then the connection broke or timed out: it may have arrived
        raise _InDoubt(_scrub(str(exc) or type(exc).__name__, secret)) from None
    if not 200 <= response.status_code < 300:
        raise _Failed(f"the webhook answered HTTP {response.status_code}")


def _where(url: str) -> str:
    """The host and port of a URL, never its path (a Slack webhook's path is its secret)."""
    parts = httpx.URL(url)
    return f"{parts.host}:{parts.port}" if parts.port else parts.host


def _connect_words(exc: httpx.HTTPError) -> str:
    """Why a connection failed, in words rather than errno numbers."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "no answer in time"
    text = str(exc).lower()
    for needle, words in (("refused", "connection refused (nothing listens there)"),
                          ("name or service not known", "no such host"), ("nodename", "no such host"),
                          ("temporary failure in name resolution", "the host name could not be looked up"),
                          ("certificate", "its TLS certificate is not trusted"),
                          ("unreachable", "the network is unreachable")):  # fmt: skip
        if needle in text:
            return words
    return "the connection failed"


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "[secret]") if secret else text


def send_email(settings: Settings, message: EmailMessage, to: str) -> None:
    from tracker.digest.send import InDoubt, connect, describe, transact

    if settings.smtp is None or settings.digest is None:
        raise _Failed("emails need [digest] from and [smtp]")
    smtp = settings.smtp
    try:
        password = resolve_secret(smtp.password_env, "smtp.password_env") if smtp.username else None
    except Exception as exc:
        raise _Failed(str(exc)) from None
    try:
        client = connect(smtp, password)
    except (smtplib.SMTPException, OSError) as exc:
        raise _Failed(describe(exc, smtp, password)) from None
    try:
        transact(client, settings.digest.sender, to, message)
    except InDoubt as exc:
        raise _InDoubt(str(exc)) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise _Failed(describe(exc, smtp, password)) from None
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()


def history(
    store: Store,
    settings: Settings | None = None,
    *,
    since: datetime | None = None,
    alert: str | None = None,
    now: datetime | None = None,
) -> list[FiringRecord]:
    """Every firing, newest first; `settings` tells how recent a check keeps one active."""
    now = now or utcnow()
    query = select(AlertFiring).order_by(AlertFiring.fired_at.desc())
    if since is not None:
        query = query.where(AlertFiring.fired_at >= since)
    if alert is not None:
        query = query.where(AlertFiring.alert == alert)
    with store.read() as session:
        return [firing_record(r, now, settings=settings) for r in session.scalars(query).all()]


def active(
    store: Store, settings: Settings | None = None, now: datetime | None = None
) -> list[FiringRecord]:
    """The firings whose episode is ongoing now (episode_status)."""
    return [r for r in history(store, settings, now=now) if r["active"]]


def sample_record(settings: Settings, alert: AlertConfig, now: datetime) -> FiringRecord:
    """What `tracker alerts test NAME` sends: the alert's shape with made-up figures."""
    headline = {"spike": "58 mentions in the last hour, usually 6 (a test)",
                "sentiment_drop": "mean sentiment -0.31 in the last 6 hours, usually +0.12 (a test)",
                "keyword": f"1 new mention matches {alert.query or repr(alert.search)} (a test)",
                "collection": "a stream failed 3 runs in a row (a test)"}[alert.kind]  # fmt: skip
    return {
        "id": None, "alert": alert.name, "kind": alert.kind, "streams": list(alert.streams),
        "window": {"start": iso_z(now - alert.window), "end": iso_z(now)}, "fired_at": iso_z(now),
        "cleared_at": None, "last_held_at": iso_z(now), "status": "active", "active": False,
        "held_until": None,
        "subject": "[test] " + subject_line(alert, headline), "figures": {"test": True}, "mentions": [],
        "deliveries": {},
    }  # fmt: skip


def send_test(
    settings: Settings,
    alert: AlertConfig,
    *,
    now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, str]:
    """Send a sample to each of the alert's channels now: channel -> "sent" or the reason it failed."""
    now = now or utcnow()
    record = sample_record(settings, alert, now)
    outcome: dict[str, str] = {}
    for channel in channels(alert):
        try:
            if channel == "webhook":
                send_webhook(settings, alert, webhook_body(settings, alert, record), transport)
            else:
                to = channel.split(":", 1)[1]
                send_email(settings, email_message(settings, record, to, now), to)
            outcome[channel] = DeliveryStatus.SENT
        except (_Failed, _InDoubt) as exc:
            outcome[channel] = f"failed: {exc}"
    return outcome
