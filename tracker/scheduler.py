"""`tracker run`: the scheduler in the foreground (APScheduler 3, asyncio).

The schedule is built from the config at each start (APScheduler 3 job stores
cannot be shared between processes); what ran when is read from the database, so
a restarted worker runs what is due once (missed runs coalesce) and then keeps to
each stream's `every`; experiments are measured daily, the reflection is stored
weekly, and the digest job checks hourly whether the week's digest is due or has
recipients left to retry. Jobs have stable ids (`collect:{stream}`), never overlap
themselves (max_instances=1), and a failing job is logged and tried again at its
next time while the others go on. SIGINT/SIGTERM stop it cleanly: running jobs are
cancelled at their next await, which is never inside a write, and record how far
they got; the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from connectors._http import HttpClient
from tracker.collect import collect_stream, http_policy
from tracker.config import Settings, StreamConfig
from tracker.ingest import sync_streams
from tracker.store.db import Store
from tracker.store.models import CollectionRun, ExperimentResult, MaturitySnapshot, Stream
from tracker.timeutil import utcnow

log = logging.getLogger("tracker.scheduler")
HOUR, DAY, WEEK = timedelta(hours=1), timedelta(days=1), timedelta(days=7)


def _due(now: datetime, last: datetime | None, every: timedelta) -> datetime:
    """When a periodic job is next due, from when it last ran (recorded in the database)."""
    return now if last is None else max(now, last + every)


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: a stable id, how often, when first, and the coroutine to run."""

    id: str
    every: timedelta
    first_run: datetime
    run: Callable[[], Awaitable[None]]


