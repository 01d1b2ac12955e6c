"""Engagement at fixed ages: every run reads its stream's known posts again as they reach the
stream's `refresh_ages` (default 1 h, 24 h, 48 h, 7 d after posting).

Collection sees a post once, when it is new, so without this a mention keeps the figures
of its first minutes for good. After each run's collection, the posts of the stream that
have passed an age since their last reading are handed, in the platform's batch sizes, to
the connector's optional `refresh` method (connectors.base.Refresher; RSS has none). Each
batch is stored in one transaction: the readings go into the engagement history (each one,
changed or not), the posts are marked read (`refreshed_at`), and the posts the platform no
longer has are marked deleted (`deleted_at`; kept for the record, left out of counts).

Collection comes first and the refresh takes what is left: it runs after this stream's
pages, within the run's deadline, sends at most as many requests as the collection did
(never fewer than MIN_REQUESTS), and stops, leaving the rest for the next run, as soon as
a platform announces a spent rate-limit budget rather than wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from connectors._http import HttpClient
from connectors.base import ConnectorError, Known, Refreshed
from tracker import aggregates
from tracker.ingest import upsert_items
from tracker.store.db import Store
from tracker.store.models import Mention, MentionStream
from tracker.timeutil import utcnow

log = logging.getLogger("tracker.refresh")

MIN_REQUESTS = 10  # a run may always send this many refresh requests, however small its collection
MAX_ITEMS = 5000  # due posts read again per run and stream at most; the rest wait for the next run
LATE = timedelta(days=7)  # a reading missed by more than this (a worker down for weeks) is given up


@dataclass
class RefreshReport:
    """What one stream's refresh did in a run."""

    due: int = 0
    refreshed: int = 0
    deleted: int = 0
    requests: int = 0
    error: str | None = None


@dataclass(frozen=True)
class _Due:
    mention_id: int
    known: Known
    mark: datetime  # the age mark it is read for (created_at + age)


def due(
    session: Any, stream_id: int, ages: Sequence[timedelta], now: datetime, *, limit: int = MAX_ITEMS
) -> list[_Due]:
    """The stream's posts that passed an age since their last reading, freshest mark first.

    A post's last reading is the later of when it was first seen, last refreshed and last
    updated by a collection that saw its figures change; it is due when some age mark
    (created_at + age) lies between that reading and now.
    """
    if not ages:
        return []
    oldest = now - max(ages) - LATE
    rows = session.execute(
        select(
            Mention.id,
            Mention.external_id,
            Mention.created_at,
            Mention.first_seen_at,
            Mention.refreshed_at,
            Mention.updated_at,
        )
        .join(MentionStream, MentionStream.mention_id == Mention.id)
        .where(
            MentionStream.stream_id == stream_id,
            MentionStream.created_at >= oldest,
            MentionStream.created_at <= now - min(ages),
            Mention.deleted_at.is_(None),
        )
    ).all()
    found: list[tuple[datetime, int, str, datetime]] = []
    for mention_id, external_id, created, first_seen, refreshed, updated in rows:
        read = max(first_seen, refreshed or first_seen, updated or first_seen)
        marks = [
            created + age for age in ages if read < created + age <= now and now - (created + age) <= LATE
        ]
        if marks:
            found.append((max(marks), mention_id, external_id, created))
    found.sort(reverse=True)
    found = found[:limit]
    raws = _raws(session, [mention_id for _, mention_id, _, _ in found])
    return [
        _Due(mention_id, Known(external_id, created, raws.get(mention_id)), mark)
        for mark, mention_id, external_id, created in found
    ]


def _raws(session: Any, ids: list[int]) -> dict[int, dict[str, Any] | None]:
    """Stored payloads (they hold the platform's local ids), loaded only for the posts due."""
    found: dict[int, dict[str, Any] | None] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(session.execute(select(Mention.id, Mention.raw).where(Mention.id.in_(chunk))).all())
    return found


async def refresh_stream(
    *,
    store: Store,
    connector: Any,
    stream: str,
    stream_id: int,
    ages: Sequence[timedelta],
    http: HttpClient,
    seconds: float,
    max_requests: int,
) -> RefreshReport:
    """Read the stream's due posts again through `connector.refresh`, for at most `seconds`.

    Errors end the refresh, not the run: they are reported in RefreshReport.error and the
    posts not read stay due for the next run.
    """
    report = RefreshReport()
    method = getattr(connector, "refresh", None)
    if method is None or not ages or seconds <= 0:
        return report
    with store.read() as session:
        pending = due(session, stream_id, ages, utcnow())
    report.due = len(pending)
    if not pending:
        return report
    ids = {d.known.external_id: d.mention_id for d in pending}
    batches = method([d.known for d in pending])
    answered: set[str] = set()
    try:
        async with asyncio.timeout(seconds):
            async for batch in batches:
                _store(store, stream, stream_id, ids, batch, report)
                answered.update(i.external_id for i in batch.items)
                answered.update(batch.deleted)
                if report.requests >= max_requests or _limited(http):
                    break
            else:
                # Every batch was read: what the connector left out it cannot read again (an HN
                # comment has no figures, an imported post no platform id). Marked read at this
                # age, they are not handed back on every run until the next age.
                _skipped(store, [ids[k] for k in ids if k not in answered])
    except TimeoutError:
        report.error = "stopped at the run deadline; the rest is read on a later run"
    except ConnectorError as exc:
        report.error = str(exc)
    finally:
        await batches.aclose()
    if report.error:
        log.warning("stream %s: refresh: %s", stream, report.error)
    return report


def _store(
    store: Store, stream: str, stream_id: int, ids: dict[str, int], batch: Refreshed, report: RefreshReport
) -> None:
    """One batch in one transaction: readings into the history, read and deleted marks."""
    now = utcnow()
    items = [replace(item, streams=(stream,)) for item in batch.items if item.external_id in ids]
    read = [ids[item.external_id] for item in items]
    gone = [ids[external_id] for external_id in batch.deleted if external_id in ids]
    with store.write() as session:
        if items:
            upsert_items(session=session, items=items, stream_ids={stream: stream_id}, now=now, readings=True)
        for start in range(0, len(read), 500):
            session.execute(
                update(Mention).where(Mention.id.in_(read[start : start + 500])).values(refreshed_at=now)
            )
        change = aggregates.Change(session)  # a deleted post leaves the daily aggregates
        change.before(gone)
        for start in range(0, len(gone), 500):
            session.execute(
                update(Mention)
                .where(Mention.id.in_(gone[start : start + 500]), Mention.deleted_at.is_(None))
                .values(deleted_at=now, refreshed_at=now)
            )
        change.after()
    report.refreshed += len(read)
    report.deleted += len(gone)
    report.requests += batch.requests


def _skipped(store: Store, ids: list[int]) -> None:
    if not ids:
        return
    now = utcnow()
    with store.write() as session:
        for start in range(0, len(ids), 500):
            session.execute(
                update(Mention).where(Mention.id.in_(ids[start : start + 500])).values(refreshed_at=now)
            )


def _limited(http: HttpClient) -> bool:
    """Whether some origin is holding requests back for a spent budget: collection gets it first."""
    moment = http.clock()
    return any(origin.blocked_until > moment for origin in http.origins.values())
