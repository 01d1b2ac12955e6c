"""`tracker mentions import` / `export` on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import write_config
from tracker.store.db import open_store
from tracker.store.models import EngagementSnapshot, Mention, MentionStream, Stream

# Streams these files name that the config does not are created on purpose.
IMPORT = ("mentions", "import", "--create-streams")
ROWS: list[dict[str, Any]] = [
    {"platform": "mastodon", "external_id": "https://m.example/users/a/statuses/1",
     "url": "https://m.example/@a/1", "author": "a@m.example", "text": "I love the new Acme release!",
     "lang": "en", "created_at": "2026-09-01T10:00:00+02:00", "kind": "mention", "likes": 3,
     "reposts": 1, "replies": 0, "quotes": None, "stream": "brand"},
    {"platform": "bluesky", "external_id": "at://did:plc:x/app.bsky.feed.post/3k", "author": "b.bsky.social",
     "text": "Acme ist leider kaputt", "lang": "de", "created_at": "2026-09-01T22:30:00Z",
     "likes": 0, "reposts": 0, "replies": 2, "quotes": 1, "streams": ["brand", "de-market"]},
    {"platform": "hackernews", "external_id": "4211", "url": "https://news.ycombinator.com/item?id=4211",
     "author": "pg", "text": "Acme is terrible, worst outage ever", "created_at": "2026-09-02T08:15:30.250-05:00",
     "likes": 12, "replies": 7, "stream": "brand"},
    {"platform": "reddit", "external_id": "t3_abc", "text": "<b>kept as given</b>, with \"quotes\", commas\nand a newline",
     "created_at": "2026-09-03T00:00:00Z", "likes": -4, "sentiment": 0.5, "sentiment_label": "positive",
     "kind": "own", "streams": ["owned"]},
]  # fmt: skip


def write_jsonl(path: Path, rows: list[Any], extra: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + extra, encoding="utf-8")
    return path


def export_jsonl(cli: Any, config: Path, *args: str) -> list[dict[str, Any]]:
    result = cli("--config", config, "mentions", "export", *args)
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    streams = [{"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"}]
    return write_config(tmp_path, db_url=db_url, streams=streams)


def test_import_then_export_jsonl(tmp_path: Path, config: Path, cli: Any) -> None:
    result = cli("--config", config, *IMPORT, write_jsonl(tmp_path / "in.jsonl", ROWS))
    assert result.code == 0, result.err
    assert "4 lines: 4 new, 0 updated, 0 unchanged, 0 rejected" in result.out
    out = {m["external_id"]: m for m in export_jsonl(cli, config)}
    assert set(out) == {r["external_id"] for r in ROWS}
    first = out["https://m.example/users/a/statuses/1"]
    assert first["created_at"] == "2026-09-01T08:00:00Z"
    assert first["engagement"] == 4 and first["quotes"] is None
    assert first["sentiment_label"] == "positive" and first["sentiment"] > 0.5
    assert first["streams"] == ["brand"]
    german = out["at://did:plc:x/app.bsky.feed.post/3k"]
    assert german["sentiment"] is None and german["sentiment_label"] is None, "only English is scored"
    assert german["streams"] == ["brand", "de-market"]
    hn = out["4211"]
    assert hn["created_at"] == "2026-09-02T13:15:30.250000Z"
    assert hn["lang"] == "en", "language detected when the line has none"
    assert hn["sentiment"] < -0.05 and hn["reposts"] is None
    own = out["t3_abc"]
    assert own["text"] == ROWS[3]["text"], "text is stored exactly as given"
    assert own["sentiment"] == 0.5 and own["kind"] == "own" and own["likes"] == -4
    assert own["streams"] == ["owned"]


def test_export_has_exactly_the_spec_fields(tmp_path: Path, config: Path, cli: Any) -> None:
    cli("--config", config, *IMPORT, write_jsonl(tmp_path / "in.jsonl", ROWS[:1]))
    (record,) = export_jsonl(cli, config)
    assert list(record) == ["platform", "external_id", "url", "author", "text", "lang", "created_at", "kind",
                            "likes", "reposts", "replies", "quotes", "engagement", "sentiment",
                            "sentiment_label", "streams"]  # fmt: skip


def test_csv_round_trip(tmp_path: Path, config: Path, cli: Any) -> None:
    cli("--config", config, *IMPORT, write_jsonl(tmp_path / "in.jsonl", ROWS))
    csv_file = tmp_path / "out.csv"
    assert cli("--config", config, "mentions", "export", "--format", "csv", "--out", csv_file).code == 0
    before = export_jsonl(cli, config)
    same = cli("--config", config, *IMPORT, csv_file)
    assert same.code == 0 and "0 new, 0 updated, 4 unchanged" in same.out, "CSV reads back exactly as stored"
    other = tmp_path / "other"
    other.mkdir()
    copy = write_config(other, db_url=f"sqlite:///{other / 'copy.db'}")
    result = cli("--config", copy, *IMPORT, csv_file)
    assert result.code == 0, result.err
    assert export_jsonl(cli, copy) == before


def test_reimport_is_idempotent_and_records_engagement_history(tmp_path: Path, config: Path, cli: Any,
                                                               db_url: str) -> None:  # fmt: skip
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    cli("--config", config, *IMPORT, source)
    again = cli("--config", config, *IMPORT, source)
    assert again.code == 0 and "0 new, 0 updated, 4 unchanged" in again.out
    grown = dict(ROWS[0], likes=10, replies=None)
    result = cli("--config", config, *IMPORT, write_jsonl(tmp_path / "b.jsonl", [grown]))
    assert "0 new, 1 updated" in result.out
    store = open_store(db_url)
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(Mention)) == 4
        mention = session.scalars(select(Mention).where(Mention.external_id == ROWS[0]["external_id"])).one()
        assert (mention.likes, mention.reposts, mention.replies) == (10, 1, 0), (
            "a missing figure keeps its value"
        )
        assert mention.engagement == 11
        history = session.scalars(select(EngagementSnapshot.likes).where(
            EngagementSnapshot.mention_id == mention.id).order_by(EngagementSnapshot.id)).all()  # fmt: skip
        assert history == [3, 10]
        assert session.scalar(select(func.count()).select_from(MentionStream)) == 5
    store.close()


def test_bad_lines_are_rejected_by_number_and_good_lines_kept(tmp_path: Path, config: Path, cli: Any) -> None:
    good = ROWS[0]
    lines = [
        json.dumps(good),
        json.dumps({k: v for k, v in ROWS[2].items() if k != "created_at"}),
        json.dumps(dict(ROWS[2], external_id="x2", created_at="yesterday")),
        "{broken",
        json.dumps(dict(ROWS[2], external_id="x3", likes="many")),
        json.dumps(dict(ROWS[2], external_id="x4", replies=-1)),
        "",
        json.dumps([1, 2]),
        json.dumps(dict(ROWS[2], external_id="x5", created_at="2026-09-01T10:00:00")),
        json.dumps(dict(ROWS[2], external_id="x6", sentiment=2)),
        json.dumps(dict(ROWS[2], external_id="x7", url="javascript:alert(1)")),
        json.dumps(dict(ROWS[2], external_id="x8", text="ok")),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("--config", config, *IMPORT, path)
    assert result.code == 1
    assert "2 new" in result.out and "9 rejected" in result.out
    err = result.err
    for expected in ("line 2: created_at: required", "line 3: created_at: not an ISO 8601",
                     "line 4: not valid JSON", "line 5: likes: expected a whole number",
                     "line 6: replies: -1 is out of range", "line 8: expected a JSON object",
                     "line 9: created_at: not an ISO 8601 timestamp with a UTC offset like 2026-09-01T10:00:00Z, got",
                     "line 10: sentiment: expected a number from -1 to 1", "line 11: url: must start with http"):  # fmt: skip
        assert expected in err, (expected, err)
    assert "Traceback" not in err
    stored = {m["external_id"] for m in export_jsonl(cli, config)}
    assert stored == {good["external_id"], "x8"}


def test_import_json_report(tmp_path: Path, config: Path, cli: Any) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", ROWS[:2], extra="{oops\n")
    result = cli("--config", config, *IMPORT, path, "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["new"] == 2 and report["rejected"] == 1 and report["errors"][0]["line"] == 3


def test_streams_from_file_and_option(tmp_path: Path, config: Path, cli: Any, db_url: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", ROWS)
    assert cli("--config", config, *IMPORT, path, "--stream", "campaign-x").code == 0
    store = open_store(db_url)
    with store.read() as session:
        streams = {s.name: s.source for s in session.scalars(select(Stream))}
    store.close()
    assert streams == {"brand": "config", "de-market": "import", "owned": "import", "campaign-x": "import"}
    only = export_jsonl(cli, config, "--stream", "de-market")
    assert [m["external_id"] for m in only] == [ROWS[1]["external_id"]]
    assert len(export_jsonl(cli, config, "--stream", "campaign-x")) == 4


def test_export_days_are_in_the_organisation_time_zone(tmp_path: Path, config: Path, cli: Any) -> None:
    cli("--config", config, *IMPORT, write_jsonl(tmp_path / "in.jsonl", ROWS))
    # 2026-09-01T22:30Z is 2026-09-02 00:30 in Vienna (UTC+2 in September).
    on_second = export_jsonl(cli, config, "--since", "2026-09-02", "--until", "2026-09-02")
    assert {m["external_id"] for m in on_second} == {ROWS[1]["external_id"], "4211"}
    on_first = export_jsonl(cli, config, "--until", "2026-09-01")
    assert [m["external_id"] for m in on_first] == [ROWS[0]["external_id"]]


def test_csv_import_with_header_and_bad_row(tmp_path: Path, config: Path, cli: Any) -> None:
    path = tmp_path / "in.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["platform", "external_id", "text", "created_at", "likes", "streams"])
    writer.writerow(
        ["rss", "https://blog.example/1", 'Great, "really" great', "2026-09-01T10:00:00Z", "5", "a;b"]
    )
    writer.writerow(["rss", "https://blog.example/2", "bad", "2026-09-01T10:00:00Z", "five", ""])
    writer.writerow(["rss", "https://blog.example/3", "multi\nline", "2026-09-01T11:00:00Z", "", "c"])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = cli("--config", config, *IMPORT, path)
    assert result.code == 1
    assert "line 3: likes: expected a whole number" in result.err
    out = {m["external_id"]: m for m in export_jsonl(cli, config)}
    assert out["https://blog.example/1"]["streams"] == ["a", "b"]
    assert out["https://blog.example/1"]["likes"] == 5
    assert (
        out["https://blog.example/3"]["text"] == "multi\nline"
        and out["https://blog.example/3"]["likes"] is None
    )


def test_csv_without_required_columns_is_bad_input(tmp_path: Path, config: Path, cli: Any) -> None:
    path = tmp_path / "in.csv"
    path.write_text("platform,text\nrss,hello\n", encoding="utf-8")
    result = cli("--config", config, *IMPORT, path)
    assert result.code == 2 and "lacks required columns: external_id, created_at" in result.err


def test_usage_errors_exit_2(tmp_path: Path, config: Path, cli: Any) -> None:
    assert cli("--config", config, *IMPORT, tmp_path / "missing.jsonl").code == 2
    odd = tmp_path / "data.xml"
    odd.write_text("<x/>")
    result = cli("--config", config, *IMPORT, odd)
    assert result.code == 2 and "--format" in result.err
    assert cli("--config", config, "mentions", "export", "--format", "xml").code == 2
    assert cli("--config", config, "mentions", "export", "--since", "last week").code == 2
    assert cli("--config", config, "mentions", "export", "--stream", "nope").code == 2


def test_invalid_utf8_line_is_rejected_alone(tmp_path: Path, config: Path, cli: Any) -> None:
    path = tmp_path / "in.jsonl"
    good = json.dumps(ROWS[0]).encode()
    path.write_bytes(
        good + b"\n" + b'{"platform": "rss", "text": "\xff\xfe"}\n' + json.dumps(ROWS[2]).encode() + b"\n"
    )
    result = cli("--config", config, *IMPORT, path)
    assert result.code == 1 and "line 2: not valid UTF-8" in result.err
    assert len(export_jsonl(cli, config)) == 2


def test_lone_surrogate_and_nul_are_rejected(tmp_path: Path, config: Path, cli: Any) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps(dict(ROWS[2], external_id="s1", text="bad \ud800 text")) + "\n"
        + json.dumps(dict(ROWS[2], external_id="s2", text="nul \u0000 text")) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    result = cli("--config", config, *IMPORT, path)
    assert result.code == 1
    assert (
        "line 1: text: contains invalid Unicode" in result.err
        and "line 2: text: contains a NUL" in result.err
    )


def _batch_lines(count: int) -> list[dict[str, Any]]:
    return [{"platform": "mastodon", "external_id": f"m{i}", "text": f"post {i}", "lang": "en",
             "sentiment": 0.1, "created_at": "2026-09-01T10:00:00Z", "stream": "brand"}
            for i in range(count)]  # fmt: skip


def test_batches_are_stored_in_order_on_the_store_thread_and_the_interval_restored(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import stores on a thread of its own while it reads on: every batch, in file order,
    and the interpreter's switch interval is given back afterwards."""
    import sys
    import threading

    from tracker import mentions
    from tracker.config import load_settings

    seen: list[tuple[str, str]] = []  # (thread name, first external id) of each stored batch
    store_batch = mentions._store_batch

    def spy(session: Any, settings: Any, batch: Any, *rest: Any) -> Any:
        seen.append((threading.current_thread().name, batch[0].external_id))
        return store_batch(session, settings, batch, *rest)

    monkeypatch.setattr(mentions, "_store_batch", spy)
    before = sys.getswitchinterval()
    settings = load_settings(config)
    store = open_store(settings.database_url)
    try:
        path = write_jsonl(tmp_path / "in.jsonl", _batch_lines(2 * mentions.BATCH + 7))
        report = mentions.import_file(store=store, settings=settings, path=path, fmt="jsonl")
        with store.read() as session:
            stored = session.scalar(select(func.count()).select_from(Mention))
    finally:
        store.close()
    assert sys.getswitchinterval() == before
    assert [first for _, first in seen] == ["m0", f"m{mentions.BATCH}", f"m{2 * mentions.BATCH}"]
    assert all(name.startswith("tracker-store") for name, _ in seen)
    assert report.counts.new == stored == 2 * mentions.BATCH + 7


