"""Tables of the store. Schema changes ship only as Alembic migrations (store/migrations)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tracker.store.enums import Role, RunStatus
from tracker.store.types import BigInt, UTCDateTime, intpk, slug, utc

# The condition of the own posts' partial index; a query names the kind as a literal (see
# tracker.store.queries.kind_is) so that PostgreSQL's generic plans can use that index too.
OWN = text("kind = 'own'")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        int: BigInt,
    }


class Stream(Base):
    """A configured (or import-only) thing to listen to; the config is the source of truth for settings."""

    __tablename__ = "streams"

    id: Mapped[intpk]
    name: Mapped[slug] = mapped_column(unique=True)
    connector: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20), default=Role.BRAND)  # a Role
    source: Mapped[str] = mapped_column(String(20), default="config")  # config | import
    created_at: Mapped[utc]


class Mention(Base):
    """One collected item, stored once per (platform, external_id); figures are the latest seen."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="uq_mentions_identity"),
        # id and engagement too: newest-first pages walk it in order, and the most engaging of
        # a period are sorted from the index alone (migration 0008_h22b)
        Index("ix_mentions_created_at", "created_at", "id", "engagement"),
        # own posts only (migration 0010_h22d): the engagement of own posts reads them by time, and
        # a full (kind, created_at) index took every backfilled mention at a random place, a
        # second such index beside ix_mentions_created_at: with both, an import's page cache
        # could not hold the pages it changed (12,300 against 27,800 rows/s into 2,000,000)
        Index("ix_mentions_own_created_at", "created_at", "id", sqlite_where=OWN, postgresql_where=OWN),
        Index("ix_mentions_deleted_at", "deleted_at"),
    )

    id: Mapped[intpk]
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[utc]
    kind: Mapped[str] = mapped_column(String(10), default="mention")
    likes: Mapped[int | None]
    reposts: Mapped[int | None]
    replies: Mapped[int | None]
    quotes: Mapped[int | None]
    engagement: Mapped[int] = mapped_column(default=0)
    sentiment: Mapped[float | None] = mapped_column(Float)
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    sentiment_scorer: Mapped[str | None] = mapped_column(String(40))  # "vader" | "model:<lang>:<version>"
    raw: Mapped[dict[str, Any] | None]
    first_seen_at: Mapped[utc]
    updated_at: Mapped[utc]
    # created_at is the moment first seen: the source gave no usable date (a feed entry without one)
    date_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    refreshed_at: Mapped[datetime | None]  # last read again at one of the stream's refresh_ages
    deleted_at: Mapped[datetime | None]  # the platform answered that the post is gone


class MentionStream(Base):
    """Which streams matched a mention; created_at is copied so per-stream daily counts need no join."""

    __tablename__ = "mention_streams"
    __table_args__ = (Index("ix_mention_streams_stream_created", "stream_id", "created_at"),)

    mention_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True
    )
    stream_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[utc]


class MentionSearch(Base):
    """A mention's text as the full-text index reads it (tracker/search_index.py): folded words,
    its #tags and @handles, and the folded author. Written by the ingest path."""

    __tablename__ = "mention_search"

    mention_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    words: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text)
    handles: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)


class EngagementSnapshot(Base):
    """Engagement figures of a mention as observed at a moment; a row whenever they change."""

    __tablename__ = "engagement_history"
    __table_args__ = (Index("ix_engagement_history_mention", "mention_id", "observed_at"),)

    id: Mapped[intpk]
    mention_id: Mapped[int] = mapped_column(BigInt, ForeignKey("mentions.id", ondelete="CASCADE"))
    observed_at: Mapped[utc]
    likes: Mapped[int | None]
    reposts: Mapped[int | None]
    replies: Mapped[int | None]
    quotes: Mapped[int | None]
    engagement: Mapped[int]


class AccountSnapshot(Base):
    """Follower (and post) counts of an owned account, recorded each collection run."""

    __tablename__ = "account_snapshots"
    __table_args__ = (Index("ix_account_snapshots_stream", "stream_id", "observed_at"),)

    id: Mapped[intpk]
    stream_id: Mapped[int] = mapped_column(BigInt, ForeignKey("streams.id", ondelete="CASCADE"))
    account: Mapped[str] = mapped_column(Text)
    observed_at: Mapped[utc]
    followers: Mapped[int | None]
    following: Mapped[int | None]
    posts: Mapped[int | None]


