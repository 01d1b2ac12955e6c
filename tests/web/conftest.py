"""Fixtures of the web tests: a built organisation, the app, and an httpx client over ASGITransport."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.support import World, build
from tracker.web.app import create_app

LOCAL = "http://127.0.0.1:8000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    """The organisation of tests/web/support.py on each database."""
    built = build(tmp_path, db_url)
    yield built
    built.store.close()


@pytest.fixture
def local(tmp_path: Path) -> Iterator[World]:
    """The organisation on SQLite only, for behaviour that does not depend on the database."""
    built = build(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    yield built
    built.store.close()


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[World]:
    """The same organisation with markup and script in collected text and user input."""
    built = build(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}", hostile=True)
    yield built
    built.store.close()


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
