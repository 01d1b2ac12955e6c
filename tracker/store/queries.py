"""Reads that many modules share: one place for each, not one per module.

Pages, digest, status, ingest, experiments and alerts all look streams up by name or id;
the CLI's export and search, the web's pages and the digest name each mention's streams;
the metrics, the alerts and the digest read a set of streams' mentions in a window; the
registry, the lifecycle rules and the digest read experiments' valid results. These are
the queries themselves, run in the caller's session (no transaction of their own), or the
statements a caller narrows further.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, literal_column, select
from sqlalchemy.orm import Session

from connectors.base import KINDS
from tracker.store.models import ExperimentResult, Mention, MentionStream, Stream


def kind_is(kind: str) -> ColumnElement[bool]:
    """Mention.kind equals `kind`, written as a literal: own posts have a partial index of their
    own (WHERE kind = 'own'), which PostgreSQL uses for a bound parameter only in a custom plan."""
    if kind not in KINDS:
        raise ValueError(f"not a kind of mention: {kind!r}")
    return Mention.kind == literal_column(f"'{kind}'")


def streams_by_name(session: Session) -> dict[str, Stream]:
    """Every stored stream, by name."""
    return {s.name: s for s in session.scalars(select(Stream))}


def stream_names(session: Session) -> list[str]:
    """The stored streams' names, sorted."""
    return list(session.scalars(select(Stream.name).order_by(Stream.name)))


def stream_id(session: Session, name: str) -> int | None:
    """The id of the stream called `name`, or None when no such stream is stored."""
    return session.scalar(select(Stream.id).where(Stream.name == name))


def stream_ids(session: Session, names: Iterable[str] | None = None) -> dict[str, int]:
    """Name -> id of the stored streams (only those of `names`, when given; unknown ones are left out)."""
    query = select(Stream.name, Stream.id)
    if names is not None:
        query = query.where(Stream.name.in_(list(names)))
    return {name: sid for name, sid in session.execute(query)}


def stream_names_by_id(session: Session, ids: Iterable[int] | None = None) -> dict[int, str]:
    """Id -> name of the stored streams (only those of `ids`, when given)."""
    query = select(Stream.id, Stream.name)
    if ids is not None:
        query = query.where(Stream.id.in_(list(ids)))
    return {sid: name for sid, name in session.execute(query)}


# -- mentions and their streams ---------------------------------------------------------------


def mention_streams(
    session: Session, mention_ids: Sequence[int], names: Mapping[int, str] | None = None
) -> dict[int, list[str]]:
    """Mention id -> the names of its streams (in no particular order), for `mention_ids`.

    With `names` (stream id -> name, read once by a caller that pages through many mentions),
    streams are named from it, "?" for one it lacks, instead of joining the streams table."""
    if not mention_ids:
        return {}
    links: dict[int, list[str]] = {}
    if names is None:
        query = (
            select(MentionStream.mention_id, Stream.name)
            .join(Stream, Stream.id == MentionStream.stream_id)
            .where(MentionStream.mention_id.in_(list(mention_ids)))
        )
        for mention_id, name in session.execute(query):
            links.setdefault(mention_id, []).append(name)
        return links
    query_ids = select(MentionStream.mention_id, MentionStream.stream_id).where(
        MentionStream.mention_id.in_(list(mention_ids))
    )
    for mention_id, stream_id in session.execute(query_ids):
        links.setdefault(mention_id, []).append(names.get(stream_id, "?"))
    return links


def links_in_window(stream_ids: Collection[int], lo: datetime, hi: datetime) -> Select[int, datetime]:
    """(mention id, created_at) of the streams' mentions created in [lo, hi): one row per
    mention and stream. A statement for the caller to narrow (deleted posts, a saved search)."""
    return select(MentionStream.mention_id, MentionStream.created_at).where(
        MentionStream.stream_id.in_(list(stream_ids)),
        MentionStream.created_at >= lo,
        MentionStream.created_at < hi,
    )


# -- experiments' results ---------------------------------------------------------------------


def valid_results(
    session: Session, experiment_id: int, *, limit: int | None = None
) -> list[ExperimentResult]:
    """The experiment's valid results (not voided by an amendment), newest first."""
    query = (
        select(ExperimentResult)
        .where(ExperimentResult.experiment_id == experiment_id, ExperimentResult.valid.is_(True))
        .order_by(ExperimentResult.measured_at.desc(), ExperimentResult.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def newest_valid_result_ids(before: datetime) -> Select[int]:
    """The id of each experiment's newest valid result measured before `before` (a subquery)."""
    return (
        select(func.max(ExperimentResult.id))
        .where(ExperimentResult.valid.is_(True), ExperimentResult.measured_at < before)
        .group_by(ExperimentResult.experiment_id)
    )


def first_mention_day(session: Session, stream_ids: Sequence[int], zone: ZoneInfo) -> date:
    """The local day of the streams' first mention (`date.max` when they have none)."""
    first = session.scalar(
        select(func.min(MentionStream.created_at)).where(MentionStream.stream_id.in_(stream_ids))
    )
    if first is None:
        return date.max
    return (first if first.tzinfo else first.replace(tzinfo=UTC)).astimezone(zone).date()
