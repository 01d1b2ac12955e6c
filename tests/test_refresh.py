"""The refresh at fixed ages, in the core: a fake connector, no HTTP, the tracker's clock pinned.

Which posts are due at which ages, every reading in the engagement history, the request
budget that keeps collection first, errors that end the refresh but not the run, deleted
posts, `refresh_ages` in the config, and what `collect` and `status --json` report.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from connectors.base import (
    TEXT,
    AccountStats,
    ConnectorError,
    Item,
    Known,
    Page,
    Refreshed,
    StreamKeys,
    StreamSpec,
)
from tests.conftest import register_connectors, write_config
from tracker import collect as collect_module
from tracker import refresh as refresh_module
from tracker.config import parse_settings
from tracker.store.db import open_store
from tracker.store.models import EngagementSnapshot, Mention

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def item(n: int, likes: int) -> Item:
    return Item(platform="mastodon", external_id=f"https://m.example/s/{n}", text="acme is great", lang="en",
                created_at=T0 + timedelta(minutes=n), likes=likes, raw={"id": str(n)})  # fmt: skip


class Fake:
    """Collection serves `pages`; refresh answers from `figures` (external id -> likes; None: gone)."""

    platform: ClassVar[str] = "fake"
    stream_keys: ClassVar[StreamKeys] = StreamKeys(selectors=("hashtag",), keys={"hashtag": TEXT, "query": TEXT})
    pages_: ClassVar[list[Page]] = []
    figures: ClassVar[dict[str, int | None]] = {}
    asked: ClassVar[list[list[str]]] = []
    fail: ClassVar[Exception | None] = None
    batch: ClassVar[int] = 2

    def __init__(self, spec: StreamSpec, http: Any) -> None:
        self.spec = spec

    async def pages(self, cursor: Any) -> AsyncIterator[Page]:
        for page in self.pages_:
            yield page

    async def account_stats(self) -> AccountStats | None:
        return None

    async def refresh(self, known: Sequence[Known]) -> AsyncIterator[Refreshed]:
        ids = [k.external_id for k in known]
        for start in range(0, len(ids), self.batch):
            chunk = ids[start : start + self.batch]
            self.asked.append(chunk)
            if self.fail is not None:
                raise self.fail
            found = [i for i in chunk if self.figures.get(i) is not None]
            n = {i: int(i.rsplit("/", 1)[1]) for i in found}
            yield Refreshed(items=[item(n[i], self.figures[i] or 0) for i in found],
                            deleted=[i for i in chunk if i in self.figures and self.figures[i] is None])  # fmt: skip


class Clock:
    now = T0


@pytest.fixture(autouse=True)
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    Fake.pages_, Fake.figures, Fake.asked, Fake.fail, Fake.batch = [], {}, [], None, 2
    register_connectors(monkeypatch, {"mastodon": Fake})
    monkeypatch.setattr(collect_module, "utcnow", lambda: Clock.now)
    monkeypatch.setattr(refresh_module, "utcnow", lambda: Clock.now)


def setup(tmp_path: Path, db_url: str, **stream: Any) -> Path:
    table = {"name": "a", "connector": "mastodon", "hashtag": "acme", "every": "15m", **stream}
    return write_config(tmp_path, db_url=db_url, streams=[table])


def collect_at(cli: Any, path: Path, moment: datetime) -> dict[str, Any]:
    Clock.now = moment
    result = cli("--config", path, "collect", "--json")
    assert result.code == 0, result.err
    (report,) = json.loads(result.out)
    return dict(report)


def readings(db_url: str) -> dict[str, list[tuple[datetime, int]]]:
    store = open_store(db_url)
    with store.read() as session:
        rows = session.execute(
            select(Mention.external_id, EngagementSnapshot.observed_at, EngagementSnapshot.engagement)
            .join(EngagementSnapshot, EngagementSnapshot.mention_id == Mention.id)
            .order_by(EngagementSnapshot.id)
        ).all()
    store.close()
    found: dict[str, list[tuple[datetime, int]]] = {}
    for external_id, at, engagement in rows:
        found.setdefault(external_id, []).append((at, engagement))
    return found


def test_posts_are_read_again_at_each_age_and_every_reading_is_recorded(
    tmp_path: Path, db_url: str, cli: Any
) -> None:
    path = setup(tmp_path, db_url)
    Fake.pages_ = [Page(items=[item(1, 1), item(2, 1)], final=True, complete=True, cursor={})]
    first = collect_at(cli, path, T0 + timedelta(minutes=10))
    assert first["refreshed"] == 0 and Fake.asked == []  # nothing is an hour old yet
    Fake.pages_ = [Page(final=True, complete=True, cursor={})]
    Fake.figures = {"https://m.example/s/1": 5, "https://m.example/s/2": 1}
    at_1h = collect_at(cli, path, T0 + timedelta(hours=1, minutes=2))
    assert at_1h["refreshed"] == 2 and Fake.asked == [["https://m.example/s/2", "https://m.example/s/1"]]
    again = collect_at(cli, path, T0 + timedelta(hours=2))
    assert again["refreshed"] == 0, "read at 1 h: not due again before 24 h"
    Fake.figures = {"https://m.example/s/1": 9, "https://m.example/s/2": 1}
    collect_at(cli, path, T0 + timedelta(hours=24, minutes=5))
    history = readings(db_url)
    assert [e for _, e in history["https://m.example/s/1"]] == [1, 5, 9]
    assert [e for _, e in history["https://m.example/s/2"]] == [1, 1, 1], "unchanged readings recorded too"


def test_a_deleted_post_is_kept_marked_and_counted_in_status(tmp_path: Path, db_url: str, cli: Any) -> None:
    path = setup(tmp_path, db_url)
    Fake.pages_ = [Page(items=[item(1, 1), item(2, 1)], final=True, complete=True, cursor={})]
    collect_at(cli, path, T0 + timedelta(minutes=10))
    Fake.pages_ = [Page(final=True, complete=True, cursor={})]
    Fake.figures = {"https://m.example/s/1": None, "https://m.example/s/2": 3}
    report = collect_at(cli, path, T0 + timedelta(hours=1, minutes=5))
    assert (report["refreshed"], report["deleted"]) == (1, 1)
    status = cli("--config", path, "status", "--json")
    (stream,) = [s for s in json.loads(status.out)["streams"] if s["name"] == "a"]
    assert stream["deleted"] == 1 and stream["items"] == 2  # kept for the record
    text = cli("--config", path, "status")
    assert "1 deleted on the platform" in text.out
    Fake.asked.clear()
    collect_at(cli, path, T0 + timedelta(hours=24, minutes=5))
    assert Fake.asked == [["https://m.example/s/2"]], "a deleted post is not asked for again"


def test_the_refresh_sends_no_more_requests_than_its_budget(tmp_path: Path, db_url: str, cli: Any) -> None:
    path = setup(tmp_path, db_url)
    many = [item(n, 1) for n in range(1, 41)]
    Fake.pages_ = [Page(items=many, final=True, complete=True, cursor={}, requests=1)]
    collect_at(cli, path, T0 + timedelta(hours=1))
    Fake.pages_ = [Page(final=True, complete=True, cursor={}, requests=1)]
    Fake.figures = {i.external_id: 2 for i in many}
    Fake.batch = 1
    report = collect_at(cli, path, T0 + timedelta(hours=25))
    assert (
        report["refreshed"] == refresh_module.MIN_REQUESTS and len(Fake.asked) == refresh_module.MIN_REQUESTS
    )
    rest = collect_at(cli, path, T0 + timedelta(hours=25, minutes=15))
    assert rest["refreshed"] == refresh_module.MIN_REQUESTS, "the next run goes on where this one stopped"


def test_a_failing_refresh_leaves_the_run_ok_and_says_why(tmp_path: Path, db_url: str, cli: Any) -> None:
    path = setup(tmp_path, db_url)
    Fake.pages_ = [Page(items=[item(1, 1)], final=True, complete=True, cursor={})]
    collect_at(cli, path, T0 + timedelta(minutes=10))
    Fake.fail = ConnectorError("HTTP 503 from m.example/api/v1/statuses (gave up after 3 tries)")
    Clock.now = T0 + timedelta(hours=1, minutes=5)
    result = cli("--config", path, "collect")
    assert result.code == 0
    assert "a: refresh: HTTP 503 from m.example/api/v1/statuses" in result.err
    Fake.fail = None
    Fake.figures = {"https://m.example/s/1": 4}
    assert collect_at(cli, path, T0 + timedelta(hours=1, minutes=20))["refreshed"] == 1, "still due"


def test_refresh_ages_can_be_set_or_turned_off(tmp_path: Path, db_url: str, cli: Any) -> None:
    path = setup(tmp_path, db_url, refresh_ages=[])
    Fake.pages_ = [Page(items=[item(1, 1)], final=True, complete=True, cursor={})]
    collect_at(cli, path, T0 + timedelta(minutes=10))
    Fake.figures = {"https://m.example/s/1": 4}
    assert collect_at(cli, path, T0 + timedelta(days=3))["refreshed"] == 0 and Fake.asked == []


def test_refresh_ages_in_the_config() -> None:
    def ages(value: Any) -> Any:
        table = {"name": "a", "connector": "hackernews", "query": "x", "every": "15m"}
        if value is not None:
            table["refresh_ages"] = value
        return parse_settings({"organisation": {"name": "o"}, "streams": [table]}, Path("/x/t.toml"))

    default = ages(None).streams[0].refresh_ages
    assert default == (timedelta(hours=1), timedelta(hours=24), timedelta(hours=48), timedelta(days=7))
    assert ages(["48h", "30m", "48h"]).streams[0].refresh_ages == (timedelta(minutes=30), timedelta(hours=48))
    for bad, words in ((["soon"], "expected a list of ages"), ("1h", "expected a list of ages"),
                       (["400d"], "more than a year")):  # fmt: skip
        with pytest.raises(Exception, match=words):
            ages(bad)


def test_the_scheduler_worker_refreshes_in_its_runs_too(tmp_path: Path, db_url: str, cli: Any) -> None:
    from tracker.config import load_settings
    from tracker.scheduler import Worker

    path = setup(tmp_path, db_url)
    Fake.pages_ = [Page(items=[item(1, 1)], final=True, complete=True, cursor={})]
    collect_at(cli, path, T0 + timedelta(minutes=10))
    Fake.pages_ = [Page(final=True, complete=True, cursor={})]
    Fake.figures = {"https://m.example/s/1": 6}
    Clock.now = T0 + timedelta(hours=1, minutes=5)
    settings = load_settings(path)
    store = open_store(db_url)

    async def one_job() -> None:
        worker = Worker(settings, store)
        try:
            await worker._collect_job(settings.streams[0])()
        finally:
            await worker.http.aclose()

    try:
        asyncio.run(one_job())
    finally:
        store.close()
    assert Fake.asked == [["https://m.example/s/1"]]
    assert [e for _, e in readings(db_url)["https://m.example/s/1"]] == [1, 6]


def test_a_spent_rate_limit_ends_the_refresh_instead_of_waiting(
    tmp_path: Path, db_url: str, cli: Any
) -> None:
    import asyncio as aio

    from connectors._http import HttpClient, _Origin
    from tracker.store.models import Stream

    path = setup(tmp_path, db_url)
    Fake.pages_ = [Page(items=[item(n, 1) for n in range(1, 7)], final=True, complete=True, cursor={})]
    collect_at(cli, path, T0 + timedelta(minutes=10))
    Fake.figures = {f"https://m.example/s/{n}": 3 for n in range(1, 7)}
    Clock.now = T0 + timedelta(hours=1, minutes=30)
    store = open_store(db_url)
    with store.read() as session:
        stream_id = session.scalars(select(Stream.id).where(Stream.name == "a")).one()

    async def go() -> refresh_module.RefreshReport:
        http = HttpClient.create()
        # Another stream's answer said the platform's budget is spent until a minute from now.
        http.origins["https://m.example:443"] = _Origin(aio.Semaphore(1), blocked_until=http.clock() + 60)
        try:
            return await refresh_module.refresh_stream(
                store=store, connector=Fake(StreamSpec(name="a", connector="mastodon"), http), stream="a",
                stream_id=stream_id, ages=(timedelta(hours=1),), http=http, seconds=30, max_requests=100,
            )  # fmt: skip
        finally:
            await http.aclose()

    try:
        report = aio.run(go())
    finally:
        store.close()
    assert report.due == 6 and report.refreshed == 2 and len(Fake.asked) == 1, "one batch, then it yields"


def test_what_the_connector_cannot_read_is_not_handed_back_until_the_next_age(
    tmp_path: Path, db_url: str, cli: Any
) -> None:
    path = setup(tmp_path, db_url)
    Fake.pages_ = [Page(items=[item(1, 1), item(2, 1)], final=True, complete=True, cursor={})]
    collect_at(cli, path, T0 + timedelta(minutes=10))
    Fake.pages_ = [Page(final=True, complete=True, cursor={})]
    Fake.figures = {"https://m.example/s/1": 4}  # s/2 is left out: neither read nor gone (an HN comment)
    assert collect_at(cli, path, T0 + timedelta(hours=1, minutes=5))["refreshed"] == 1
    Fake.asked.clear()
    collect_at(cli, path, T0 + timedelta(hours=2))
    assert Fake.asked == []
    collect_at(cli, path, T0 + timedelta(hours=24, minutes=5))
    assert Fake.asked == [["https://m.example/s/2", "https://m.example/s/1"]]
