"""`tracker run`: jobs built from config, due times from the database, clean stops."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.base import AuthRequired, Page
from tests.conftest import write_config
from tests.support import file_contains, running, wait_until
from tests.test_collect import FakeConnector, fake_registry, item  # noqa: F401  (fixture)
from tracker.config import load_settings
from tracker.scheduler import Worker
from tracker.store.db import open_store
from tracker.store.models import CollectionRun, Stream
from tracker.timeutil import utcnow


def settings_for(tmp_path: Path, *streams: dict[str, Any]) -> Any:
    defaults = {"connector": "hackernews", "query": "acme", "every": "15m"}
    path = write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 't.db'}",
                        streams=[{**defaults, **s} for s in streams])  # fmt: skip
    return load_settings(path)


def test_due_times_come_from_the_database(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"name": "fresh"}, {"name": "recent"}, {"name": "overdue"})
    store = open_store(settings.database_url)
    now = utcnow()
    worker = Worker(settings, store)
    worker.jobs(now)  # creates the stream rows
    with store.write() as session:
        ids = dict(session.execute(select(Stream.name, Stream.id)).all())
        session.add(
            CollectionRun(stream_id=ids["recent"], started_at=now - timedelta(minutes=5), status="ok")
        )
        session.add(CollectionRun(stream_id=ids["overdue"], started_at=now - timedelta(hours=7), status="ok"))
    jobs = {j.id: j for j in worker.jobs(now)}
    assert set(jobs) == {"collect:fresh", "collect:recent", "collect:overdue", "measure", "reflect:snapshot",
                         "sentiment:labels"}
    assert jobs["sentiment:labels"].every == timedelta(hours=1), "retrains when enough new labels arrived"
    assert jobs["measure"].first_run == now and jobs["measure"].every == timedelta(days=1)
    assert jobs["reflect:snapshot"].every == timedelta(days=7)
    assert jobs["collect:fresh"].first_run == now, "never collected: due now"
    assert jobs["collect:recent"].first_run == now + timedelta(minutes=10)
    assert jobs["collect:overdue"].first_run == now, "missed runs coalesce into one run now"
    asyncio.run(worker.http.aclose())
    store.close()


def test_periodic_jobs_are_due_from_their_last_record(tmp_path: Path) -> None:
    from tracker.store.models import Experiment, ExperimentResult, MaturitySnapshot

    settings = settings_for(tmp_path, {"name": "s"})
    store = open_store(settings.database_url)
    now = utcnow()
    with store.write() as session:
        exp = Experiment(title="t", hypothesis="h", practice="shepherd", metric="mentions", start=now.date(),
                         end=now.date(), created_at=now, updated_at=now)  # fmt: skip
        session.add(exp)
        session.flush()
        session.add(ExperimentResult(experiment_id=exp.id, measured_at=now - timedelta(hours=3), method="pre_post",
                                     verdict="running", payload={}))  # fmt: skip
        session.add(MaturitySnapshot(as_of=now.date(), taken_at=now - timedelta(days=2), stage_number=1,
                                     stage_key="dormant", payload={}))  # fmt: skip
    worker = Worker(settings, store)
    jobs = {j.id: j for j in worker.jobs(now)}
    assert jobs["measure"].first_run == now + timedelta(hours=21)
    assert jobs["reflect:snapshot"].first_run == now + timedelta(days=5)
    assert "digest" not in jobs, "no [digest]/[smtp]: no digest job"
    asyncio.run(worker.http.aclose())
    store.close()


def test_worker_runs_due_jobs_once_and_a_failing_job_does_not_stop_the_others(tmp_path: Path) -> None:
    FakeConnector.script["good"] = [Page(items=[item(1)], final=True, complete=True, cursor={})]
    FakeConnector.script["bad"] = [AuthRequired("HTTP 401: needs a token")]
    FakeConnector.script["buggy"] = [RuntimeError("connector bug")]
    settings = settings_for(tmp_path, {"name": "good"}, {"name": "bad"}, {"name": "buggy"})
    store = open_store(settings.database_url)

    async def go() -> None:
        until = asyncio.Event()
        asyncio.get_running_loop().call_later(1.5, until.set)
        await Worker(settings, store).run(until=until)

    asyncio.run(go())
    with store.read() as session:
        runs = {name: status for name, status in session.execute(
            select(Stream.name, CollectionRun.status).join(CollectionRun, CollectionRun.stream_id == Stream.id))}  # fmt: skip
    store.close()
    assert runs == {"good": "ok", "bad": "failed", "buggy": "failed"}


def test_stopping_cancels_a_running_collection_cleanly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    FakeConnector.script["slow"] = [
        Page(items=[item(1)]),
        30.0,
        Page(items=[item(2)], final=True, complete=True),
    ]
    settings = settings_for(tmp_path, {"name": "slow"})
    store = open_store(settings.database_url)

    async def go() -> None:
        until = asyncio.Event()
        asyncio.get_running_loop().call_later(1.0, until.set)
        await Worker(settings, store).run(until=until)

    with caplog.at_level(logging.INFO):
        asyncio.run(go())  # the fake connector's 30 s wait is cancelled: the run below is partial, not ok
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "a shutdown is not an error: " + "; ".join(r.getMessage() for r in errors)
    with store.read() as session:
        run = session.scalars(select(CollectionRun)).one()
    store.close()
    assert (run.status, run.new, run.error) == ("partial", 1, "stopped: the worker was shut down")
    assert run.finished_at is not None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_tracker_run_logs_one_line_per_event_keeps_secrets_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    secret = "tok-very-secret-123456"
    port = closed_port()
    path = write_config(tmp_path, streams=[
        {"name": "masto", "connector": "mastodon", "hashtag": "acme", "every": "10s",
         "base_url": f"http://127.0.0.1:{port}", "token_env": "SCHED_TEST_TOKEN"},
    ], extra='[collection]\nconnect_timeout = "1s"\n[logging]\nfile = "tracker.log"\n')  # fmt: skip
    env = {**os.environ, "SCHED_TEST_TOKEN": secret}
    proc = subprocess.Popen([sys.executable, "-m", "tracker", "--config", str(path), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    log_file = tmp_path / "tracker.log"
    wait_until(file_contains(log_file, "collect masto: failed"), "the first collection", alive=running(proc))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "collect masto: failed" in err and "cannot connect" in err
    stamp = re.compile(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR|DEBUG) (tracker|apscheduler)"
    )
    for line in err.strip().splitlines():
        assert stamp.match(line), line
    assert "worker stopped" in err
    assert secret not in out + err + log_file.read_text()
    assert "Traceback" not in err
    store = open_store(f"sqlite:///{tmp_path / 'tracker.db'}")
    with store.read() as session:
        statuses = session.scalars(select(CollectionRun.status)).all()
        assert statuses and set(statuses) <= {"failed", "partial"}
        assert secret not in str(session.scalars(select(CollectionRun.error)).all())
    store.close()


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
