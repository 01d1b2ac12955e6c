"""`tracker status`: per stream the last run, its outcome, last error, coverage, next run, followers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import func, select

from tracker.config import Settings
from tracker.coverage import coverage
from tracker.store.db import Store
from tracker.store.models import AccountSnapshot, CollectionRun, Mention, MentionStream, Stream
from tracker.store.queries import streams_by_name
from tracker.timeutil import iso_z, utcnow


class RunRecord(TypedDict):
    """One collection run as `status --json` shows it (SPEC: `last_run`)."""

    started_at: str
    finished_at: str | None
    status: str
    fetched: int
    new: int
    updated: int
    rejected: int
    error: str | None
    worker: str | None
    covered_from: str | None
    covered_until: str | None


class ErrorRecord(TypedDict):
    at: str
    status: str
    error: str | None


class FollowersRecord(TypedDict):
    account: str
    count: int | None
    at: str


class GapRecord(TypedDict("GapRecord", {"from": str})):
    until: str


class StreamStatus(TypedDict):
    """One stream's line of `tracker status --json`, the web's streams page and `/api/streams`."""

    name: str
    connector: str | None
    role: str | None
    source: str
    every: str | None
    items: int
    last_run: RunRecord | None
    last_error: ErrorRecord | None
    covered_until: str | None
    gaps: list[GapRecord]
    next_run: str | None
    followers: FollowersRecord | None
    deleted: int  # posts the platform no longer has: kept, left out of counts


def stream_status(*, store: Store, settings: Settings, now: datetime | None = None) -> list[StreamStatus]:
    """One record per stream (configured streams first, then import-only ones)."""
    now = now or utcnow()
    with store.read() as session:
        rows = streams_by_name(session)
        counts = dict(
            session.execute(
                select(MentionStream.stream_id, func.count()).group_by(MentionStream.stream_id)
            ).all()
        )
        deleted = dict(
            session.execute(
                select(MentionStream.stream_id, func.count())
                .join(Mention, Mention.id == MentionStream.mention_id)
                .where(Mention.deleted_at.is_not(None))
                .group_by(MentionStream.stream_id)
            ).all()
        )
        names = [s.name for s in settings.streams] + sorted(n for n in rows if settings.stream(n) is None)
        return [
            _status_of_stream(session, settings, name, rows.get(name), counts, deleted, now) for name in names
        ]


def _status_of_stream(
    session: Any,
    settings: Settings,
    name: str,
    row: Stream | None,
    counts: dict[int, int],
    deleted: dict[int, int],
    now: datetime,
) -> StreamStatus:
    conf = settings.stream(name)
    record: StreamStatus = {
        "name": name,
        "connector": conf.connector if conf else (row.connector if row else None),
        "role": conf.role if conf else (row.role if row else None),
        "source": "config" if conf else "import",
        "every": _duration(conf.every.total_seconds()) if conf else None,
        "items": counts.get(row.id, 0) if row else 0,
        "last_run": None,
        "last_error": None,
        "covered_until": None,
        "gaps": [],
        "next_run": iso_z(now) if conf else None,
        "followers": None,
        "deleted": deleted.get(row.id, 0) if row else 0,
    }
    if row is None:
        return record
    last = session.scalars(
        select(CollectionRun)
        .where(CollectionRun.stream_id == row.id)
        .order_by(CollectionRun.id.desc())
        .limit(1)
    ).first()
    if last is not None:
        record["last_run"] = _run(last)
        if conf:
            record["next_run"] = iso_z(max(now, last.started_at + conf.every))
    failed = session.scalars(
        select(CollectionRun)
        .where(CollectionRun.stream_id == row.id, CollectionRun.error.is_not(None))
        .order_by(CollectionRun.id.desc())
        .limit(1)
    ).first()
    if failed is not None:
        record["last_error"] = {
            "at": iso_z(failed.started_at),
            "status": failed.status,
            "error": failed.error,
        }
    if conf:
        cov = coverage(session, row.id)
        record["covered_until"] = iso_z(cov.covered_until) if cov.covered_until else None
        record["gaps"] = [GapRecord({"from": iso_z(a), "until": iso_z(b)}) for a, b in cov.gaps()]
    snapshot = session.scalars(
        select(AccountSnapshot)
        .where(AccountSnapshot.stream_id == row.id)
        .order_by(AccountSnapshot.observed_at.desc())
        .limit(1)
    ).first()
    if snapshot is not None:
        record["followers"] = {
            "account": snapshot.account,
            "count": snapshot.followers,
            "at": iso_z(snapshot.observed_at),
        }
    return record


def _run(run: CollectionRun) -> RunRecord:
    return {
        "started_at": iso_z(run.started_at),
        "finished_at": iso_z(run.finished_at) if run.finished_at else None,
        "status": run.status,
        "fetched": run.fetched,
        "new": run.new,
        "updated": run.updated,
        "rejected": run.rejected,
        "error": run.error,
        "worker": run.worker,
        "covered_from": iso_z(run.covered_from) if run.covered_from else None,
        "covered_until": iso_z(run.covered_until) if run.covered_until else None,
    }


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