class CollectionRun(Base):
    """One collection run of one stream: counts, outcome, and the period it covered completely."""

    __tablename__ = "collection_runs"
    __table_args__ = (Index("ix_collection_runs_stream_started", "stream_id", "started_at"),)

    id: Mapped[intpk]
    stream_id: Mapped[int] = mapped_column(BigInt, ForeignKey("streams.id", ondelete="CASCADE"))
    started_at: Mapped[utc]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.RUNNING)  # a RunStatus
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))  # host:pid that ran it
    covered_from: Mapped[datetime | None]
    covered_until: Mapped[datetime | None]


class Cursor(Base):
    """A connector's opaque paging state for one stream, written in the same transaction as its page."""

    __tablename__ = "cursors"

    stream_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[utc]


class Experiment(Base):
    """A registered trial: a practice tried on streams over a window, with a hypothesis and a metric."""

    __tablename__ = "experiments"

    id: Mapped[intpk]
    title: Mapped[str] = mapped_column(Text)
    hypothesis: Mapped[str] = mapped_column(Text)
    practice: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(32))
    expect: Mapped[str] = mapped_column(String(10), default="increase")
    owner: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    min_effect: Mapped[float] = mapped_column(Float, default=0.05)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    baseline_start: Mapped[date | None] = mapped_column(Date)
    baseline_end: Mapped[date | None] = mapped_column(Date)
    control_stream_id: Mapped[int | None] = mapped_column(BigInt, ForeignKey("streams.id"))
    cancelled_at: Mapped[datetime | None]
    concluded_at: Mapped[datetime | None]
    learning: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(String(10))  # adopt | reject | None
    created_at: Mapped[utc]
    updated_at: Mapped[utc]
    mde: Mapped[float | None] = mapped_column(Float)  # smallest effect detectable with 80 % power


class ExperimentStream(Base):
    __tablename__ = "experiment_streams"

    experiment_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    stream_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )


class ExperimentResult(Base):
    """One measurement of an experiment; the history is kept, the newest is the current result."""

    __tablename__ = "experiment_results"
    __table_args__ = (Index("ix_experiment_results_exp", "experiment_id", "measured_at"),)

    id: Mapped[intpk]
    experiment_id: Mapped[int] = mapped_column(BigInt, ForeignKey("experiments.id", ondelete="CASCADE"))
    measured_at: Mapped[utc]
    method: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(20))
    lift_abs: Mapped[float | None] = mapped_column(Float)
    lift_rel: Mapped[float | None] = mapped_column(Float)
    valid: Mapped[bool] = mapped_column(default=True)  # false once the window or streams change
    payload: Mapped[dict[str, Any]]
    post_hoc: Mapped[bool] = mapped_column(default=False, server_default=false())  # amended plan


class ExperimentAmendment(Base):
    """A change of a started experiment's plan: the plan before and after, and why."""

    __tablename__ = "experiment_amendments"
    __table_args__ = (Index("ix_experiment_amendments_exp", "experiment_id"),)

    id: Mapped[intpk]
    experiment_id: Mapped[int] = mapped_column(BigInt, ForeignKey("experiments.id", ondelete="CASCADE"))
    created_at: Mapped[utc]
    reason: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any]]
    after: Mapped[dict[str, Any]]


class ExperimentControl(Base):
    """One control stream of an experiment (several make a synthetic control)."""

    __tablename__ = "experiment_controls"

    experiment_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    stream_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer)


class ExperimentExcludedDay(Base):
    """A day a user confirmed as not covered (a possible outage): left out of the measurement."""

    __tablename__ = "experiment_excluded_days"

    experiment_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    created_at: Mapped[utc]


class ExperimentNote(Base):
    __tablename__ = "experiment_notes"

    id: Mapped[intpk]
    experiment_id: Mapped[int] = mapped_column(BigInt, ForeignKey("experiments.id", ondelete="CASCADE"))
    created_at: Mapped[utc]
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))


class ExperimentCompetitor(Base):
    """A competitor stream an experiment's share of voice is compared with (`--competitors`)."""

    __tablename__ = "experiment_competitors"

    experiment_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    stream_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )


