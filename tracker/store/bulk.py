"""Set-based statements for the ingest hot path, at the driver's speed.

Import and collection write tens of thousands of rows a second; building them as
SQLAlchemy Core parameter sets costs more than the database itself (a type
processor per value, a compiled-parameter dict per row). Here rows are plain
tuples in the driver's own parameter style, with values already in the form the
column stores: the same storage the models declare (naive UTC timestamps, JSON
text), so everything else reads them through the ORM as usual. Only the few
statements of ingest use this; every other query goes through SQLAlchemy.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's own storage format for DateTime on SQLite
CHUNK = 500


ROWS_PER_STATEMENT = 500  # SQLite: rows of one INSERT, as far as the values allowed in one go permit
# SQLite's limit on the values of one statement: 32,766 since 3.32, 999 before.
SQLITE_MAX_VALUES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def insert_rows(connection: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                conflict: str | None = None) -> int:  # fmt: skip
    """INSERT rows (ON CONFLICT (...) DO NOTHING when `conflict` names the unique columns);
    returns how many were inserted, as the driver counts them (-1: it cannot say).

    On SQLite up to 500 rows go in one statement (`VALUES (...), (...)`), on the driver's own
    cursor: it opens the table's and indexes' cursors once for them, where one statement per row
    opens them for each (a sixth less time for the ingest's inserts), and the import's store
    thread takes the GIL back once per statement, not per row. The rows are inserted in order,
    as one at a time."""
    if not rows:
        return 0
    postgres = connection.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    tail = f" ON CONFLICT ({conflict}) DO NOTHING" if conflict else ""
    group = "(" + ", ".join([mark] * len(columns)) + ")"
    if postgres:
        return int(connection.exec_driver_sql(head + group + tail, list(map(tuple, rows))).rowcount)
    cursor = connection.connection.cursor()
    try:
        step = max(1, min(ROWS_PER_STATEMENT, SQLITE_MAX_VALUES // len(columns)))
        full = head + ", ".join([group] * step) + tail
        done = 0
        for i in range(0, len(rows), step):
            chunk = rows[i : i + step]
            sql = full if len(chunk) == step else head + ", ".join([group] * len(chunk)) + tail
            cursor.execute(sql, [value for row in chunk for value in row])
            done += cursor.rowcount
        return done
    finally:
        cursor.close()


class Bulk:
    """Raw executemany and lookups on the session's connection (inside its transaction)."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.postgres = self.connection.dialect.name == "postgresql"
        self.mark = "%s" if self.postgres else "?"
        self._times: dict[datetime, Any] = {}  # a batch repeats its `now` and each item's time

    def time(self, moment: datetime) -> Any:
        stored = self._times.get(moment)
        if stored is None:
            stored = self._times[moment] = self.stored_time(moment)
        return stored

    def stored_time(self, moment: datetime) -> Any:
        """A moment in storage form, not cached (for moments seen once, like new items' times)."""
        if moment.tzinfo is UTC and not self.postgres:  # most items' times: only the offset to drop
            text = moment.isoformat(" ")[:-6]
            return text if len(text) > 19 else text + ".000000"
        utc = moment.astimezone(UTC).replace(tzinfo=None)
        if self.postgres:
            return utc
        text = utc.isoformat(" ")  # SQLITE_TIME, written the fast way: isoformat drops zero microseconds
        return text if len(text) > 19 else text + ".000000"

    def json(self, value: Any) -> Any:
        if value is None:
            return None
        if self.postgres:
            from psycopg.types.json import Json

            return Json(value)
        return json.dumps(value, ensure_ascii=False)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
               conflict: str | None = None) -> int:  # fmt: skip
        """insert_rows on the session's connection."""
        return insert_rows(self.connection, table, columns, rows, conflict=conflict)

    def lookup(
        self, table: str, columns: Sequence[str], keys: Iterable[tuple[str, str]]
    ) -> list[tuple[Any, ...]]:
        """Rows of `table` by (platform, external_id), through the unique index, per platform."""
        by_platform: dict[str, list[str]] = {}
        for platform, external_id in keys:
            by_platform.setdefault(platform, []).append(external_id)
        found: list[tuple[Any, ...]] = []
        for platform, ids in by_platform.items():
            for i in range(0, len(ids), CHUNK):
                chunk = ids[i : i + CHUNK]
                marks = ", ".join([self.mark] * len(chunk))
                sql = (f"SELECT {', '.join(columns)} FROM {table} "
                       f"WHERE platform = {self.mark} AND external_id IN ({marks})")  # fmt: skip
                found.extend(tuple(row) for row in self.connection.exec_driver_sql(sql, (platform, *chunk)))
        return found
