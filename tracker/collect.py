"""One collection run of streams: connectors -> filters -> upsert, page by page.

Streams run concurrently over one shared HTTP client (the per-origin limit lives in
connectors/_http.py). Each page is stored in one transaction together with the run's
counts and, on the final page, the connector's new cursor, so a process killed at
any moment leaves a consistent database and the next run repeats work rather than
skipping it. A failing stream is recorded and reported; the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from connectors._clean import clean_item
from connectors._http import MB, HttpClient, HttpPolicy
from connectors.base import AccountStats, ConnectorError, MappingError, Page, StreamSpec
from tracker import __version__, leases
from tracker.config import Settings, StreamConfig, resolve_secret
from tracker.errors import UserError
from tracker.filters import StreamFilter
from tracker.ingest import sync_streams, upsert_items
from tracker.registry import connector_class
from tracker.store.db import Store
from tracker.store.enums import Role, RunStatus
from tracker.store.models import AccountSnapshot, CollectionRun, Cursor
from tracker.timeutil import utcnow

log = logging.getLogger("tracker.collect")
USER_AGENT = f"social-tracker/{__version__}"
LEASE_MARGIN = timedelta(minutes=1)


@dataclass
class RunReport:
    """What `tracker collect` prints for one stream."""

    stream: str
    status: str = RunStatus.RUNNING  # a RunStatus
    fetched: int = 0
    new: int = 0
    updated: int = 0
    rejected: int = 0
    filtered: int = 0
    requests: int = 0
    error: str | None = None
    rejections: list[str] = field(default_factory=list)
    run_id: int | None = None
    refreshed: int = 0  # known posts read again at their refresh ages (tracker.refresh)
    deleted: int = 0  # of those, the ones the platform no longer has
    refresh_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "status": self.status,
            "fetched": self.fetched,
            "new": self.new,
            "updated": self.updated,
            "rejected": self.rejected,
            "filtered": self.filtered,
            "requests": self.requests,
            "error": self.error,
            "rejections": self.rejections[:20],
            "refreshed": self.refreshed,
            "deleted": self.deleted,
            "refresh_error": self.refresh_error,
        }


def select_streams(settings: Settings, names: Sequence[str]) -> list[StreamConfig]:
    if not names:
        return list(settings.streams)
    unknown = [n for n in names if settings.stream(n) is None]
    if unknown:
        known = ", ".join(s.name for s in settings.streams) or "none configured"
        raise UserError(f"--stream: unknown stream {unknown[0]!r} (known: {known})")
    return [s for s in settings.streams if s.name in names]


def http_policy(settings: Settings) -> HttpPolicy:
    c = settings.collection
    return HttpPolicy(
        connect_timeout=c.connect_timeout.total_seconds(),
        read_timeout=c.read_timeout.total_seconds(),
        per_origin=c.per_origin,
        retries=c.retries,
        backoff_base=c.backoff.total_seconds(),
        user_agent=USER_AGENT,
        max_response=c.max_response_mb * MB,
    )


async def collect(
    *,
    settings: Settings,
    store: Store,
    streams: Sequence[StreamConfig],
    http: HttpClient | None = None,
) -> list[RunReport]:
    """Collect the given streams once, concurrently; return one report per stream."""
    own_client = http is None
    client = http or HttpClient.create(http_policy(settings))
    try:
        with store.write() as session:
            sync_streams(session=session, settings=settings, now=utcnow())
        tasks = [collect_stream(settings, store, conf, client) for conf in streams]
        return list(await asyncio.gather(*tasks))
    finally:
        if own_client:
            await client.aclose()


def stream_spec(conf: StreamConfig) -> StreamSpec:
    """The connector's view of a stream; secrets are read from the environment now."""
    secrets: dict[str, str] = {}
    for key, variable in conf.secrets:  # token_env -> secrets["token"], and so on
        value = resolve_secret(variable, f"{conf.key}.{key}")
        if value is not None:
            secrets[key.removesuffix("_env")] = value
    return StreamSpec(
        name=conf.name,
        connector=conf.connector,
        role=conf.role,
        base_url=conf.base_url,
        selectors=dict(conf.selectors),
        secrets=secrets,
        backfill=conf.backfill,
        refresh_days=conf.refresh_days,
        overlap=conf.overlap,
    )


