"""A saved search as a selection of mentions: for an experiment's measurement and for alerts.

An experiment registered with `--search NAME` (API field `search`) counts only the
mentions of its streams that match that saved search's query; with no stream named, its
streams are every stream that is not a competitor's, read when it is measured. An alert
with `search = "NAME"` counts, averages or matches only the mentions that match it. The
match is the mention search's own (tracker/search_index.py), as a subquery of mention ids
that the metrics add to their reads of the streams.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import UserError
from tracker.query import parse
from tracker.search_index import where
from tracker.store.enums import Role
from tracker.store.models import Experiment, ExperimentSearch, ExperimentStream, Mention, SavedSearch, Stream


def unknown(key: str | int) -> UserError:
    return UserError(f"no saved search {key!r} (`tracker search list` shows them)")


def find_search(session: Session, key: str | int) -> SavedSearch:
    """A saved search by name or id, or a clear error."""
    text = str(key).strip()
    row = session.scalar(select(SavedSearch).where(SavedSearch.name == " ".join(text.split())))
    if row is None and text.isdigit() and len(text) < 19:
        row = session.get(SavedSearch, int(text))
    if row is None:
        raise unknown(key)
    return row


def matching_ids(session: Session, query: str) -> Any:
    """The ids of the mentions the query matches, as a subquery (tracker.search_index.where)."""
    dialect = session.get_bind().dialect.name
    return select(Mention.id).where(where(parse(query), dialect))


def experiment_search(session: Session, experiment_id: int) -> SavedSearch | None:
    link = session.get(ExperimentSearch, experiment_id)
    return session.get(SavedSearch, link.search_id) if link is not None else None


def experiment_selection(session: Session, exp: Experiment) -> tuple[list[int], Any]:
    """The experiment's stream ids and the subquery its mentions must match (None: all of them)."""
    stream_ids = list(
        session.scalars(select(ExperimentStream.stream_id).where(ExperimentStream.experiment_id == exp.id))
    )
    search = experiment_search(session, exp.id)
    if search is None:
        return stream_ids, None
    if not stream_ids:
        stream_ids = list(session.scalars(select(Stream.id).where(Stream.role != Role.COMPETITOR)))
    return stream_ids, matching_ids(session, search.query)


def set_experiment_search(session: Session, experiment_id: int, search_id: int | None) -> None:
    link = session.get(ExperimentSearch, experiment_id)
    if search_id is None:
        if link is not None:
            session.delete(link)
    elif link is None:
        session.add(ExperimentSearch(experiment_id=experiment_id, search_id=search_id))
    else:
        link.search_id = search_id
    session.flush()


def experiments_using(session: Session, search_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ExperimentSearch.experiment_id)
            .where(ExperimentSearch.search_id == search_id)
            .order_by(ExperimentSearch.experiment_id)
        )
    )
