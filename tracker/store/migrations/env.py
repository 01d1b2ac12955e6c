"""Alembic environment: runs on the connection handed in by tracker.store.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tracker.store.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # plain `alembic` command line, for developers
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """The full-text index's own objects (FTS5 tables, the GIN index) are not in the models."""
    from tracker.search_index import is_index_object

    return not is_index_object(name)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