def _mixed_lines(count: int, offset: int = 0) -> list[dict[str, Any]]:
    """Lines on several days and two streams, a fifth of them own posts, some scored."""
    return [{"platform": "mastodon", "external_id": f"m{i % 7000}", "text": f"post {i}", "lang": "en",
             "sentiment": round((i % 9) / 9 - 0.4, 3) if i % 4 else "",
             "created_at": f"2026-09-{1 + i % 20:02d}T{i % 24:02d}:30:00Z",
             "stream": "brand" if i % 3 else "other", "kind": "own" if i % 5 == 0 else "mention",
             "likes": (i + offset) % 11}
            for i in range(offset, offset + count)]  # fmt: skip


def _aggregates_differ(store: Any, settings: Any) -> list[Any]:
    from tracker import aggregates

    with store.read() as session:
        return aggregates.differences(session.connection(), settings.organisation.zone, aggregates.DEFAULT_AGE)


def test_a_grouped_import_writes_the_aggregates_its_batches_sum_to(tmp_path: Path, config: Path) -> None:
    """The daily aggregates' change of a transaction's batches is summed and written once before
    it commits: with mentions seen again in later batches (own posts with new figures, a mention
    found by the other stream), the aggregates equal the ones built from the mentions."""
    from tracker import mentions
    from tracker.config import load_settings

    settings = load_settings(config)
    store = open_store(settings.database_url, settings.organisation.timezone)  # aggregates in its zone
    try:
        lines = _mixed_lines(3 * mentions.BATCH) + _mixed_lines(mentions.BATCH + 500, offset=3)
        report = mentions.import_file(store=store, settings=settings, path=write_jsonl(tmp_path / "in.jsonl", lines),
                                      fmt="jsonl")  # fmt: skip
        assert report.counts.new == 7000 and report.counts.updated > 0
        assert _aggregates_differ(store, settings) == []
        with store.read() as session:
            assert session.scalar(select(func.count()).select_from(Mention)) == 7000
    finally:
        store.close()


