"""Engine, sessions and schema upgrades.

SQLite runs in WAL mode with a busy timeout and foreign keys on, and write
transactions start with BEGIN IMMEDIATE: a deferred transaction that later wants
to write can fail at once with "database is locked" when another process writes
first, whereas an immediate one waits its turn under the busy timeout.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

from tracker.errors import UserError

# The newest migration; tests/test_store.py checks it is Alembic's head.
HEAD_REVISION = "0010_h22d"
BUSY_TIMEOUT_S = 60.0
MIGRATION_LOCK_ID = 7_311_004_201  # pg_advisory_lock key for migrations
MIGRATIONS = Path(__file__).parent / "migrations"


class Store:
    """The database behind one configuration: `read()` and `write()` open short transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._writer = self.engine.execution_options(tracker_write=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed on success and rolled back on any error."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        """`with open_store(url) as store:` closes the store when the block ends, also on error."""
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
            _sqlite_setup(engine)
            _ensure_sqlite_dir(url)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise UserError(f"database.url: cannot use {redact_url(url)!r}: {exc}") from None
    return engine


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def _ensure_sqlite_dir(url: str) -> None:
    """The folder, and the file itself created private (0600): it holds users' password hashes,
    and SQLite gives its -wal and -shm files the database file's mode."""
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError:
            pass  # SQLite reports what is wrong with the path when it opens it


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, so we can choose IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")  # first: WAL switch may wait
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # 32 MB of page cache instead of 2 MB: the ingest path writes five tables and their
        # indexes a batch at a time; the default cache re-reads their pages for every batch.
        cur.execute("PRAGMA cache_size=-32768")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("tracker_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def insert_for(dialect: str) -> Any:
    """The dialect's INSERT, which has ON CONFLICT on both SQLite and PostgreSQL."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database, or None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(store: Store, zone: str | None = None, engagement_age: timedelta | None = None) -> None:
    """Apply every pending migration (`tracker db upgrade`).

    `zone` is the organisation's time zone, the days the daily aggregates are built in;
    `engagement_age` the age their own posts' engagement is read at.

    On PostgreSQL an advisory lock makes two workers starting at once take turns.
    """
    from alembic import command

    stored = current_revision(store.engine)
    if stored is not None and not known_revision(stored):
        raise _newer(stored)
    cfg = alembic_config(store)
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_ID})
        try:
            cfg.attributes["connection"] = conn
            cfg.attributes["zone"] = zone
            cfg.attributes["engagement_age"] = engagement_age
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if store.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_ID})
                conn.commit()


def known_revision(revision: str) -> bool:
    """Whether this version's migrations know `revision` (a newer tracker may have written a later one)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS))
    return revision in {script.revision for script in scripts.walk_revisions()}


def _newer(revision: str) -> UserError:
    return UserError(
        f"the database is at schema revision {revision}, which this version of the tracker does not "
        f"know (it needs {HEAD_REVISION}): a newer version upgraded it; run that version (or a later one), "
        "or restore a backup made before the upgrade"
    )


def alembic_config(store: Store) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    return cfg


def open_store(url: str, zone: str | None = None, engagement_age: timedelta | None = None) -> Store:
    """Open the database, creating the schema when it is empty.

    A database at an older revision is not upgraded behind the operator's back (other
    workers may still run the old code): the error says to run `tracker db upgrade`.
    """
    store = Store(url)
    try:
        revision = current_revision(store.engine)
    except DBAPIError as exc:
        store.close()
        from tracker.failures import explain

        raise UserError(
            explain(exc, url) or f"database.url: cannot open {redact_url(url)}: {exc.orig}"
        ) from None
    if revision is None:
        upgrade(store, zone, engagement_age)
    elif revision != HEAD_REVISION:
        store.close()
        raise _newer(revision) if not known_revision(revision) else UserError(
            f"the database is at schema revision {revision}, this version needs {HEAD_REVISION}: "
            "run `tracker db upgrade`"
        )
    elif zone is not None:
        _adopt_zone_while_empty(store, zone, engagement_age)
    return store


def _adopt_zone_while_empty(store: Store, zone: str, engagement_age: timedelta | None = None) -> None:
    """A database with no mentions yet has no days to be wrong about: its daily aggregates take
    the organisation's zone (a schema made without one, or before the zone was changed, would
    otherwise read the raw mentions for ever after, or until `tracker db check --repair`)."""
    from zoneinfo import ZoneInfo

    from tracker import aggregates
    from tracker.store.models import Mention

    with store.engine.connect() as conn:
        found = aggregates.stored_zone(conn)
        age = aggregates.stored_age(conn) or aggregates.DEFAULT_AGE
        if found is not None and found.key == zone and (engagement_age is None or age == engagement_age):
            return
        if conn.execute(select(Mention.id).limit(1)).first() is not None:
            return
    with store.engine.begin() as conn:
        aggregates.set_zone(conn, ZoneInfo(zone))
        if engagement_age is not None:
            aggregates.set_age(conn, engagement_age)