async def collect_stream(settings: Settings, store: Store, conf: StreamConfig, http: HttpClient) -> RunReport:
    """One run of one stream, under the stream's lease so no other worker collects it meanwhile."""
    report = RunReport(stream=conf.name)
    lease = f"collect:{conf.name}"
    if not leases.acquire(store, lease, conf.run_timeout + LEASE_MARGIN):
        report.status = RunStatus.SKIPPED
        report.error = f"being collected by {leases.holder_of(store, lease) or 'another worker'}"
        return report
    try:
        return await _run_stream(store, conf, http, report)
    finally:
        leases.release(store, lease)


async def _run_stream(store: Store, conf: StreamConfig, http: HttpClient, report: RunReport) -> RunReport:
    started = utcnow()
    run_id, stream_id, cursor = _begin(store, conf.name, started)
    report.run_id = run_id
    pages = _Pages(store=store, report=report, conf=conf, run_id=run_id, stream_id=stream_id, started=started)
    connector: Any = None
    run_http = http.for_run(conf.run_timeout.total_seconds())
    try:
        cls = connector_class(conf.connector)
        if cls is None:
            raise ConnectorError(f"no connector named {conf.connector!r} is installed")
        connector = cls(stream_spec(conf), run_http)
        async with asyncio.timeout(conf.run_timeout.total_seconds()):
            async for page in connector.pages(cursor):
                pages.add(page)
            if conf.role == Role.OWNED:
                pages.account(await connector.account_stats())
        final = pages.final
        if final is not None and final.gap:  # the platform would not page back far enough
            report.status, report.error = RunStatus.PARTIAL, final.gap
        else:
            report.status = RunStatus.OK
            if final is not None and final.warning:
                report.error = f"warning: {final.warning}"
    except TimeoutError:
        report.status, report.error = RunStatus.PARTIAL, f"stopped at the run deadline ({conf.run_timeout})"
    except asyncio.CancelledError:  # shutdown: what was stored stays, the run says so
        report.status, report.error = RunStatus.PARTIAL, "stopped: the worker was shut down"
        pages.finish()
        raise
    except (ConnectorError, UserError) as exc:
        report.status, report.error = (RunStatus.PARTIAL if pages.stored else RunStatus.FAILED), str(exc)
    except Exception as exc:  # a connector bug must not stop the other streams
        log.debug("stream %s: unexpected error", conf.name, exc_info=True)  # traceback only at debug level
        report.status, report.error = (
            RunStatus.FAILED,
            f"unexpected {type(exc).__name__} in the {conf.connector} connector",
        )
    pages.finish()
    if report.error:
        log.warning("stream %s: %s: %s", conf.name, report.status, report.error)
    if connector is not None:
        await _refresh(store, conf, connector, run_http, stream_id, report)
    return report


async def _refresh(
    store: Store, conf: StreamConfig, connector: Any, http: HttpClient, stream_id: int, report: RunReport
) -> None:
    """Read known posts again at their ages, in what is left of the run (see tracker.refresh)."""
    from tracker.refresh import MIN_REQUESTS, refresh_stream

    left = (http.deadline - http.clock()) if http.deadline is not None else conf.run_timeout.total_seconds()
    done = await refresh_stream(
        store=store,
        connector=connector,
        stream=conf.name,
        stream_id=stream_id,
        ages=conf.refresh_ages,
        http=http,
        seconds=left,
        max_requests=max(MIN_REQUESTS, report.requests),
    )
    report.refreshed, report.deleted, report.refresh_error = done.refreshed, done.deleted, done.error


def _begin(store: Store, name: str, started: datetime) -> tuple[int, int, dict[str, Any] | None]:
    from tracker.store.models import Stream

    with store.write() as session:
        stream_id = session.scalars(select(Stream.id).where(Stream.name == name)).one()
        # We hold the stream's lease, so a run still marked running died with its process.
        session.execute(
            update(CollectionRun)
            .where(CollectionRun.stream_id == stream_id, CollectionRun.status == RunStatus.RUNNING)
            .values(
                status=RunStatus.FAILED,
                error="interrupted: the process stopped during the run",
                finished_at=started,
            )
        )
        run = CollectionRun(
            stream_id=stream_id, started_at=started, status=RunStatus.RUNNING, worker=leases.worker_id()
        )
        session.add(run)
        session.flush()
        cursor = session.get(Cursor, stream_id)
        return run.id, stream_id, (dict(cursor.value) if cursor else None)


