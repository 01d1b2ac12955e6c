"""Shared fixtures: a database of each kind, config files, and the CLI run in-process.

Store, migration and import/export tests take the `db_url` fixture, which runs them
on SQLite and, when $TRACKER_TEST_POSTGRES names a PostgreSQL server (as .ci/run
sets), on PostgreSQL too, each test in a fresh database. With
$TRACKER_TEST_REQUIRE_POSTGRES=1 a missing server fails instead of skipping, so CI
cannot pass without having run them.
"""

from __future__ import annotations

import os
import shutil
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
    """A fresh database URL of each kind, its schema at the head revision and no rows.

    Running every migration takes a second or more per database, so each test process
    migrates one template per kind and each test gets a copy of it (a file copy on SQLite,
    `CREATE DATABASE ... TEMPLATE` on PostgreSQL). A test of schema creation or migration
    itself is marked `empty_database` and gets a database with no schema at all.
    """
    empty = request.node.get_closest_marker("empty_database") is not None
    if request.param == "sqlite":
        path = tmp_path / "tracker.db"
        if not empty:
            shutil.copyfile(_sqlite_template(request), path)
        yield f"sqlite:///{path}"
        return
    admin = _pg_admin_url()
    if admin is None:
        pytest.skip(f"PostgreSQL not configured (set {PG_ENV})")
    yield from _pg_database(admin, None if empty else _pg_template(request, admin))


def _sqlite_template(request: pytest.FixtureRequest) -> Path:
    cache: dict[str, Any] = request.config.stash.setdefault(_TEMPLATES, {})
    if "sqlite" not in cache:
        from tracker.store.db import open_store

        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        path = factory.mktemp("schema") / "template.db"
        open_store(f"sqlite:///{path}").close()
        cache["sqlite"] = path
    return Path(cache["sqlite"])


def _pg_template(request: pytest.FixtureRequest, admin: str) -> str:
    cache: dict[str, Any] = request.config.stash.setdefault(_TEMPLATES, {})
    if "postgresql" not in cache:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from tracker.store.db import open_store

        name = f"t_template_{uuid.uuid4().hex[:12]}"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        open_store(make_url(admin).set(database=name).render_as_string(hide_password=False)).close()

        def drop() -> None:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()

        request.config.add_cleanup(drop)
        cache["postgresql"] = name
    return str(cache["postgresql"])


_TEMPLATES = pytest.StashKey[dict[str, Any]]()


def _pg_database(admin: str, template: str | None = None) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
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


def register_connectors(monkeypatch: pytest.MonkeyPatch, found: dict[str, Any]) -> None:
    """Stand `found` (name -> connector class) in for the registered connectors: their classes,
    and the stream keys the config reads (each class's `stream_keys`, as for a plugin without a
    `tracker.stream_keys` entry point)."""
    from tracker import registry

    monkeypatch.setattr(registry, "connectors", lambda: found)
    keys = {name: cls.stream_keys for name, cls in found.items() if hasattr(cls, "stream_keys")}
    monkeypatch.setattr(registry, "stream_keys", lambda: keys)


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


@pytest.fixture(autouse=True)
def _no_logging_into_a_finished_test() -> Iterator[None]:
    """`setup_logging` (run by every CLI command) binds a handler to the sys.stderr of its moment,
    which for an in-process CLI test is pytest's capture of that test; a later test in the same
    process that logs would write into the closed capture. Each test ends with none left."""
    import logging

    yield
    for name in ("tracker", "apscheduler"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        logger.propagate = True


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests hash passwords with argon2id's cheapest parameters.

    The product's argon2id defaults (64 MiB, 3 passes, 4 lanes) cost about a quarter of a CPU
    second per login, on purpose; the suite logs in hundreds of times, and what it tests is
    the flow around the hash, not its cost. A hash made elsewhere (the defaults) still verifies:
    argon2 reads its parameters from the hash. Tests marked `real_hasher` keep the product's
    hasher, and tests/web/test_security.py pins its parameters. Subprocesses (`tracker serve`)
    always use the real one.
    """
    if request.node.get_closest_marker("real_hasher") is not None:
        return
    from argon2 import PasswordHasher, profiles

    from tracker.web import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
