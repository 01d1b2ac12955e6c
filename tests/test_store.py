"""The store: migrations from empty on both databases, schema equal to the models, SQLite settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from tracker.errors import UserError
from tracker.store import db
from tracker.store.models import Base, Stream

# Schema creation and migration themselves: every database here starts with no schema.
pytestmark = pytest.mark.empty_database


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    from tracker.search_index import is_index_object

    return not is_index_object(name)


def test_head_revision_constant_matches_alembic() -> None:
    store = db.Store("sqlite://")
    script = ScriptDirectory.from_config(db.alembic_config(store))
    assert script.get_current_head() == db.HEAD_REVISION
    store.close()


def test_migrations_from_empty_match_the_models(db_url: str) -> None:
    store = db.open_store(db_url)
    try:
        assert db.current_revision(store.engine) == db.HEAD_REVISION
        with store.engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            assert set(Base.metadata.tables) <= names
            context = MigrationContext.configure(conn, opts={"include_name": _include_name})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        store.close()


def test_upgrade_is_idempotent(db_url: str) -> None:
    store = db.open_store(db_url)
    db.upgrade(store)
    db.upgrade(store)
    assert db.current_revision(store.engine) == db.HEAD_REVISION
    store.close()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = db.open_store(f"sqlite:///{tmp_path / 't.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30000
    store.close()


def test_utc_datetimes_round_trip_aware(db_url: str) -> None:
    store = db.open_store(db_url)
    vienna = timezone(timedelta(hours=2))
    moment = datetime(2026, 9, 1, 10, 0, tzinfo=vienna)
    with store.write() as session:
        session.add(Stream(name="s", connector="rss", role="brand", source="config", created_at=moment))
    with store.read() as session:
        stored = session.scalars(select(Stream.created_at)).one()
    assert stored.tzinfo is not None
    assert stored == datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    store.close()


def test_naive_datetimes_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = db.open_store(f"sqlite:///{tmp_path / 't.db'}")
    with pytest.raises(Exception, match="naive datetime"), store.write() as session:
        session.add(Stream(name="s", connector="rss", created_at=datetime(2026, 1, 1)))
        session.flush()
    store.close()


def test_older_schema_asks_for_db_upgrade(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 't.db'}"
    db.open_store(url).close()
    store = db.Store(url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0009_h22c'"))
    store.close()
    with pytest.raises(UserError, match="tracker db upgrade"):
        db.open_store(url)


def test_a_schema_a_newer_version_wrote_is_named_as_such(tmp_path, cli) -> None:  # type: ignore[no-untyped-def]
    """A database upgraded by a newer tracker, opened by this one: every command, `db upgrade`
    too, says so (it said "run tracker db upgrade", and that then failed as an unexpected problem)."""
    from tests.conftest import write_config

    path = write_config(tmp_path)
    assert cli("--config", path, "db", "upgrade").code == 0
    store = db.Store(f"sqlite:///{tmp_path / 'tracker.db'}")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_later'"))
    store.close()
    for args in (["db", "upgrade"], ["status"]):
        result = cli("--config", path, *args)
        assert result.code == 2, result.out + result.err
        assert "schema revision 0099_later, which this version of the tracker does not know" in result.err, result.err
        assert "unexpected" not in result.err and "Traceback" not in result.err


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="cannot open"):
        db.open_store("postgresql+psycopg://nobody:sekrit@127.0.0.1:1/none")


def test_unreachable_database_error_hides_password() -> None:
    with pytest.raises(UserError) as info:
        db.open_store("postgresql+psycopg://nobody:sekrit@127.0.0.1:1/none")
    assert "sekrit" not in str(info.value)


def test_db_upgrade_command(tmp_path, cli) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import write_config

    path = write_config(tmp_path)
    first = cli("--config", path, "db", "upgrade")
    assert first.code == 0, first.err
    assert f"upgraded the database from empty to {db.HEAD_REVISION}" in first.out
    again = cli("db", "upgrade", "--config", path)
    assert again.code == 0 and "up to date" in again.out


def test_upgrade_from_the_first_revision_keeps_data(db_url: str) -> None:
    from alembic import command

    store = db.Store(db_url)
    cfg = db.alembic_config(store)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO streams (name, connector, role, source, created_at) "
                          "VALUES ('s', 'rss', 'brand', 'config', '2026-01-01 00:00:00')"))  # fmt: skip
    store.close()
    with pytest.raises(UserError, match="tracker db upgrade"):
        db.open_store(db_url)
    store = db.Store(db_url)
    db.upgrade(store)
    with store.read() as session:
        assert session.scalars(select(Stream.name)).all() == ["s"]
    with store.engine.connect() as conn:
        assert "worker" in {c["name"] for c in inspect(conn).get_columns("collection_runs")}
    store.close()
