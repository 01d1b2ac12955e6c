"""Saved searches: named queries of the query language, watched over time.

`tracker search add|list|remove|rename` and the web's /searches pages call these.
Each search reports its mentions of the last 7 complete days against the 7 before,
a daily series (count and mean sentiment) and its most engaging mentions, all read
through the full-text index with the same filter as the mention list.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError

from tracker.config import Settings
from tracker.errors import UserError
from tracker.query import parse
from tracker.selection import experiments_using
from tracker.store.db import Store
from tracker.store.models import ExperimentResult, Mention, SavedSearch
from tracker.timeutil import utcnow

NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
CHART_DAYS = 28


@dataclass(frozen=True)
class Search:
    id: int
    name: str
    query: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "query": self.query}


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name or not NAME.match(name):
        raise UserError("name: expected 1 to 100 printable characters")
    return name


def _query(value: str) -> str:
    parsed = parse(value)  # a QueryError names the position of the problem
    return parsed.text


def add(store: Store, name: str, query: str) -> Search:
    name, query = _name(name), _query(query)
    now = utcnow()
    try:
        with store.write() as session:
            row = SavedSearch(name=name, query=query, created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            return Search(row.id, row.name, row.query)
    except IntegrityError:
        raise UserError(f"a saved search named {name!r} exists already") from None


def all_searches(store: Store) -> list[Search]:
    with store.read() as session:
        rows = session.scalars(select(SavedSearch).order_by(SavedSearch.name)).all()
        return [Search(r.id, r.name, r.query) for r in rows]


def find(store: Store, key: str | int) -> Search:
    """A saved search by id or by name."""
    with store.read() as session:
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            row = session.get(SavedSearch, int(key))
        else:
            row = session.scalar(select(SavedSearch).where(SavedSearch.name == _name(key)))
        if row is None:
            raise UserError(f"no saved search {key!r} (`tracker search list` shows them)")
        return Search(row.id, row.name, row.query)


def update(store: Store, key: str | int, *, name: str | None = None, query: str | None = None) -> Search:
    """Rename a saved search and/or change its query."""
    found = find(store, key)
    new_name = _name(name) if name is not None else found.name
    new_query = _query(query) if query is not None else found.query
    try:
        with store.write() as session:
            row = session.get(SavedSearch, found.id)
            assert row is not None
            row.name, row.query, row.updated_at = new_name, new_query, utcnow()
            if new_query != found.query:  # the experiments measured on it measure other mentions now
                using = experiments_using(session, found.id)
                if using:
                    session.execute(
                        sa_update(ExperimentResult)
                        .where(ExperimentResult.experiment_id.in_(using))
                        .values(valid=False)
                    )
    except IntegrityError:
        raise UserError(f"a saved search named {new_name!r} exists already") from None
    return Search(found.id, new_name, new_query)


def remove(store: Store, key: str | int) -> Search:
    found = find(store, key)
    with store.write() as session:
        using = experiments_using(session, found.id)
        if using:
            shown = ", ".join(str(i) for i in using)
            raise UserError(
                f"saved search {found.name!r} selects the mentions of experiment {shown}: "
                "it stays while they use it (`tracker experiment edit ID --search ''` lets go of it)"
            )
        row = session.get(SavedSearch, found.id)
        if row is not None:
            session.delete(row)
    return found


# -- figures ----------------------------------------------------------------------------------


class WeekSpan(TypedDict):
    start: str
    end: str


class DailyFigure(TypedDict):
    """One day of a saved search: its matching mentions and their mean sentiment (None unscored)."""

    day: str
    mentions: int
    sentiment: float | None


class SearchFigures(TypedDict):
    """A saved search with its figures (`search show --json`, the web's saved-search page)."""

    id: int
    name: str
    query: str
    this_week: int
    previous_week: int
    change_rel: float | None
    week: WeekSpan
    daily: list[DailyFigure]
    top_mentions: list[dict[str, Any]]


def figures(store: Store, settings: Settings, search: Search, today: date, *, top: int = 5) -> SearchFigures:
    """The last 7 complete days against the 7 before, a daily series and the top mentions."""
    from tracker.search import first_matches
    from tracker.web.queries import MentionFilter, _matching

    zone = settings.organisation.zone
    last = today - timedelta(days=1)
    first = today - timedelta(days=CHART_DAYS)
    window = MentionFilter(q=search.query, since=first, until=last)
    counts: dict[date, int] = defaultdict(int)
    sums: dict[date, float] = defaultdict(float)
    scored: dict[date, int] = defaultdict(int)
    with store.read() as session:
        found = _matching(session, settings, window)
        if found is not None:
            query = found[0].with_only_columns(Mention.created_at, Mention.sentiment)
            for created, score in session.execute(query):
                day = created.astimezone(zone).date()
                counts[day] += 1
                if score is not None:
                    sums[day] += score
                    scored[day] += 1
        week = MentionFilter(q=search.query, since=today - timedelta(days=7), until=last, sort="engagement")
        best = first_matches(session, settings, week, top)
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    this = sum(counts[d] for d in days if d >= today - timedelta(days=7))
    before = sum(counts[d] for d in days if today - timedelta(days=14) <= d < today - timedelta(days=7))
    return {
        "id": search.id,
        "name": search.name,
        "query": search.query,
        "this_week": this,
        "previous_week": before,
        "change_rel": (this - before) / before if before else None,
        "week": {"start": (today - timedelta(days=7)).isoformat(), "end": last.isoformat()},
        "daily": [
            {
                "day": d.isoformat(),
                "mentions": counts[d],
                "sentiment": round(sums[d] / scored[d], 4) if scored[d] else None,
            }
            for d in days
        ],
        "top_mentions": best,
    }
