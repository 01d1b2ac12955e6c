"""Fixtures of the web tests: a built organisation, the app, and an httpx client over ASGITransport."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PG_ENV, write_config
from tests.web.support import STREAMS, World, build
from tracker.config import load_settings
from tracker.store.db import open_store
from tracker.web.app import create_app

LOCAL = "http://127.0.0.1:8000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> Iterator[World]:
    """The organisation of tests/web/support.py on each database."""
    built = built_world(request, tmp_path, db_url)
    yield built
    built.store.close()


@pytest.fixture
def local(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The organisation on SQLite only, for behaviour that does not depend on the database."""
    built = built_world(request, tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    yield built
    built.store.close()


@pytest.fixture
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The same organisation with markup and script in collected text and user input."""
    built = built_world(request, tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}", hostile=True)
    yield built
    built.store.close()


_WORLDS = pytest.StashKey[dict[tuple[str, bool], tuple[str, Any]]]()


def built_world(
    request: pytest.FixtureRequest, directory: Path, db_url: str, *, hostile: bool = False
) -> World:
    """`build(directory, db_url)`, built once per test process and kind of database and copied
    for each test (a file copy on SQLite, a template database on PostgreSQL): importing and
    registering the organisation takes seconds, and every web test starts from the same one."""
    kind = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    cache = request.config.stash.setdefault(_WORLDS, {})
    if (kind, hostile) not in cache:
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        folder = factory.mktemp("world")
        if kind == "sqlite":
            source = str(folder / "tracker.db")
            template = build(folder, f"sqlite:///{source}", hostile=hostile)
        else:
            source = f"t_world_{uuid.uuid4().hex[:12]}"
            template = build(folder, _pg_create(source, request), hostile=hostile)
        template.store.close()
        cache[(kind, hostile)] = (source, template.today)
    source, today = cache[(kind, hostile)]
    if kind == "sqlite":
        shutil.copyfile(source, db_url.removeprefix("sqlite:///"))
    else:
        _pg_copy(source, db_url)
    config = write_config(directory, db_url=db_url, streams=STREAMS, timezone="Europe/Vienna")
    settings = load_settings(config)
    return World(settings, open_store(settings.database_url), config, today)


def _pg_admin() -> Any:
    import os

    from sqlalchemy import create_engine

    return create_engine(os.environ[PG_ENV], isolation_level="AUTOCOMMIT")


def _pg_create(name: str, request: pytest.FixtureRequest) -> str:
    from sqlalchemy import text

    engine = _pg_admin()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    request.config.add_cleanup(drop)
    return str(engine.url.set(database=name).render_as_string(hide_password=False))


def _pg_copy(template: str, db_url: str) -> None:
    """Replace the (empty) database of `db_url` with a copy of `template`."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = make_url(db_url).database
    engine = _pg_admin()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    finally:
        engine.dispose()


def client_for(app: Any, base_url: str = LOCAL) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app as served on 127.0.0.1 (no login), on each database."""
    async with client_for(create_app(world.settings, world.store, require_login=False)) as c:
        yield c


@pytest.fixture
async def local_client(local: World) -> AsyncIterator[httpx.AsyncClient]:
    """The same on SQLite only."""
    async with client_for(create_app(local.settings, local.store, require_login=False)) as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)
