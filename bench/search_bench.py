"""Mention search on 1,000,000 mentions: the full-text index against today's LIKE scan.

    python bench/search_bench.py [--rows 1000000] [--repeat 15] [--keep DIR] [--ingest-only]
    TRACKER_BENCH_POSTGRES=postgresql+psycopg://user@host:port/db python bench/search_bench.py


Builds a SQLite database of prepared mentions (language and sentiment given, as an
import of scored mentions) through the ingest path, once with the full-text index
maintained and, as the reference for ingest speed, once into a database where the
index is not written. Texts are drawn from a Zipf-distributed vocabulary with a brand
name in a third of them, so terms have realistic frequencies.

Then times the first page of the web's mention search (count up to 10,000 and 25
mentions, newest first; exactly what /mentions and the API do) for a three-term
boolean query with a phrase, against the reference in the same run: the search as
it was before the query language, one LIKE substring scan of text and author.

Dense prefix queries (`acm*` matches a third of the mentions) are timed beside the plan
they had before in the same run: each row read along the time index checked against
FTS5 on its own, which expands the prefix again for every row. Times are wall-clock
medians; on a shared machine the CPU time of the same calls is printed too.

`--ingest-only` prints the ingest figures alone (with the index maintained, and the
reference without it, both in this run). When TRACKER_BENCH_POSTGRES names a PostgreSQL
server (a SQLAlchemy URL; the bench creates a database of its own there and drops it
after), the same mentions are ingested into it and the first page of the same query is
timed beside the same LIKE reference, on the same data (PostgreSQL's full text: a GIN
index on the tsvector of tracker/search_index.py), after an ANALYZE (as autovacuum does
soon after a bulk load). The CPU time printed for PostgreSQL is this process's only: the
server's work is in the wall time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import column, exists, func, literal, literal_column, make_url, select, table, text
from sqlalchemy.orm import defer
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.base import Item  # noqa: E402
from tests.conftest import _pg_database  # noqa: E402  (a database of its own on a server, dropped after)
from tracker import ingest, search_index  # noqa: E402
from tracker.config import load_settings  # noqa: E402
from tracker.ingest import sync_streams, upsert_items  # noqa: E402
from tracker.store.db import Store, open_store  # noqa: E402
from tracker.store.models import Mention  # noqa: E402
from tracker.web.queries import COUNT_CAP, MentionFilter, like_match, search_mentions  # noqa: E402

BATCH = 5000
QUERY = '"acme cloud" (outage OR broken) -hiring'
LIKE = "acme cloud"  # what the old search box could express: one substring
PLATFORMS = ("mastodon", "bluesky", "hackernews", "reddit", "rss")


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size * 2)}
    return sorted(words)[:size]


def items(rows: int, seed: int = 11) -> Iterator[list[Item]]:
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    cumulative, total = [], 0.0
    for rank in range(len(vocab)):
        total += 1 / (rank + 1)
        cumulative.append(total)
    extra = ["outage", "broken", "hiring", "great", "support", "update"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[Item] = []
    for i in range(rows):
        words = rng.choices(vocab, cum_weights=cumulative, k=10)
        if rng.random() < 0.33:
            words.insert(rng.randrange(len(words)), "acme")
        if rng.random() < 0.04:
            words[rng.randrange(len(words))] = "acme cloud"
        if rng.random() < 0.05:
            words.append(rng.choice(extra))
        platform = PLATFORMS[i % len(PLATFORMS)]
        batch.append(
            Item(
                platform=platform,
                external_id=f"{platform}:{i}",
                text=" ".join(words).capitalize() + ".",
                created_at=start + timedelta(seconds=i * 20),
                author=f"user{rng.randrange(50_000)}",
                lang="en",
                likes=rng.randrange(50),
                sentiment=round(rng.uniform(-1, 1), 4),
                streams=(f"stream-{i % 6}",),
            )
        )
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build(path: Path, rows: int, *, index: bool, url: str | None = None) -> tuple[Store, Any, float, float]:
    """A database of `rows` mentions (SQLite at `path`, or the database at `url`); returns the
    store, settings, and the ingest's wall and CPU seconds (CPU time says more on a shared
    machine; both exclude making the items)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    config = path.parent / "tracker.toml"
    config.write_text(
        f'[organisation]\nname = "Bench"\ntimezone = "UTC"\n\n[database]\nurl = "{url or f"sqlite:///{path}"}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    store = open_store(settings.database_url)
    keep = ingest.write_rows
    if not index:
        ingest.write_rows = lambda *a, **k: None  # type: ignore[assignment]
    spent = cpu = 0.0
    try:
        for batch in items(rows):
            began, began_cpu = time.perf_counter(), time.process_time()
            now = datetime.now(UTC)
            with store.write() as session:
                ids = sync_streams(session=session, settings=settings, now=now)
                names = {n for item in batch for n in item.streams}
                ingest.ensure_import_streams(session=session, names=names, known=ids, now=now)
                upsert_items(session=session, items=batch, stream_ids=ids, now=now)
            spent += time.perf_counter() - began
            cpu += time.process_time() - began_cpu
    finally:
        ingest.write_rows = keep
    return store, settings, spent, cpu


def like_first_page(session: Any, q: str) -> int:
    """The search before the query language: LIKE on text and author, capped count, one page."""
    query = select(Mention).where(like_match(session, q))
    capped = query.with_only_columns(Mention.id).limit(COUNT_CAP + 1).subquery()
    session.scalar(select(func.count()).select_from(capped))
    created: Any = Mention.created_at
    if session.get_bind().dialect.name == "sqlite":  # as the web's search: `+` keeps SQLite off the index
        created = UnaryExpression(Mention.created_at, operator=operators.custom_op("+"))
    page = query.order_by(created.desc(), Mention.id.desc()).options(defer(Mention.raw)).limit(26)
    return len(list(session.scalars(page)))


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    seconds, _, result = timed_cpu(fn, repeat)
    return seconds, result


def timed_cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of `repeat` calls (after one warming call), and the result."""
    fn()  # warm the page cache and the statement cache
    times, cpu, result = [], [], None
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return statistics.median(times), statistics.median(cpu), result


def per_row_member(self: Any, expression: str) -> Any:
    """The dense plan before: every row read checked against FTS5 by rowid (prefixes too)."""
    if not self.per_row:
        return search_index._Engine.member(self, expression)
    fts = table("mention_fts", column("rowid"))
    match = literal_column("mention_fts").op("MATCH")(literal(expression))
    return exists(select(literal(1)).select_from(fts).where(match, fts.c.rowid == Mention.id))


def prefix_figures(session: Any, settings: Any, q: str, repeat: int) -> tuple[Any, Any]:
    """(wall, cpu, page) of the first page of `q` now, and the same with the plan before."""
    now = timed_cpu(lambda: search_mentions(session, settings, MentionFilter(q=q)), repeat)
    kept = search_index._Fts5.member
    search_index._Fts5.member = per_row_member  # type: ignore[method-assign]
    try:
        before = timed_cpu(lambda: search_mentions(session, settings, MentionFilter(q=q)), 1)
    finally:
        search_index._Fts5.member = kept  # type: ignore[method-assign]
    return now, before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--ingest-only", action="store_true", help="only the ingest figures")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-search-"))
    for name in ("indexed", "plain"):
        for suffix in ("", "-wal", "-shm"):
            (work / name / f"t.db{suffix}").unlink(missing_ok=True)
    plain, _, plain_s, plain_cpu = build(work / "plain" / "t.db", args.rows, index=False)
    plain.close()
    store, settings, index_s, index_cpu = build(work / "indexed" / "t.db", args.rows, index=True)
    if args.ingest_only:
        store.close()
        print(f"{args.rows:,} mentions, files in {work}")
        ingest_lines(args.rows, (index_s, index_cpu), (plain_s, plain_cpu))
        return
    f = MentionFilter(q=QUERY)
    with store.read() as session:
        search_s, page = timed(lambda: search_mentions(session, settings, f), args.repeat)
        like_s, like_rows = timed(lambda: like_first_page(session, LIKE), args.repeat)
        terms = [
            (q, timed(lambda q=q: search_mentions(session, settings, MentionFilter(q=q)), 5)[0])
            for q in ("acme", "acme cloud", "#acme OR outage", "-acme outage")
        ]
        prefixes = [(q, *prefix_figures(session, settings, q, 5)) for q in ("acm*", "ac*", "acme cloud*")]
    store.close()
    rows = args.rows
    print(f"{rows:,} mentions, files in {work}")
    print(f"{'benchmark':<52} {'figure':>12} {'reference':>12} {'ratio':>7}")
    print(f"{'first page of ' + QUERY!r:<52} {search_s * 1000:>9.1f} ms {like_s * 1000:>9.1f} ms "
          f"{search_s / like_s:>6.2f}x")  # fmt: skip
    print(f"{'  matches (counted to 10,000) / shown':<52} {page.total:>12,} {len(page.mentions):>12}")
    print(f"{'  target: median <= 50 ms':<52} {'met' if search_s <= 0.05 else 'NOT met':>12}")
    print(f"{'  reference: LIKE %' + LIKE + '% (text or author)':<52} {'':>12} {like_rows - 1:>12} rows")
    ingest_lines(rows, (index_s, index_cpu), (plain_s, plain_cpu))
    for q, seconds in terms:
        print(f"{'first page of ' + repr(q):<52} {seconds * 1000:>9.1f} ms")
    print(f"{'dense prefixes, first page (ref: the plan before)':<52} {'figure':>12} {'reference':>12}")
    for q, (wall, cpu, page), (ref_wall, ref_cpu, ref_page) in prefixes:
        assert [m["id"] for m in page.mentions] == [m["id"] for m in ref_page.mentions], q
        print(f"{'  ' + repr(q) + f' ({page.total:,} counted)':<52} {wall * 1000:>9.1f} ms "
              f"{ref_wall * 1000:>9.1f} ms {ref_wall / wall:>6.1f}x")  # fmt: skip
        print(f"{'    CPU time':<52} {cpu * 1000:>9.1f} ms {ref_cpu * 1000:>9.1f} ms")
    server = os.environ.get("TRACKER_BENCH_POSTGRES")
    if server:
        postgres_figures(server, work, rows, args.repeat)


def ingest_lines(rows: int, index: tuple[float, float], plain: tuple[float, float]) -> None:
    """Rows per second with the index maintained, beside the same ingest without it (this run)."""
    (index_s, index_cpu), (plain_s, plain_cpu) = index, plain
    print(f"{'benchmark':<52} {'figure':>12} {'reference':>12} {'ratio':>7}")
    label = "ingest with the index maintained, rows/s (ref: none)"
    print(f"{label:<52} {rows / index_s:>12,.0f} {rows / plain_s:>12,.0f} "
          f"{plain_s / index_s:>6.2f}x")  # fmt: skip
    print(f"{'  the same per CPU second (rows / ingest CPU time)':<52} {rows / index_cpu:>12,.0f} "
          f"{rows / plain_cpu:>12,.0f} {plain_cpu / index_cpu:>6.2f}x")  # fmt: skip
    print(f"{'  target: >= 20,000 rows/s (wall)':<52} {'met' if rows / index_s >= 20_000 else 'NOT met':>12}")


def postgres_figures(server: str, work: Path, rows: int, repeat: int) -> None:
    """The same mentions on PostgreSQL: first page of QUERY beside the LIKE reference."""
    with contextmanager(_pg_database)(server) as url:  # a database of its own, dropped after
        store, settings, ingest_s, ingest_cpu = build(work / "postgres" / "t.db", rows, index=True, url=url)
        try:
            with store.write() as session:  # what autovacuum does soon after a bulk load
                session.execute(text("ANALYZE"))
            f = MentionFilter(q=QUERY)
            with store.read() as session:
                version = session.scalar(text("SHOW server_version"))
                search_s, search_cpu, page = timed_cpu(lambda: search_mentions(session, settings, f), repeat)
                like_s, like_cpu, like_rows = timed_cpu(lambda: like_first_page(session, LIKE), repeat)
                terms = [
                    (q, timed(lambda q=q: search_mentions(session, settings, MentionFilter(q=q)), 5)[0])
                    for q in ("acme", "acme cloud", "#acme OR outage", "-acme outage", "acm*")
                ]
        finally:
            store.close()
    print(f"PostgreSQL {version}, {rows:,} mentions (a database of its own on {make_url(server).host})")
    print(f"{'benchmark':<52} {'figure':>12} {'reference':>12} {'ratio':>7}")
    print(f"{'first page of ' + QUERY!r:<52} {search_s * 1000:>9.1f} ms {like_s * 1000:>9.1f} ms "
          f"{search_s / like_s:>6.2f}x")  # fmt: skip
    print(f"{'  CPU time of this process':<52} {search_cpu * 1000:>9.1f} ms {like_cpu * 1000:>9.1f} ms")
    print(f"{'  matches (counted to 10,000) / shown':<52} {page.total:>12,} {len(page.mentions):>12}")
    print(f"{'  target: median <= 50 ms':<52} {'met' if search_s <= 0.05 else 'NOT met':>12}")
    print(f"{'  reference: ILIKE %' + LIKE + '% (text or author)':<52} {'':>12} {like_rows - 1:>12} rows")
    print(f"{'ingest with the index maintained, rows/s (wall)':<52} {rows / ingest_s:>12,.0f}")
    print(f"{'  rows per CPU second of this process':<52} {rows / ingest_cpu:>12,.0f}")
    for q, seconds in terms:
        print(f"{'first page of ' + repr(q):<52} {seconds * 1000:>9.1f} ms")


if __name__ == "__main__":
    main()
