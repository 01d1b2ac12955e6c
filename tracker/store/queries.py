"""Reads of the streams table that many modules share: one place for each, not one per module.

Pages, digest, status, ingest, experiments and alerts all look streams up by name or id;
these are the lookups themselves, read in the caller's session (no transaction of their own).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.store.models import Stream


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