def test_a_batch_that_fails_after_writing_leaves_nothing_in_the_aggregates(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that fails once it has written its rows is undone alone, and so is its part of the
    daily aggregates: they agree with the mentions of the batches before it."""
    import sqlite3

    from tracker import mentions
    from tracker.config import load_settings

    calls: list[int] = []
    store_batch = mentions._store_batch

    def failing_late(session: Any, settings: Any, batch: Any, *rest: Any) -> Any:
        counts = store_batch(session, settings, batch, *rest)
        calls.append(1)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return counts

    monkeypatch.setattr(mentions, "_store_batch", failing_late)
    settings = load_settings(config)
    store = open_store(settings.database_url, settings.organisation.timezone)  # aggregates in its zone
    try:
        lines = _mixed_lines(mentions.BATCH) + _mixed_lines(mentions.BATCH, offset=2000)
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            mentions.import_file(store=store, settings=settings, path=write_jsonl(tmp_path / "in.jsonl", lines),
                                 fmt="jsonl")  # fmt: skip
        with store.read() as session:
            stored = session.scalar(select(func.count()).select_from(Mention))
        assert stored == mentions.BATCH
        assert _aggregates_differ(store, settings) == []
    finally:
        store.close()


def test_an_error_while_storing_stops_the_import_at_the_next_batch(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that fails to store (here: the disk is full) ends the import with that error; the
    batches before it stay stored, none after it is stored, and the store thread is stopped."""
    import sqlite3
    import sys

    from tracker import mentions
    from tracker.config import load_settings

    stored_batches: list[str] = []
    store_batch = mentions._store_batch

    def failing(session: Any, settings: Any, batch: Any, *rest: Any) -> Any:
        if len(stored_batches) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        counts = store_batch(session, settings, batch, *rest)
        stored_batches.append(batch[0].external_id)
        return counts

    monkeypatch.setattr(mentions, "_store_batch", failing)
    before = sys.getswitchinterval()
    settings = load_settings(config)
    store = open_store(settings.database_url)
    try:
        path = write_jsonl(tmp_path / "in.jsonl", _batch_lines(4 * mentions.BATCH))
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            mentions.import_file(store=store, settings=settings, path=path, fmt="jsonl")
        with store.read() as session:
            ids = set(session.scalars(select(Mention.external_id)))
    finally:
        store.close()
    assert stored_batches == ["m0"]
    assert ids == {f"m{i}" for i in range(mentions.BATCH)}
    assert sys.getswitchinterval() == before


def _transactions(store: Any) -> list[int]:
    """Counts the store's commits into the list returned."""
    from sqlalchemy import event

    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    return commits


def test_consecutive_batches_share_a_transaction_committed_every_group(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backfill's rows fall on days all over the time indexes: an import commits every
    GROUP_ROWS lines (here two batches), not after each batch, and once more at the end."""
    from tracker import mentions
    from tracker.config import load_settings

    monkeypatch.setattr(mentions, "GROUP_ROWS", 2 * mentions.BATCH)
    monkeypatch.setattr(mentions, "GROUP_SECONDS", 10**9)  # no machine is that slow
    settings = load_settings(config)
    store = open_store(settings.database_url)
    try:
        commits = _transactions(store)
        path = write_jsonl(tmp_path / "in.jsonl", _batch_lines(4 * mentions.BATCH + 7))
        report = mentions.import_file(store=store, settings=settings, path=path, fmt="jsonl")
        imported = len(commits)
        with store.read() as session:
            stored = session.scalar(select(func.count()).select_from(Mention))
    finally:
        store.close()
    assert imported == 3  # batches 1-2, 3-4, and the last 7 lines
    assert report.counts.new == stored == 4 * mentions.BATCH + 7


def test_an_interrupted_import_keeps_the_whole_batches_of_its_open_transaction(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the lines of the third batch are read: the two batches stored before it,
    both in the transaction still open, are committed; nothing of the third is stored."""
    from tracker import mentions
    from tracker.config import load_settings

    parse = mentions.parse_record

    def interrupted(record: Any, stream: Any) -> Any:
        if record["external_id"] == f"m{2 * mentions.BATCH + 10}":
            raise KeyboardInterrupt
        return parse(record, stream)

    monkeypatch.setattr(mentions, "parse_record", interrupted)
    settings = load_settings(config)
    store = open_store(settings.database_url)
    try:
        path = write_jsonl(tmp_path / "in.jsonl", _batch_lines(4 * mentions.BATCH))
        with pytest.raises(KeyboardInterrupt):
            mentions.import_file(store=store, settings=settings, path=path, fmt="jsonl")
        with store.read() as session:
            ids = set(session.scalars(select(Mention.external_id)))
    finally:
        store.close()
    assert ids == {f"m{i}" for i in range(2 * mentions.BATCH)}


def test_an_interrupted_import_says_what_it_stored_and_how_to_finish(
    tmp_path: Path, config: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in `tracker mentions import`: exit 130, a line saying how many lines were read and
    stored, and that importing the file again stores the rest; doing so does."""
    from tracker import mentions

    parse = mentions.parse_record
    last = f"m{mentions.BATCH + 3}"

    def interrupted(record: Any, stream: Any) -> Any:
        if record.get("external_id") == last:
            raise KeyboardInterrupt
        return parse(record, stream)

    path = write_jsonl(tmp_path / "in.jsonl", [{"platform": "rss"}, *_batch_lines(2 * mentions.BATCH)])
    monkeypatch.setattr(mentions, "parse_record", interrupted)
    result = cli("--config", config, *IMPORT, path)
    assert result.code == 130
    assert (
        f"stopped after reading {mentions.BATCH + 5} lines: {mentions.BATCH} stored "
        f"({mentions.BATCH} new, 0 updated, 0 unchanged), 1 rejected; import the same file again"
        in result.err
    )
    assert "Traceback" not in result.err
    monkeypatch.setattr(mentions, "parse_record", parse)
    again = cli("--config", config, *IMPORT, path)
    assert again.code == 1, "its bad line is rejected again"
    assert f"{mentions.BATCH} new, 0 updated, {mentions.BATCH} unchanged, 1 rejected" in again.out


def test_a_transaction_the_database_undid_itself_is_not_counted_and_its_error_is_reported(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After some errors (a full disk, on SQLite) the database has rolled the whole transaction
    back: the import reports that error, not the failed commit after it, and counts nothing."""
    from tracker import mentions
    from tracker.config import load_settings

    store_batch = mentions._store_batch
    calls: list[int] = []

    def undone(session: Any, settings: Any, batch: Any, *rest: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            session.connection().exec_driver_sql("ROLLBACK")  # what the database did on its own
            raise RuntimeError("the disk is full")
        return store_batch(session, settings, batch, *rest)

    monkeypatch.setattr(mentions, "_store_batch", undone)
    settings = load_settings(config)
    store = open_store(settings.database_url)
    report = mentions.ImportReport()
    monkeypatch.setattr(mentions, "ImportReport", lambda: report)
    try:
        path = write_jsonl(tmp_path / "in.jsonl", _batch_lines(3 * mentions.BATCH))
        with pytest.raises(RuntimeError, match="the disk is full"):
            mentions.import_file(store=store, settings=settings, path=path, fmt="jsonl")
        with store.read() as session:
            stored = session.scalar(select(func.count()).select_from(Mention))
    finally:
        store.close()
    assert stored == 0 and report.counts.new == 0


def test_a_large_import_renews_postgresqls_statistics(
    tmp_path: Path, config: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL plans by statistics that autovacuum renews only some time after a bulk load,
    and visits the table in index-only scans until the new rows are vacuumed: an import of many
    new mentions vacuums and analyzes itself (here the bar is lowered to 5 mentions)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's statistics")
    from sqlalchemy import text

    from tracker import mentions
    from tracker.config import load_settings

    settings = load_settings(config)
    store = open_store(settings.database_url)

    def analyzed() -> Any:
        with store.read() as session:
            return session.execute(
                text("SELECT last_analyze, last_vacuum FROM pg_stat_user_tables WHERE relname = 'mentions'")
            ).one()

    try:
        monkeypatch.setattr(mentions, "ANALYZE_AFTER", 5)
        small = write_jsonl(tmp_path / "small.jsonl", _batch_lines(3))
        mentions.import_file(store=store, settings=settings, path=small, fmt="jsonl")
        assert analyzed() == (None, None), "below the bar: left to autovacuum"
        rows = [{**r, "external_id": f"n{i}"} for i, r in enumerate(_batch_lines(6))]
        mentions.import_file(store=store, settings=settings, path=write_jsonl(tmp_path / "big.jsonl", rows), fmt="jsonl")
        assert None not in analyzed(), "analyzed and vacuumed"
    finally:
        store.close()