@dataclass
class _Pages:
    """Stores the pages of one run; every page is one transaction with the run's counts."""

    store: Store
    report: RunReport
    conf: StreamConfig
    run_id: int
    stream_id: int
    started: datetime
    stored: int = 0
    holding: int = 0  # rejected items that keep the old cursor (read again next run)
    oldest: datetime | None = None
    final: Page | None = None

    def add(self, page: Page) -> None:
        rule = StreamFilter(
            self.conf.include, self.conf.exclude, self.conf.languages, self.conf.filter, self.conf.name
        )
        kept = []
        poison = list(page.poison)
        for item in page.items:
            try:
                item = clean_item(item)  # NUL, lone surrogates, huge strings and counts made harmless
            except MappingError as exc:
                poison.append(f"{item.external_id[:80]!r}: {exc}")
                continue
            filtered = rule.apply(item)
            if filtered is None:
                self.report.filtered += 1
            else:
                kept.append(replace(filtered, streams=(self.conf.name,)))
        now = utcnow()
        with self.store.write() as session:
            counts = upsert_items(
                session=session, items=kept, stream_ids={self.conf.name: self.stream_id}, now=now
            )
            if page.cursor is not None and not (self.holding or page.rejected):
                _save_cursor(session, self.stream_id, page.cursor, now)
            elif page.cursor is not None:
                # Items this run could not read lie somewhere below the new cursor: keeping the
                # old one makes the next run read that ground again, so none is skipped for good.
                log.warning(
                    "stream %s: %d item(s) could not be read; the cursor stays where it was",
                    self.conf.name,
                    self.holding + len(page.rejected),
                )
            r = self.report
            r.fetched += len(page.items) + len(page.rejected) + len(page.poison)
            r.new, r.updated = r.new + counts.new, r.updated + counts.updated
            r.rejected += len(page.rejected) + len(poison)
            r.rejections.extend(page.rejected + poison)
            self.holding += len(page.rejected)
            r.requests += page.requests
            for item in page.items:
                self.oldest = item.created_at if self.oldest is None else min(self.oldest, item.created_at)
            if page.final:
                self.final = page
            run = session.get(CollectionRun, self.run_id)
            assert run is not None
            _copy_counts(run, r)
        self.stored += 1

    def account(self, stats: AccountStats | None) -> None:
        if stats is None:
            return
        with self.store.write() as session:
            snapshot = AccountSnapshot(
                stream_id=self.stream_id,
                account=stats.account,
                observed_at=utcnow(),
                followers=stats.followers,
                following=stats.following,
                posts=stats.posts,
            )
            session.add(snapshot)

    def finish(self) -> None:
        """Close the run: status, error and the period it covered completely."""
        with self.store.write() as session:
            run = session.get(CollectionRun, self.run_id)
            assert run is not None
            _copy_counts(run, self.report)
            run.status, run.error, run.finished_at = self.report.status, self.report.error, utcnow()
            run.covered_from, run.covered_until = self._coverage(session)

    def _coverage(self, session: Any) -> tuple[datetime | None, datetime | None]:
        """A run that reached known items covers the gap since the last covered point; one that
        stopped early (backfill cap, deadline, failure) covers only from its oldest item on."""
        if self.final is not None and self.final.complete:
            previous = session.scalar(
                select(func.max(CollectionRun.covered_until)).where(
                    CollectionRun.stream_id == self.stream_id, CollectionRun.id != self.run_id
                )
            )
            return previous, self.started
        if self.stored and self.oldest is not None:
            return self.oldest, self.started
        return None, None


def _copy_counts(run: CollectionRun, r: RunReport) -> None:
    run.fetched, run.new, run.updated, run.rejected, run.requests = (
        r.fetched,
        r.new,
        r.updated,
        r.rejected,
        r.requests,
    )


def _save_cursor(session: Any, stream_id: int, value: dict[str, Any], now: datetime) -> None:
    row = session.get(Cursor, stream_id)
    if row is None:
        session.add(Cursor(stream_id=stream_id, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