class Worker:
    """Owns the scheduler, the shared HTTP client and the running job tasks."""

    def __init__(self, settings: Settings, store: Store, *, http: HttpClient | None = None) -> None:
        self.settings = settings
        self.store = store
        self.http = http or HttpClient.create(http_policy(settings))
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = asyncio.Event()

    def jobs(self, now: datetime) -> list[JobSpec]:
        """Every job of this configuration, each first due when the database says it is."""
        with self.store.write() as session:
            sync_streams(session=session, settings=self.settings, now=now)
            last = dict(
                session.execute(
                    select(Stream.name, func.max(CollectionRun.started_at))
                    .join(CollectionRun, CollectionRun.stream_id == Stream.id)
                    .group_by(Stream.name)
                ).all()
            )
        specs = []
        for conf in self.settings.streams:
            previous = last.get(conf.name)
            due = now if previous is None else max(now, previous + conf.every)
            specs.append(JobSpec(f"collect:{conf.name}", conf.every, due, self._collect_job(conf)))
        with self.store.read() as session:
            measured = session.scalar(select(func.max(ExperimentResult.measured_at)))
            snapshot = session.scalar(select(func.max(MaturitySnapshot.taken_at)))
        specs.append(JobSpec("measure", DAY, _due(now, measured, DAY), self._in_thread(self._measure)))
        specs.append(
            JobSpec("reflect:snapshot", WEEK, _due(now, snapshot, WEEK), self._in_thread(self._snapshot))
        )
        # Sentiment: retrain a language when enough new labels arrived; score new mentions by its model.
        specs.append(JobSpec("sentiment:labels", HOUR, now, self._in_thread(self._labels)))
        if self.settings.alerts:
            # Retries after backoff and firings held by quiet hours go out within a minute.
            specs.append(JobSpec("alerts:deliver", timedelta(minutes=1), now, self._in_thread(self._deliver)))
        if self.settings.digest is not None and self.settings.smtp is not None:
            from tracker.digest.job import first_hourly_run

            # Hourly on the minute of [digest] time: the send lands on time, and a failed
            # recipient is retried every hour (what was sent is in the database).
            specs.append(
                JobSpec("digest", HOUR, first_hourly_run(self.settings, now), self._in_thread(self._digest))
            )
        return specs

    def _in_thread(self, work: Callable[[], None]) -> Callable[[], Awaitable[None]]:
        """Analysis jobs are CPU and database work: run them off the event loop so collection goes on."""

        async def run() -> None:
            await asyncio.to_thread(work)

        return run

    def _measure(self) -> None:
        """Measure running and ended experiments (concluded ones keep their final result)."""
        from tracker.experiments import measure_open

        results = measure_open(self.store, self.settings)
        log.info("measure: %d experiments measured", len(results))

    def _labels(self) -> None:
        from tracker.labels import maintain

        for item in maintain(self.store, self.settings):
            log.info("sentiment: %s %s (version %s)", item["lang"], item["status"], item.get("version"))

    def _snapshot(self) -> None:
        from tracker.maturity import load_model
        from tracker.reflection import snapshot

        result = snapshot(self.store, self.settings, load_model(self.settings))
        log.info("reflect: stage %s (%s) stored", result["stage"]["number"], result["stage"]["name"])

    def _deliver(self) -> None:
        from tracker.alerts import deliver_due

        deliver_due(self.settings, self.store)

    def _digest(self) -> None:
        from tracker.digest.job import digest_job

        digest_job(self.settings, self.store, utcnow())

    def _collect_job(self, conf: StreamConfig) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            report = await collect_stream(self.settings, self.store, conf, self.http)
            line = (f"collect {conf.name}: {report.status} fetched={report.fetched} new={report.new} "
                    f"updated={report.updated} rejected={report.rejected}")  # fmt: skip
            line += f" refreshed={report.refreshed} deleted={report.deleted}"
            if report.error:
                log.warning("%s: %s", line, report.error)
            else:
                log.info("%s", line)
            self._after_collection(conf.name)

        return run

    def _after_collection(self, stream: str) -> None:
        """Evaluate the alerts watching `stream` off the event loop, as a task of its own: a slow
        or down webhook never holds up this stream's next run or any other job."""
        if not any(stream in a.streams for a in self.settings.alerts) or self.stopping.is_set():
            return
        from tracker.alerts import check

        async def alerts() -> None:
            try:
                await asyncio.to_thread(check, self.settings, self.store, streams=[stream])
            except Exception as exc:  # an alert failing must not stop collection
                log.error("alerts after %s failed: %s: %s", stream, type(exc).__name__, exc)

        task = asyncio.create_task(alerts())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _guarded(self, spec: JobSpec) -> Callable[[], Awaitable[None]]:
        """Run a job as a tracked task; log its failure instead of letting it stop anything."""

        async def job() -> None:
            if self.stopping.is_set():
                return
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                await spec.run()
            except asyncio.CancelledError:
                if not self.stopping.is_set():
                    raise
                # cancelled by the shutdown, after the job has unwound: a clean end, not an
                # error for APScheduler to log with a traceback
                log.debug("job %s stopped by the shutdown", spec.id)
            except Exception as exc:  # one failing job must not stop the others
                log.error(
                    "job %s failed: %s: %s (next try at its next time)", spec.id, type(exc).__name__, exc
                )
                log.debug("job %s traceback", spec.id, exc_info=True)
            finally:
                self.tasks.discard(task)

        return job

    async def run(self, *, until: asyncio.Event | None = None) -> None:
        """Schedule every job and run until stopped (a signal, or `until` being set)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        scheduler = AsyncIOScheduler(timezone=self.settings.organisation.zone)
        now = utcnow()
        for spec in self.jobs(now):
            scheduler.add_job(
                self._guarded(spec),
                trigger=IntervalTrigger(seconds=spec.every.total_seconds(), start_date=spec.first_run),
                id=spec.id,
                name=spec.id,
                next_run_time=spec.first_run,
                coalesce=True,
                max_instances=1,
                replace_existing=True,
                misfire_grace_time=None,
            )
        self._install_signals()
        scheduler.start()
        # The instant the schedule was built from: a stream never collected, or overdue, is due
        # then, the others at their last run + `every`; then every `every` (what a lag is measured against).
        log.info("worker started: %d jobs, scheduled from %s", len(scheduler.get_jobs()), now.isoformat())
        waiters = [asyncio.create_task(self.stopping.wait())]
        if until is not None:
            waiters.append(asyncio.create_task(until.wait()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        self.stopping.set()
        scheduler.shutdown(wait=False)
        await self._stop_tasks()
        await self.http.aclose()
        log.info("worker stopped")

    async def _stop_tasks(self) -> None:
        running = list(self.tasks)
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread (tests)
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s: stopping after the write in progress", sig.name)
        self.stopping.set()


def run_worker(settings: Settings, store: Store) -> None:
    """The blocking entry point of `tracker run`."""
    asyncio.run(Worker(settings, store).run())
