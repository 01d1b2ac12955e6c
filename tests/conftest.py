"""Shared fixtures: a database of each kind, config files, and the CLI run in-process.

Store, migration and import/export tests take the `db_url` fixture, which runs them
on SQLite and, when $TRACKER_TEST_POSTGRES names a PostgreSQL server (as .ci/run
sets), on PostgreSQL too, each test in a fresh database. With
$TRACKER_TEST_REQUIRE_POSTGRES=1 a missing server fails instead of skipping, so CI
cannot pass without having run them.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PG_ENV = "TRACKER_TEST_POSTGRES"
REQUIRE_PG_ENV = "TRACKER_TEST_REQUIRE_POSTGRES"


def _pg_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url and os.environ.get(REQUIRE_PG_ENV) == "1":
        pytest.fail(f"{REQUIRE_PG_ENV}=1 but {PG_ENV} is not set")
    return url or None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    admin = _pg_admin_url()
    if admin is None:
        pytest.skip(f"PostgreSQL not configured (set {PG_ENV})")
    yield from _pg_database(admin)


def _pg_database(admin: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    directory: Path,
    *,
    db_url: str | None = None,
    streams: list[dict[str, Any]] | None = None,
    extra: str = "",
    timezone: str = "Europe/Vienna",
) -> Path:
    """Write a tracker.toml into `directory` and return its path."""
    lines = ["[organisation]", 'name = "Test Org"', f"timezone = {toml_value(timezone)}", ""]
    if db_url:
        lines += ["[database]", f"url = {toml_value(db_url)}", ""]
    for stream in streams or []:
        lines.append("[[streams]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in stream.items()]
        lines.append("")
    path = directory / "tracker.toml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `tracker ARGS` in-process through the real entry point (exit-code mapping included)."""
    from tracker.cli import main, state

    def run(*args: Any) -> Result:
        monkeypatch.setattr(sys, "argv", ["tracker", *map(str, args)])
        state.config, state.debug = None, False
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
