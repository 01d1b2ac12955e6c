"""Security of the web layer: CSRF, login beyond loopback, tokens, headers, escaping, host check."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.web.conftest import LOCAL, client_for, csrf_of
from tests.web.support import HOSTILE_AUTHOR, HOSTILE_TEXT, World
from tracker.errors import UserError
from tracker.store.models import ApiToken, Experiment, User
from tracker.web import auth
from tracker.web.app import LOOPBACK_HOSTS, create_app, safe_url
from tracker.web.command import add_user, create_token, is_loopback, serve

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery"
PAGES = ("/", "/mentions", "/experiments", "/experiments/new", "/experiments/1", "/maturity", "/sources")


def _experiment_count(world: World) -> int:
    with world.store.read() as session:
        return len(session.scalars(select(Experiment)).all())


async def test_a_form_post_without_the_csrf_token_is_refused(
    local_client: httpx.AsyncClient, local: World
) -> None:
    client, world = local_client, local
    fields = {"title": "t", "hypothesis": "h", "practice": "shepherd", "metric": "mentions",
              "streams": "acme-news", "start": "2026-01-05", "end": "2026-01-18"}  # fmt: skip
    before = _experiment_count(world)
    assert (await client.post("/experiments", data=fields)).status_code == 403
    assert (await client.post("/experiments", data={**fields, "csrf_token": "forged"})).status_code == 403
    async with client_for(create_app(world.settings, world.store, require_login=False)) as other:
        foreign = csrf_of((await other.get("/experiments/new")).text)
    assert (await client.post("/experiments", data={**fields, "csrf_token": foreign})).status_code == 403, (
        "a token belongs to its session"
    )
    for path in (
        "/experiments/1/notes",
        "/experiments/2/conclude",
        "/experiments/2/cancel",
        "/experiments/2/measure",
    ):
        assert (await client.post(path, data={"text": "x", "learning": "x"})).status_code == 403, path
    assert _experiment_count(world) == before
    token = csrf_of((await client.get("/experiments/new")).text)
    ok = await client.post("/experiments", data={**fields, "csrf_token": token})
    assert ok.status_code == 303 and _experiment_count(world) == before + 1


async def test_every_form_carries_a_csrf_token(local_client: httpx.AsyncClient) -> None:
    client = local_client
    for path in ("/experiments/new", "/experiments/2", "/experiments/3"):
        html = (await client.get(path)).text
        forms = re.findall(r'<form[^>]*method="post".*?</form>', html, re.S)
        assert forms, path
        for form in forms:
            assert 'name="csrf_token"' in form, (path, form[:80])


async def test_cross_site_posts_are_refused(local_client: httpx.AsyncClient) -> None:
    client = local_client
    token = csrf_of((await client.get("/experiments/2")).text)
    evil = {"origin": "https://evil.example"}
    response = await client.post(
        "/experiments/2/notes", data={"csrf_token": token, "text": "x"}, headers=evil
    )
    assert response.status_code == 403
    api = await client.post("/api/v1/experiments/2/notes", json={"text": "x"}, headers=evil)
    assert api.status_code == 403
    same = await client.post("/api/v1/experiments/2/notes", json={"text": "x"}, headers={"origin": LOCAL})
    assert same.status_code == 201


async def test_headers_forbid_inline_script_and_framing(local_client: httpx.AsyncClient) -> None:
    client = local_client
    for path in (*PAGES, "/api/v1/streams", "/login"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "<script" not in response.text, f"{path} has no script at all"
        assert ' style="' not in response.text, f"{path} has no inline style (the CSP forbids it)"
    css = await client.get("/static/style.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


async def test_collected_text_is_escaped_on_every_page(hostile: World) -> None:
    async with client_for(create_app(hostile.settings, hostile.store, require_login=False)) as client:
        hostile_id = max(e["id"] for e in (await client.get("/api/v1/experiments")).json())
        for path in (*PAGES, f"/experiments/{hostile_id}", "/mentions?q=pwned", "/mentions?sort=engagement",
                     "/experiments?status=cancelled"):  # fmt: skip
            html = (await client.get(path)).text
            for raw in ("<script>alert", "<img src=x", "<svg onload", "<b>great</b>", 'evil.example/"><'):
                assert raw not in html, (path, raw)
        overview = (await client.get("/")).text
        mentions = (await client.get("/mentions?q=pwned")).text
        for html in (overview, mentions):
            assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
            assert "&lt;svg onload=alert(2)&gt;mallory" in html
            assert 'href="https://evil.example/&#34;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"' in html
        assert "HTTP 500: &lt;html&gt;&lt;script&gt;alert(4)" in (await client.get("/sources")).text
        listing = (await client.get("/experiments?status=cancelled")).text
        assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in listing
        api = (await client.get("/api/v1/mentions", params={"q": "pwned"})).json()["mentions"][0]
        assert api["text"] == HOSTILE_TEXT and api["author"] == HOSTILE_AUTHOR, "JSON keeps the text as it is"


def test_a_javascript_url_is_never_a_link() -> None:
    assert safe_url("javascript:alert(1)") is None and safe_url("data:text/html,x") is None
    assert safe_url("https://example.com/a") == "https://example.com/a"


# -- login beyond loopback --------------------------------------------------------------------


@pytest.fixture
async def remote(local: World) -> httpx.AsyncClient:
    """The app as served beyond loopback (login required), with the user ana."""
    add_user(local.store, "ana", PASSWORD)
    return client_for(create_app(local.settings, local.store, require_login=True), "http://tracker.example")


async def login(client: httpx.AsyncClient, password: str = PASSWORD, next_: str = "/") -> httpx.Response:
    token = csrf_of((await client.get("/login")).text)
    data = {"csrf_token": token, "name": "ana", "password": password, "next": next_}
    return await client.post("/login", data=data)


async def test_beyond_loopback_every_page_and_call_needs_login(remote: httpx.AsyncClient) -> None:
    async with remote as client:
        for path in PAGES:
            response = await client.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), (
                path
            )
        for path in ("/api/v1/streams", "/api/v1/mentions", "/api/v1/experiments/1", "/openapi.json"):
            response = await client.get(path)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer", path
        assert (await client.post("/api/v1/experiments", json={})).status_code == 401
        assert (await client.get("/static/style.css")).status_code == 200
        assert (await client.get("/login")).status_code == 200

        wrong = await login(client, "wrong password!")
        assert wrong.status_code == 401 and "do not match" in wrong.text
        assert (await client.get("/")).status_code == 303
        right = await login(client, next_="/experiments?status=running")
        assert right.status_code == 303 and right.headers["location"] == "/experiments?status=running"
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        home = await client.get("/")
        assert home.status_code == 200 and ">ana</span>" in home.text and "Log out" in home.text
        assert (await client.get("/api/v1/streams")).status_code == 200

        token = csrf_of(home.text)
        refused = await client.post("/api/v1/experiments/2/notes", json={"text": "x"})
        assert refused.status_code == 403, "a cookie-authenticated API call needs the CSRF header"
        noted = await client.post(
            "/api/v1/experiments/2/notes", json={"text": "x"}, headers={"x-csrf-token": token}
        )
        assert noted.status_code == 201 and noted.json()["notes"][-1]["author"] is None
        page_note = await client.post("/experiments/2/notes", data={"csrf_token": token, "text": "by ana"})
        assert page_note.status_code == 303
        assert (await client.get("/api/v1/experiments/2")).json()["notes"][-1]["author"] == "ana"

        assert (await client.post("/logout", data={"csrf_token": token})).status_code == 303
        assert (await client.get("/")).status_code == 303


async def test_an_open_redirect_after_login_is_not_possible(remote: httpx.AsyncClient) -> None:
    async with remote as client:
        for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
            assert (await login(client, next_=target)).headers["location"] == "/"


async def test_a_new_password_ends_the_sessions(remote: httpx.AsyncClient, local: World) -> None:
    async with remote as client:
        await login(client)
        assert (await client.get("/")).status_code == 200
        assert add_user(local.store, "ana", "another long password") is False
        assert (await client.get("/")).status_code == 303


async def test_a_forged_or_tampered_session_cookie_is_ignored(remote: httpx.AsyncClient) -> None:
    async with remote as client:
        await login(client)
        value = client.cookies.get("tracker_session")
        assert value
        client.cookies.set("tracker_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
        assert (await client.get("/")).status_code == 303


async def test_bearer_tokens_open_the_api_only(remote: httpx.AsyncClient, local: World) -> None:
    token = create_token(local.store, "nightly export")
    assert token.startswith("trk_")
    with local.store.read() as session:
        stored = session.scalars(select(ApiToken)).one()
    assert stored.name == "nightly export" and token not in stored.token_hash and len(stored.token_hash) == 64
    bearer = {"authorization": f"Bearer {token}"}
    async with remote as client:
        assert (await client.get("/api/v1/experiments", headers=bearer)).status_code == 200
        created = await client.post(
            "/api/v1/experiments/1/notes", json={"text": "from a script"}, headers=bearer
        )
        assert created.status_code == 201, "bearer calls carry no ambient credentials: no CSRF token needed"
        assert (await client.get("/openapi.json", headers=bearer)).status_code == 200
        bad = await client.get("/api/v1/experiments", headers={"authorization": "Bearer trk_nope"})
        assert bad.status_code == 401
        assert (await client.get("/", headers=bearer)).status_code == 303, "pages are for people who log in"


async def test_failed_logins_are_throttled(remote: httpx.AsyncClient) -> None:
    async with remote as client:
        for _ in range(10):
            assert (await login(client, "not the password")).status_code == 401
        assert (await login(client)).status_code == 429, "even the right password waits"


async def test_secure_cookie_over_https(local: World) -> None:
    add_user(local.store, "ana", PASSWORD)
    app = create_app(local.settings, local.store, require_login=True)
    async with client_for(app, "https://tracker.example") as client:
        assert "; Secure" in (await login(client)).headers["set-cookie"]


async def test_loopback_serving_answers_only_to_localhost(local: World) -> None:
    app = create_app(local.settings, local.store, require_login=False, allowed_hosts=LOOPBACK_HOSTS)
    for base in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        async with client_for(app, base) as client:
            assert (await client.get("/")).status_code == 200, base
    async with client_for(app, "http://rebound.evil.example:8000") as client:
        assert (await client.get("/api/v1/mentions")).status_code == 421, "no DNS rebinding"


# -- users, tokens, key, serve ----------------------------------------------------------------


@pytest.mark.real_hasher
def test_add_user_validates_and_hashes(world: World) -> None:
    assert add_user(world.store, "ana.k@acme", PASSWORD) is True
    assert add_user(world.store, "ana.k@acme", PASSWORD + "!") is False
    with world.store.read() as session:
        user = session.scalars(select(User)).one()
    # the product's argon2id parameters (RFC 9106's second recommendation: 64 MiB, 3 passes)
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in user.password_hash
    with pytest.raises(UserError, match="at least 8 characters"):
        add_user(world.store, "bob", "short")
    with pytest.raises(UserError, match="is not a user name"):
        add_user(world.store, "bob smith", PASSWORD)
    assert auth.check_password(world.store, "ana.k@acme", PASSWORD + "!") is not None
    assert auth.check_password(world.store, "ana.k@acme", PASSWORD) is None
    assert auth.check_password(world.store, "nobody", PASSWORD) is None


def test_the_session_key_is_made_once_and_kept_private(local: World) -> None:
    key = auth.session_key(local.settings)
    path = local.settings.directory / auth.KEY_FILE
    assert path.read_text().strip() == key and len(key) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert auth.session_key(local.settings) == key


def test_serve_refuses_beyond_loopback_without_a_user(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, object]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: started.append(kw))
    with pytest.raises(UserError, match="tracker user add NAME"):
        serve(world.settings, world.store, host="0.0.0.0", port=8000)
    assert not started
    serve(world.settings, world.store, host="127.0.0.1", port=8001)
    add_user(world.store, "ana", PASSWORD)
    serve(world.settings, world.store, host="0.0.0.0", port=8002)
    assert [s["port"] for s in started] == [8001, 8002]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("tracker.example", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_cli_commands_reach_the_web_functions(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import write_config

    config = write_config(tmp_path)
    monkeypatch.setattr("typer.prompt", lambda *a, **k: PASSWORD)
    added = cli("--config", config, "user", "add", "ana")
    assert added.code == 0 and "user ana added" in added.out
    assert "user ana updated" in cli("--config", config, "user", "add", "ana").out
    token = cli("--config", config, "token", "create", "--name", "ci")
    assert token.code == 0 and token.out.strip().startswith("trk_")
    monkeypatch.setattr("typer.prompt", lambda *a, **k: "short")
    short = cli("--config", config, "user", "add", "bob")
    assert short.code == 2 and "at least 8 characters" in short.err
