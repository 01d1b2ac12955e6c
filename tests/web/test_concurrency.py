"""The server beside `tracker run` on one SQLite file: no "database is locked", no lost write."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import write_config
from tests.support import DEADLINE, local_server, rss_feed
from tests.web.conftest import client_for, csrf_of
from tests.web.support import World, build
from tracker.store.models import CollectionRun, Experiment, ExperimentNote, Stream
from tracker.web.app import create_app

pytestmark = pytest.mark.anyio

# Another process that takes the write lock again and again and holds it a while, as a
# long collection page or import batch does.
HOLDER = textwrap.dedent("""
    import sys, time
    from sqlalchemy import text
    from tracker.store.db import Store
    store = Store(sys.argv[1])
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        with store.write() as session:
            session.execute(text("UPDATE streams SET role = role"))
            time.sleep(0.25)
        time.sleep(0.02)
    store.close()
""")


@pytest.mark.slow
async def test_the_server_writes_beside_the_worker_and_a_lock_holder(tmp_path: Path) -> None:
    world = build(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    feed = rss_feed(40)
    with local_server(lambda path: (200, {"Content-Type": "application/rss+xml"}, feed)) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
        # The worker's own configuration: the same database, streams that only reach the local feed.
        (tmp_path / "worker").mkdir()
        config = write_config(tmp_path / "worker", db_url=world.settings.database_url, streams=[
            {"name": f"feed-{i}", "connector": "rss", "url": url, "every": "10s"} for i in range(3)
        ])  # fmt: skip
        tracker = [sys.executable, "-m", "tracker", "--config", str(config)]
        worker = subprocess.Popen([*tracker, "run"], stderr=subprocess.PIPE, text=True)
        holder: subprocess.Popen[str] | None = None
        try:
            await _until(lambda: _feed_runs(world) >= 1, "the worker's first collection")
            holder = subprocess.Popen([sys.executable, "-c", HOLDER, world.settings.database_url, "8"],
                                      stderr=subprocess.PIPE, text=True)  # fmt: skip
            before = _feed_runs(world)
            responses: list[httpx.Response] = []
            while not responses or _feed_runs(world) <= before:  # until the worker wrote meanwhile
                responses += await _busy_clients(world, round_=len(responses))
        finally:
            worker.send_signal(signal.SIGTERM)
            _, worker_err = worker.communicate(timeout=60)
            holder_err = holder.communicate(timeout=60)[1] if holder else ""
    assert holder is not None and holder.returncode == 0, holder_err
    assert worker.returncode == 0 and "locked" not in worker_err.lower(), worker_err
    for response in responses:
        assert response.status_code < 400, (response.request.url, response.status_code, response.text[:300])
        assert "locked" not in response.text.lower()
    registered = sum(1 for r in responses if r.request.url.path == "/api/v1/experiments")
    with world.store.read() as session:
        assert session.scalar(select(func.count()).select_from(Experiment)) == 5 + registered, "no write lost"
        assert session.scalar(select(func.count()).select_from(ExperimentNote)) == 1 + registered
    world.store.close()


def _feed_runs(world: World) -> int:
    """Finished collection runs of the worker's streams."""
    query = (
        select(func.count())
        .select_from(CollectionRun)
        .join(Stream, Stream.id == CollectionRun.stream_id)
        .where(CollectionRun.finished_at.is_not(None), Stream.name.like("feed-%"))
    )
    with world.store.read() as session:
        return int(session.scalar(query) or 0)


async def _until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"waited too long for {what}"
        await asyncio.sleep(0.1)


async def _busy_clients(world: World, round_: int) -> list[httpx.Response]:
    """Registrations, notes, measurements and page loads, all at once, for a few seconds."""
    app = create_app(world.settings, world.store, require_login=False)
    async with client_for(app) as client:
        token = csrf_of((await client.get("/experiments/new")).text)

        async def register(i: int) -> list[httpx.Response]:
            body = {"title": f"Trial {round_}-{i}", "hypothesis": "h", "practice": "shepherd", "metric": "mentions",
                    "streams": ["acme-news"], "start": "2026-01-05", "end": "2026-01-18"}  # fmt: skip
            created = await client.post("/api/v1/experiments", json=body)
            exp_id = created.json()["id"]
            note = await client.post(
                f"/experiments/{exp_id}/notes", data={"csrf_token": token, "text": f"n{i}"}
            )
            measured = await client.post(f"/api/v1/experiments/{exp_id}/measure")
            pages = [
                await client.get(p) for p in ("/", "/mentions?q=acme", "/sources", f"/experiments/{exp_id}")
            ]
            return [created, note, measured, *pages]

        batches = await asyncio.gather(*(register(i) for i in range(12)))
    return [r for batch in batches for r in batch]
