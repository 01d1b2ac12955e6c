"""`/docs`: Swagger UI from this machine, under the CSP, behind the same login, linked from every page."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.web.conftest import client_for, csrf_of
from tests.web.support import World
from tracker.web.app import create_app
from tracker.web.command import add_user
from tracker.web.security import CSP

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery"


async def test_docs_page_uses_only_this_origin(local_client: httpx.AsyncClient) -> None:
    page = await local_client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "<script>" not in page.text, "no inline script: the CSP would refuse it"
    for source in sources:
        answer = await local_client.get(source)
        assert answer.status_code == 200, source
    bundle = await local_client.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text and bundle.headers["content-type"].startswith("text/javascript")
    assert (await local_client.get("/docs/assets/..%2Fpyproject.toml")).status_code == 404
    assert (await local_client.get("/docs/assets/index.html")).status_code == 404, "only the listed assets"


async def test_every_page_links_the_docs_from_its_footer(local_client: httpx.AsyncClient) -> None:
    for path in ("/", "/mentions", "/experiments", "/maturity", "/sources"):
        footer = (await local_client.get(path)).text.rsplit("<footer>", 1)[1]
        assert 'href="/docs"' in footer, path


async def test_docs_need_the_same_login(local: World) -> None:
    add_user(local.store, "ana", PASSWORD)
    app = create_app(local.settings, local.store, require_login=True)
    async with client_for(app, "http://tracker.example") as client:
        for path in ("/docs", "/docs/assets/swagger-ui-bundle.js"):
            response = await client.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
        token = csrf_of((await client.get("/login")).text)
        signed_in = await client.post("/login", data={"csrf_token": token, "name": "ana",
                                                      "password": PASSWORD, "next": "/docs"})  # fmt: skip
        assert signed_in.headers["location"] == "/docs"
        page = await client.get("/docs")
        assert page.status_code == 200 and 'data-csrf="' in page.text
        assert re.search(r'data-csrf="[^"]{20,}"', page.text), "writes from the docs carry the CSRF token"