class ExperimentEvent(Base):
    """A change of an experiment's status (concluded, cancelled, reopened) with its time and reason.

    `detail` keeps what the change said: a conclusion's learning, decision, adoption
    (`adopted_by`: evidence or judgement), judgement and whether it was early.
    """

    __tablename__ = "experiment_events"
    __table_args__ = (Index("ix_experiment_events_exp", "experiment_id", "at"),)

    id: Mapped[intpk]
    experiment_id: Mapped[int] = mapped_column(BigInt, ForeignKey("experiments.id", ondelete="CASCADE"))
    at: Mapped[utc]
    status: Mapped[str] = mapped_column(String(20))  # concluded | cancelled | reopened
    previous: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]]


class DigestSend(Base):
    """A digest to one recipient for one ISO week: at most once, so in progress is recorded first."""

    __tablename__ = "digest_sends"
    __table_args__ = (UniqueConstraint("week", "recipient", name="uq_digest_sends_week_recipient"),)

    id: Mapped[intpk]
    week: Mapped[str] = mapped_column(String(10))  # YYYY-Www
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20))  # a SendStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[utc]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(300))


class MaturitySnapshot(Base):
    """The reflection as it stood at a moment, so the history survives edits of the model."""

    __tablename__ = "maturity_snapshots"
    __table_args__ = (Index("ix_maturity_snapshots_as_of", "as_of"),)

    id: Mapped[intpk]
    as_of: Mapped[date] = mapped_column(Date)
    taken_at: Mapped[utc]
    stage_number: Mapped[int] = mapped_column(Integer)
    stage_key: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]


class Lease(Base):
    """A named lock with an expiry (scheduler scale-out): a crashed holder's lease runs out."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[utc]


class SavedSearch(Base):
    """A named query of the query language (tracker/query.py), kept to watch it over time."""

    __tablename__ = "saved_searches"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(100), unique=True)
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[utc]
    updated_at: Mapped[utc]


class ExperimentSearch(Base):
    """The saved search an experiment's selection is narrowed to (tracker/selection.py)."""

    __tablename__ = "experiment_searches"
    __table_args__ = (Index("ix_experiment_searches_search", "search_id"),)

    experiment_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    search_id: Mapped[int] = mapped_column(BigInt, ForeignKey("saved_searches.id"))


class Label(Base):
    """The team's label of a mention or an imported text (tracker/labels.py)."""

    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("lang", "text_hash", name="uq_labels_lang_text"),
        Index("ix_labels_mention_id", "mention_id"),
    )

    id: Mapped[intpk]
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(35))
    label: Mapped[str] = mapped_column(String(12))  # positive | neutral | negative | irrelevant
    source: Mapped[str] = mapped_column(String(20))  # import | web | cli
    created_at: Mapped[utc]


class SentimentModel(Base):
    """One trained sentiment model of a language; weights are JSON (zlib), never pickle."""

    __tablename__ = "sentiment_models"
    __table_args__ = (UniqueConstraint("lang", "version", name="uq_sentiment_models_lang_version"),)

    id: Mapped[intpk]
    lang: Mapped[str] = mapped_column(String(35))
    version: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[utc]
    training_hash: Mapped[str] = mapped_column(String(64))
    labels: Mapped[int] = mapped_column(Integer)
    macro_f1: Mapped[float] = mapped_column(Float)
    baseline_f1: Mapped[float | None] = mapped_column(Float)  # VADER on the same labels (English)
    figures: Mapped[dict[str, Any]]
    weights: Mapped[bytes] = mapped_column(LargeBinary)
    adopted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class User(Base):
    """A person who may sign in to the web interface (needed when it is served beyond 127.0.0.1)."""

    __tablename__ = "users"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, with its parameters and salt
    created_at: Mapped[utc]
    updated_at: Mapped[utc]
    disabled_at: Mapped[datetime | None]
    admin: Mapped[bool] = mapped_column(default=False, server_default=false())


