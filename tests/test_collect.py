"""`tracker collect` core: a fake connector, no HTTP. Stores pages, cursors, runs, coverage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from connectors.base import SECRET, TEXT, AccountStats, AuthRequired, Item, Page, StreamKeys, StreamSpec
from tests.conftest import register_connectors, write_config
from tracker.store.db import open_store
from tracker.store.models import AccountSnapshot, CollectionRun, Cursor, Mention, Stream

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def item(n: int, text: str = "acme is great", lang: str | None = "en", **kw: Any) -> Item:
    return Item(platform="mastodon", external_id=f"https://m.example/s/{n}", text=text, lang=lang,
                created_at=T0 - timedelta(minutes=n), likes=n, **kw)  # fmt: skip


class FakeConnector:
    """Serves the pages a test put in `script[stream name]`; records the cursors it was given."""

    platform: ClassVar[str] = "fake"
    # It stands in for mastodon and hackernews, so it declares the keys their tests write.
    stream_keys: ClassVar[StreamKeys] = StreamKeys(
        selectors=("query", "account"), keys={"query": TEXT, "account": TEXT, "token_env": SECRET}
    )
    script: ClassVar[dict[str, list[Any]]] = {}
    cursors: ClassVar[list[Any]] = []

    def __init__(self, spec: StreamSpec, http: Any) -> None:
        self.spec = spec

    async def pages(self, cursor: dict[str, Any] | None) -> AsyncIterator[Page]:
        FakeConnector.cursors.append((self.spec.name, cursor))
        for step in self.script.get(self.spec.name, []):
            if isinstance(step, Exception):
                raise step
            if isinstance(step, float):
                await asyncio.sleep(step)
                continue
            yield step

    async def account_stats(self) -> AccountStats | None:
        return AccountStats(account=f"@{self.spec.name}", followers=120, following=3, posts=44)


@pytest.fixture(autouse=True)
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeConnector.script, FakeConnector.cursors = {}, []
    found = {"mastodon": FakeConnector, "hackernews": FakeConnector}
    register_connectors(monkeypatch, found)


def config(tmp_path: Path, db_url: str, *streams: dict[str, Any]) -> Path:
    defaults = {"connector": "hackernews", "query": "acme", "every": "15m"}
    return write_config(tmp_path, db_url=db_url, streams=[{**defaults, **s} for s in streams])


def runs(db_url: str) -> list[CollectionRun]:
    store = open_store(db_url)
    with store.read() as session:
        rows = list(session.scalars(select(CollectionRun).order_by(CollectionRun.id)))
    store.close()
    return rows


def test_collect_stores_pages_and_the_final_cursor(tmp_path: Path, db_url: str, cli: Any) -> None:
    FakeConnector.script["a"] = [
        Page(items=[item(1), item(2)], requests=1),
        Page(items=[item(3)], final=True, complete=True, cursor={"newest": "x"}, requests=1),
    ]
    path = config(tmp_path, db_url, {"name": "a"})
    result = cli("--config", path, "collect", "--json")
    assert result.code == 0, result.err
    (report,) = json.loads(result.out)
    assert (report["stream"], report["status"], report["fetched"], report["new"], report["rejected"]) == (
        "a", "ok", 3, 3, 0,
    )  # fmt: skip
    store = open_store(db_url)
    with store.read() as session:
        assert session.scalars(select(Cursor.value)).one() == {"newest": "x"}
        mentions = session.scalars(select(Mention)).all()
        assert {m.external_id for m in mentions} == {f"https://m.example/s/{n}" for n in (1, 2, 3)}
        assert all(m.sentiment is not None for m in mentions)
    store.close()
    (run,) = runs(db_url)
    assert run.status == "ok" and run.finished_at is not None
    assert (run.fetched, run.new, run.rejected) == (3, 3, 0)
    assert run.covered_from is None and run.covered_until == run.started_at, "first complete run covers all"
    FakeConnector.script["a"] = [Page(items=[item(1)], final=True, complete=True, cursor={"newest": "y"})]
    again = cli("--config", path, "collect")
    assert again.code == 0
    assert FakeConnector.cursors[-1] == ("a", {"newest": "x"}), "the stored cursor is handed back"
    second = runs(db_url)[-1]
    assert second.covered_from == run.covered_until, "a complete run covers the gap since the last one"


def test_a_run_with_unreadable_items_keeps_its_cursor(tmp_path: Path, db_url: str, cli: Any) -> None:
    FakeConnector.script["a"] = [Page(items=[item(1)], final=True, complete=True, cursor={"newest": "old"})]
    path = config(tmp_path, db_url, {"name": "a"})
    cli("--config", path, "collect")
    FakeConnector.script["a"] = [
        Page(items=[item(2)], rejected=["item 2: created_at: missing"]),
        Page(items=[item(3)], final=True, complete=True, cursor={"newest": "new"}),
    ]
    result = cli("--config", path, "collect", "--json")
    (report,) = json.loads(result.out)
    assert result.code == 0 and report["rejected"] == 1 and report["new"] == 2
    store = open_store(db_url)
    with store.read() as session:
        assert session.scalars(select(Cursor.value)).one() == {"newest": "old"}, "the next run reads it again"
    store.close()


def test_a_run_that_dies_keeps_its_pages_but_not_a_new_cursor(tmp_path: Path, db_url: str, cli: Any) -> None:
    FakeConnector.script["a"] = [Page(items=[item(1)], final=True, complete=True, cursor={"newest": "old"})]
    path = config(tmp_path, db_url, {"name": "a"})
    assert cli("--config", path, "collect").code == 0
    FakeConnector.script["a"] = [Page(items=[item(5), item(6)]), AuthRequired("HTTP 401: needs a token")]
    result = cli("--config", path, "collect")
    assert result.code == 1
    assert "a: partial: HTTP 401: needs a token" in result.err
    store = open_store(db_url)
    with store.read() as session:
        assert session.scalars(select(Cursor.value)).one() == {"newest": "old"}
        assert len(session.scalars(select(Mention)).all()) == 3
    store.close()
    last = runs(db_url)[-1]
    assert last.status == "partial" and last.error == "HTTP 401: needs a token"
    assert last.covered_from == item(6).created_at, "it covers only from its oldest item on"


def test_one_failing_stream_does_not_stop_the_others(tmp_path: Path, db_url: str, cli: Any) -> None:
    FakeConnector.script["good"] = [Page(items=[item(1)], final=True, complete=True)]
    FakeConnector.script["bad"] = [AuthRequired("bluesky search needs identifier + app_password_env")]
    FakeConnector.script["buggy"] = [ZeroDivisionError("oops")]
    path = config(tmp_path, db_url, {"name": "good"}, {"name": "bad"}, {"name": "buggy"})
    result = cli("--config", path, "collect")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].split() == ["stream", "fetched", "new", "updated", "rejected", "status"]
    assert lines[1].split() == ["good", "1", "1", "0", "0", "ok"]
    assert lines[2].split()[-1] == "failed" and lines[3].split()[-1] == "failed"
    assert "bad: failed: bluesky search needs identifier + app_password_env" in result.err
    assert "unexpected ZeroDivisionError in the hackernews connector" in result.err
    assert "Traceback" not in result.err
    assert [r.status for r in runs(db_url)] == ["ok", "failed", "failed"]


def test_only_named_streams_and_unknown_names(tmp_path: Path, db_url: str, cli: Any) -> None:
    FakeConnector.script["a"] = [Page(final=True, complete=True)]
    path = config(tmp_path, db_url, {"name": "a"}, {"name": "b"})
    assert cli("--config", path, "collect", "--stream", "a").code == 0
    assert [name for name, _ in FakeConnector.cursors] == ["a"]
    bad = cli("--config", path, "collect", "--stream", "zzz")
    assert bad.code == 2 and "unknown stream 'zzz'" in bad.err


def test_local_filters(tmp_path: Path, db_url: str, cli: Any) -> None:
    FakeConnector.script["a"] = [Page(items=[
        item(1, "Acme Cloud is great"), item(2, "acmecorp is unrelated"), item(3, "ACME corp is hiring now"),
        item(4, "Acme ist toll, wirklich großartig", lang=None), item(5, "acme's new cloud", lang="en-GB"),
    ], final=True, complete=True)]  # fmt: skip
    path = config(tmp_path, db_url, {"name": "a", "include": ["acme", '"acme cloud"'],
                                     "exclude": ["acme hiring"], "languages": ["en"]})  # fmt: skip
    result = cli("--config", path, "collect", "--json")
    assert json.loads(result.out)[0]["filtered"] == 3
    store = open_store(db_url)
    with store.read() as session:
        kept = {m.external_id.rsplit("/", 1)[1] for m in session.scalars(select(Mention))}
    store.close()
    assert kept == {"1", "5"}


def test_missing_secret_fails_the_stream_naming_the_variable(tmp_path: Path, db_url: str, cli: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("MASTO_TOKEN", raising=False)
    path = config(tmp_path, db_url, {"name": "a", "connector": "mastodon", "query": "acme",
                                     "token_env": "MASTO_TOKEN"})  # fmt: skip
    result = cli("--config", path, "collect")
    assert result.code == 1
    assert "streams[0].token_env: environment variable MASTO_TOKEN is not set" in result.err


def test_owned_streams_record_follower_counts(tmp_path: Path, db_url: str, cli: Any) -> None:
    FakeConnector.script["own"] = [Page(items=[item(1, kind="own")], final=True, complete=True)]
    path = config(tmp_path, db_url, {"name": "own", "connector": "mastodon", "account": "acme",
                                     "role": "owned", "query": None})  # fmt: skip
    text = path.read_text().replace('query = "None"\n', "")
    path.write_text(text)
    assert cli("--config", path, "collect").code == 0
    store = open_store(db_url)
    with store.read() as session:
        snap = session.scalars(select(AccountSnapshot)).one()
        assert (snap.account, snap.followers) == ("@own", 120)
        assert session.scalars(select(Stream.role)).one() == "owned"
        assert session.scalars(select(Mention.kind)).one() == "own"
    store.close()


def test_run_deadline_makes_a_partial_run(tmp_path: Path, db_url: str, cli: Any) -> None:
    FakeConnector.script["slow"] = [
        Page(items=[item(1)]),
        5.0,
        Page(items=[item(2)], final=True, complete=True),
    ]
    path = config(tmp_path, db_url, {"name": "slow", "run_timeout": "1s"})
    result = cli("--config", path, "collect")
    assert result.code == 1 and "stopped at the run deadline" in result.err
    (run,) = runs(db_url)
    assert run.status == "partial" and run.new == 1


def test_no_streams_configured_is_bad_usage(tmp_path: Path, db_url: str, cli: Any) -> None:
    path = config(tmp_path, db_url)
    result = cli("--config", path, "collect")
    assert result.code == 2 and "no streams are configured" in result.err


def test_status_reports_runs_errors_coverage_and_followers(tmp_path: Path, db_url: str, cli: Any) -> None:
    FakeConnector.script["own"] = [Page(items=[item(1, kind="own")], final=True, complete=True, cursor={})]
    FakeConnector.script["bad"] = [AuthRequired("HTTP 401 from h/api: needs a token: set token_env")]
    path = config(tmp_path, db_url, {"name": "own", "role": "owned", "every": "1h"}, {"name": "bad"})
    cli("--config", path, "collect")
    importer = tmp_path / "old.jsonl"
    importer.write_text(json.dumps({"platform": "rss", "external_id": "x", "text": "t",
                                    "created_at": "2026-01-01T00:00:00Z", "stream": "archive"}) + "\n")  # fmt: skip
    cli("--config", path, "mentions", "import", "--create-streams", importer)
    result = cli("--config", path, "status", "--json")
    assert result.code == 0, result.err
    streams = {s["name"]: s for s in json.loads(result.out)["streams"]}
    assert list(streams) == ["own", "bad", "archive"]
    own = streams["own"]
    assert own["last_run"]["status"] == "ok" and own["items"] == 1 and own["every"] == "1h"
    assert own["followers"]["count"] == 120
    assert own["covered_until"] == own["last_run"]["started_at"]
    assert own["next_run"] > own["last_run"]["started_at"]
    assert own["last_run"]["worker"].endswith(f":{__import__('os').getpid()}")
    bad = streams["bad"]
    assert bad["last_run"]["status"] == "failed" and "set token_env" in bad["last_error"]["error"]
    assert streams["archive"]["source"] == "import" and streams["archive"]["items"] == 1
    text = cli("--config", path, "status")
    assert "own (hackernews, owned): 1 items\n  last run ok " in text.out
    assert "(just now), 1 new" in text.out and "Z" not in text.out.replace("CEST", "").replace("CET", "")
    assert "last error" in text.out and "followers of @own: 120" in text.out


def test_a_run_left_running_by_a_killed_process_is_closed_on_the_next_run(tmp_path: Path, db_url: str,
                                                                           cli: Any) -> None:  # fmt: skip
    FakeConnector.script["a"] = [Page(final=True, complete=True)]
    path = config(tmp_path, db_url, {"name": "a"})
    cli("--config", path, "collect")
    store = open_store(db_url)
    with store.write() as session:
        stream_id = session.scalars(select(Stream.id)).one()
        session.add(CollectionRun(stream_id=stream_id, started_at=T0, status="running"))
    store.close()
    cli("--config", path, "collect")
    statuses = [(r.status, r.error) for r in runs(db_url)]
    assert statuses[1] == ("failed", "interrupted: the process stopped during the run")
    assert statuses[2][0] == "ok"


def test_a_stream_held_by_another_worker_is_skipped(tmp_path: Path, db_url: str, cli: Any) -> None:
    from tracker import leases

    FakeConnector.script["a"] = [Page(final=True, complete=True)]
    path = config(tmp_path, db_url, {"name": "a"})
    store = open_store(db_url)
    assert leases.acquire(store, "collect:a", timedelta(minutes=5), holder="elsewhere:42")
    store.close()
    result = cli("--config", path, "collect")
    assert result.code == 0
    assert result.out.splitlines()[1].split()[-1] == "skipped"
    assert "being collected by elsewhere:42" in result.err
