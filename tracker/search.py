"""Mention search as a service: every match of a query, streamed, and written as CSV or JSONL.

The web downloads, `tracker mentions search` and the saved searches read mentions
through here, with the same filter (tracker.web.queries.MentionFilter) the web list
uses, so a download holds exactly the mentions the list pages through, in its order.
Rows are read in batches: memory does not grow with the number of matches.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session, defer

from tracker.config import Settings
from tracker.mentions import FIELDS, mention_record
from tracker.store.models import Mention
from tracker.store.queries import mention_streams
from tracker.web.queries import MentionFilter, _matching, _ordered

BATCH = 1000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def iter_matches(session: Session, settings: Settings, f: MentionFilter) -> Iterator[dict[str, Any]]:
    """Every mention the filter matches (all pages), in its sort order, as SPEC §4 records with `id`."""
    found = _matching(session, settings, f)
    if found is None:
        return
    query, created = found
    ordered = _ordered(query, created, f.sort).options(defer(Mention.raw))
    rows = session.scalars(ordered.execution_options(yield_per=BATCH))
    batch: list[Any] = []
    for mention in rows:
        batch.append(mention)
        if len(batch) >= BATCH:
            yield from _records(session, batch)
            batch = []
    if batch:
        yield from _records(session, batch)


def _records(session: Session, batch: list[Any]) -> Iterator[dict[str, Any]]:
    links = mention_streams(session, [m.id for m in batch])
    for m in batch:
        yield {"id": m.id, **mention_record(m, links.get(m.id, []))}


def first_matches(session: Session, settings: Settings, f: MentionFilter, limit: int) -> list[dict[str, Any]]:
    """At most `limit` matches, in the filter's order."""
    found = []
    for record in iter_matches(session, settings, replace(f, page=1)):
        found.append(record)
        if len(found) >= limit:
            break
    return found


# -- writing ----------------------------------------------------------------------------------


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a '."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


CSV_FIELDS = ("id", *FIELDS)


def csv_row(record: dict[str, Any]) -> list[Any]:
    row = {**record, "streams": ";".join(record.get("streams") or [])}
    return [safe_cell(row.get(name)) for name in CSV_FIELDS]


def iter_csv(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text in chunks of about 64 KB: a header, then one line per mention."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for record in records:
        writer.writerow(csv_row(record))
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def iter_jsonl(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per line, in chunks of about 64 KB."""
    chunk: list[str] = []
    size = 0
    for record in records:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        chunk.append(line)
        size += len(line)
        if size > 65536:
            yield "".join(chunk)
            chunk, size = [], 0
    yield "".join(chunk)