class ApiToken(Base):
    """A bearer token for scripts; only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[utc]
    user_id: Mapped[int | None] = mapped_column(
        BigInt, ForeignKey("users.id", ondelete="CASCADE", name="fk_api_tokens_user")
    )
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    read_only: Mapped[bool] = mapped_column(default=False, server_default=false())


class WebSession(Base):
    """A signed-in browser; the cookie carries a random id, only its SHA-256 is stored here."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)

    id: Mapped[intpk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigInt, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[utc]
    last_seen_at: Mapped[utc]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(40))
    client: Mapped[str | None] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class AuditEvent(Base):
    """Who did what, when: logins, logouts, token events and every change to an experiment."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_target", "target", "action"))

    id: Mapped[intpk]
    at: Mapped[utc]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str | None] = mapped_column(String(200))
    client: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any] | None]


__all__ = [
    "AccountSnapshot",
    "ApiToken",
    "AuditEvent",
    "Base",
    "CollectionRun",
    "Cursor",
    "DigestSend",
    "EngagementSnapshot",
    "Experiment",
    "ExperimentNote",
    "ExperimentResult",
    "ExperimentStream",
    "Lease",
    "MaturitySnapshot",
    "Mention",
    "MentionSearch",
    "MentionStream",
    "SavedSearch",
    "Stream",
    "User",
    "WebSession",
]


class AlertFiring(Base):
    """One firing of an alert (tracker/alerts.py): open until its condition clears (cleared_at).

    `deliveries` maps each channel ("email:<address>", "webhook") to its state:
    {"status": pending|in_progress|sent|failed, "attempts", "next_at", "sent_at", "error"}.
    An in_progress channel found later is in doubt and never resent by itself."""

    __tablename__ = "alert_firings"
    __table_args__ = (Index("ix_alert_firings_alert_fired", "alert", "fired_at"),)

    id: Mapped[intpk]
    alert: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    streams: Mapped[list[str]] = mapped_column(JSON)
    window_start: Mapped[utc]
    window_end: Mapped[utc]
    fired_at: Mapped[utc]
    cleared_at: Mapped[datetime | None]
    last_held_at: Mapped[datetime | None]  # the last check at which the condition still held
    held_until: Mapped[datetime | None]  # quiet hours: delivered when they end
    subject: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict[str, Any]]
    mentions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    deliveries: Mapped[dict[str, Any]]


class DailyAggregate(Base):
    """One organisation day of one set of streams (tracker/aggregates.py): what analysis reads.

    `streams` is the set's key (",3,7,"): the streams a mention is linked to on that day."""

    __tablename__ = "daily_aggregates"
    __table_args__ = (Index("ix_daily_aggregates_day", "day"),)

    streams: Mapped[str] = mapped_column(String(400), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    mentions: Mapped[int] = mapped_column(default=0)
    scored: Mapped[int] = mapped_column(default=0)
    sentiment_sum: Mapped[float] = mapped_column(Float, default=0.0)
    positive: Mapped[int] = mapped_column(default=0)
    negative: Mapped[int] = mapped_column(default=0)
    own: Mapped[int] = mapped_column(default=0)
    # the own posts' engagement at experiments.engagement_age, summed
    engagement: Mapped[int] = mapped_column(BigInt, default=0, server_default="0")
    sentiment_sq: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # squared scores


class PostEngagement(Base):
    """One own post's engagement at the fixed age, per linked stream and organisation day
    (tracker/aggregates.py): what the robust engagement estimate reads by a range of days."""

    __tablename__ = "post_engagement"
    __table_args__ = (Index("ix_post_engagement_mention", "mention_id"),)

    stream_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    mention_id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    engagement: Mapped[int] = mapped_column(BigInt)


class ScorerAggregate(Base):
    """Scored mentions of one cell of the daily aggregates by one sentiment scorer
    (tracker/aggregates.py): which scorers a window's scores rest on, without the mentions."""

    __tablename__ = "daily_scorers"
    __table_args__ = (Index("ix_daily_scorers_day", "day"),)

    streams: Mapped[str] = mapped_column(String(400), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scorer: Mapped[str] = mapped_column(String(40), primary_key=True)
    scored: Mapped[int] = mapped_column(BigInt, default=0)


class AggregateMeta(Base):
    """Facts about the aggregates: the time zone (`zone`) their days are in, and the engagement
    age (`engagement_age`, seconds) the own posts' figures are read at."""

    __tablename__ = "aggregate_meta"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
