"""Issue 17 on the web: server-side sessions, trusted proxies, throttles, limits, tokens,
the Account page and the audit log."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.web.conftest import client_for, csrf_of
from tests.web.support import World
from tracker import accounts, audit
from tracker.config import Settings
from tracker.store.models import ApiToken, AuditEvent, WebSession
from tracker.timeutil import utcnow
from tracker.web import auth
from tracker.web.app import create_app
from tracker.web.command import add_user, serve

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery"
REMOTE = "http://tracker.example"
NOTE = "/api/v1/experiments/2/notes"


def web_settings(world: World, **changes: Any) -> Settings:
    return replace(world.settings, web=replace(world.settings.web, **changes))


def remote_app(world: World, **changes: Any) -> Any:
    return create_app(web_settings(world, **changes), world.store, require_login=True)


@pytest.fixture
def ana(local: World) -> World:
    add_user(local.store, "ana", PASSWORD)
    return local


async def login(client: httpx.AsyncClient, password: str = PASSWORD, name: str = "ana",
                headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
    token = csrf_of((await client.get("/login")).text)
    data = {"csrf_token": token, "name": name, "password": password, "next": "/"}
    return await client.post("/login", data=data, headers=headers or {})


def actions(world: World) -> list[tuple[str, str, str | None, str | None]]:
    with world.store.read() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(e.actor, e.action, e.target, e.client) for e in rows]


# -- 1. server-side sessions ------------------------------------------------------------------


async def test_a_cookie_captured_before_logout_is_refused_after_it(ana: World) -> None:
    app = remote_app(ana)
    async with client_for(app, REMOTE) as client:
        assert (await login(client)).status_code == 303
        captured = client.cookies.get("tracker_session")
        assert captured and (await client.get("/")).status_code == 200
        token = csrf_of((await client.get("/")).text)
        assert (await client.post("/logout", data={"csrf_token": token})).status_code == 303
    async with client_for(app, REMOTE) as thief:
        thief.cookies.set("tracker_session", captured)
        page = await thief.get("/")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert (await thief.get("/api/v1/streams")).status_code == 401
    with ana.store.read() as session:
        row = session.scalars(select(WebSession)).one()
    assert row.ended_at is not None and row.end_reason == "logout"


async def test_a_session_is_a_row_with_only_a_digest_of_its_id(ana: World) -> None:
    async with client_for(remote_app(ana), REMOTE) as client:
        await login(client, headers={"user-agent": "Firefox/140"})
        cookie = client.cookies.get("tracker_session") or ""
    with ana.store.read() as session:
        row = session.scalars(select(WebSession)).one()
    assert len(row.token_hash) == 64 and row.token_hash not in cookie
    assert row.client == "127.0.0.1" and row.user_agent == "Firefox/140" and row.ended_at is None
    import base64
    import json

    payload = json.loads(base64.urlsafe_b64decode(cookie.split(".")[0] + "=="))
    assert set(payload) <= {"sid", "csrf", "flash"}, "the cookie names a session, not a user"
    assert hashlib.sha256(payload["sid"].encode()).hexdigest() == row.token_hash


@pytest.mark.parametrize(
    ("column", "age"), [("last_seen_at", timedelta(hours=13)), ("created_at", timedelta(days=8))]
)
async def test_idle_and_old_sessions_end(ana: World, column: str, age: timedelta) -> None:
    async with client_for(remote_app(ana), REMOTE) as client:
        await login(client)
        assert (await client.get("/")).status_code == 200
        with ana.store.write() as session:
            row = session.scalars(select(WebSession)).one()
            setattr(row, column, getattr(row, column) - age)
        assert (await client.get("/")).status_code == 303
    with ana.store.read() as session:
        assert session.scalars(select(WebSession)).one().end_reason == (
            "idle" if column == "last_seen_at" else "lifetime"
        )


async def test_session_idle_and_lifetime_come_from_the_config(ana: World) -> None:
    app = remote_app(ana, session_idle=timedelta(minutes=30), session_lifetime=timedelta(hours=2))
    async with client_for(app, REMOTE) as client:
        set_cookie = (await login(client)).headers["set-cookie"]
        assert "Max-Age=7200" in set_cookie
        with ana.store.write() as session:
            row = session.scalars(select(WebSession)).one()
            row.last_seen_at -= timedelta(minutes=31)
        assert (await client.get("/")).status_code == 303


async def test_disabling_the_user_and_rotating_the_key_end_sessions_without_a_restart(ana: World) -> None:
    app = remote_app(ana)
    async with client_for(app, REMOTE) as client:
        await login(client)
        assert (await client.get("/")).status_code == 200
        assert accounts.set_disabled(ana.store, "ana", True)
        assert (await client.get("/")).status_code == 303
        assert (await login(client)).status_code == 401, "a disabled user cannot log in"
        assert accounts.set_disabled(ana.store, "ana", False)
        assert (await login(client)).status_code == 303
        assert (await client.get("/")).status_code == 200
        before = client.cookies.get("tracker_session")
        assert auth.rotate_key(ana.settings, ana.store) == 1
        assert (await client.get("/")).status_code == 303
        assert (await login(client)).status_code == 303, "a new login works with the new key"
        assert (await client.get("/")).status_code == 200 and client.cookies.get("tracker_session") != before


# -- 2. proxies and the throttle --------------------------------------------------------------


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(ana: World) -> None:
    forged = {"x-forwarded-for": "203.0.113.9", "forwarded": "for=198.51.100.7"}
    async with client_for(remote_app(ana), REMOTE) as client:
        await login(client, "wrong password", headers=forged)
    async with client_for(remote_app(ana, trusted_proxies=("127.0.0.0/8",)), REMOTE) as client:
        await login(client, "wrong password", headers={"x-forwarded-for": "203.0.113.9, 127.0.0.5"})
        await login(client, "wrong password", headers={"forwarded": 'for="[2001:db8::1]:4711";proto=https'})
    failures = [client for _, action, _, client in actions(ana) if action == "login.failure"]
    assert failures == ["127.0.0.1", "203.0.113.9", "2001:db8::1"]


async def test_forged_forwarded_for_values_do_not_get_around_the_throttle(ana: World) -> None:
    app = remote_app(ana, trusted_proxies=("127.0.0.1",))  # behind a proxy: each forged value is a client
    async with client_for(app, REMOTE) as client:
        codes = [
            (
                await login(client, "not the password", headers={"x-forwarded-for": f"203.0.113.{i}"})
            ).status_code
            for i in range(15)
        ]
        assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
        last = await login(client, headers={"x-forwarded-for": "203.0.113.99"})
        assert last.status_code == 429, "the account is locked for a while, whatever the address"
    assert sum(1 for a in actions(ana) if a[1] == "login.blocked") == 6


def test_uvicorn_is_told_not_to_trust_forwarded_headers(ana: World, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: started.append(kw))
    serve(ana.settings, ana.store, host="0.0.0.0", port=8000)
    assert started[0]["proxy_headers"] is False and started[0]["forwarded_allow_ips"] == ""


# -- 3. limits --------------------------------------------------------------------------------


async def test_a_200_mb_note_is_refused_before_it_is_read(local_client: httpx.AsyncClient) -> None:
    chunk = b"a" * (1 << 20)
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"text": "'
        for _ in range(200):
            sent += 1
            yield chunk
        yield b'"}'

    response = await local_client.post(NOTE, content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than 1024 KB" in response.json()["detail"]
    assert sent < 5, "the server stopped reading after the first megabyte"
    declared = await local_client.post(
        NOTE, content=b"x" * (2 << 20), headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    form = await local_client.post("/experiments/2/notes", data={"text": "x" * (2 << 20)})
    assert form.status_code == 413


async def test_text_fields_are_capped(local_client: httpx.AsyncClient, local: World) -> None:
    long_note = await local_client.post(NOTE, json={"text": "x" * 100_001})
    assert long_note.status_code == 422 and [e["field"] for e in long_note.json()["detail"]] == ["text"]
    body = {"title": "t" * 501, "hypothesis": "h", "practice": "content-calendar", "metric": "mentions",
            "streams": ["acme-news"], "start": "2026-01-05", "end": "2026-01-18", "owner": "o" * 201}  # fmt: skip
    created = await local_client.post("/api/v1/experiments", json=body)
    assert created.status_code == 422 and {e["field"] for e in created.json()["detail"]} == {"title", "owner"}
    learning = await local_client.post("/api/v1/experiments/2/conclude", json={"learning": "l" * 100_001})
    assert learning.status_code == 422 and learning.json()["detail"][0]["field"] == "learning"
    assert (await local_client.post(NOTE, json={"text": "x" * 100_000})).status_code == 201


async def test_the_api_rate_limit_answers_429_with_retry_after(ana: World) -> None:
    app = remote_app(ana, rate_limit=(5, 60))
    one, _ = accounts.create_token(ana.store, "one")
    two, _ = accounts.create_token(ana.store, "two")
    async with client_for(app, REMOTE) as client:
        codes = [
            (await client.get("/api/v1/streams", headers={"authorization": f"Bearer {one}"}))
            for _ in range(6)
        ]
        assert [r.status_code for r in codes] == [200] * 5 + [429]
        assert (
            1 <= int(codes[-1].headers["retry-after"]) <= 60
            and "too many requests" in codes[-1].json()["detail"]
        )
        other = await client.get("/api/v1/streams", headers={"authorization": f"Bearer {two}"})
        assert other.status_code == 200, "the limit is per token"
        await login(client)
        assert (await client.get("/api/v1/streams")).status_code == 200, "and per session"


OUT_OF_RANGE = [
    ("/api/v1/mentions?page=\u00b2", "page"),
    ("/api/v1/mentions?per_page=\u00b3", "per_page"),
    ("/api/v1/mentions?since=0001-01-01", "since"),
    ("/api/v1/mentions?until=9999-12-31", "until"),
    ("/api/v1/mentions?page=99999999999999999999", "page"),
    ("/api/v1/reflection?as_of=9999-12-31", "as_of"),
    ("/api/v1/reflection?as_of=0001-01-01", "as_of"),
    ("/api/v1/experiments/12345678901234567890", "exp_id"),
    ("/api/v1/experiments/12345678901234567890/results", "exp_id"),
]


@pytest.mark.parametrize(("url", "field"), OUT_OF_RANGE)
async def test_out_of_range_parameters_are_named_never_a_500(
    local_client: httpx.AsyncClient, url: str, field: str
) -> None:
    response = await local_client.get(url)
    assert response.status_code in (400, 422), response.text
    assert field in {e["field"] for e in response.json()["detail"]}


async def test_out_of_range_values_on_pages_and_forms(local_client: httpx.AsyncClient) -> None:
    client = local_client
    for url in ("/mentions?since=0001-01-01&until=9999-12-31&page=\u00b2", "/maturity?as_of=9999-12-31"):
        page = await client.get(url)
        assert page.status_code == 200 and "expected a day like" in page.text, url
    assert (await client.get("/experiments/12345678901234567890")).status_code == 404
    noted = await client.post("/api/v1/experiments/12345678901234567890/notes", json={"text": "x"})
    assert noted.status_code == 422
    token = csrf_of((await client.get("/experiments/new")).text)
    fields = {"csrf_token": token, "title": "t", "hypothesis": "h", "practice": "content-calendar",
              "metric": "mentions", "streams": "acme-news", "start": "0001-01-01", "end": "0001-01-20"}  # fmt: skip
    form = await client.post("/experiments", data=fields)
    assert form.status_code == 400 and 'id="start-error"' in form.text
    api = await client.post("/api/v1/experiments", json={k: v for k, v in fields.items() if k != "csrf_token"}
                            | {"streams": ["acme-news"]})  # fmt: skip
    assert api.status_code == 422 and "start" in {e["field"] for e in api.json()["detail"]}


# -- 4. tokens and the Account page -----------------------------------------------------------


async def test_revoked_expired_and_read_only_tokens(ana: World) -> None:
    full, record = accounts.create_token(ana.store, "full")
    reader, _ = accounts.create_token(ana.store, "reader", read_only=True)
    short, short_record = accounts.create_token(ana.store, "short", expires=timedelta(days=90))
    assert short_record["expires_at"] and record["read_only"] is False
    async with client_for(remote_app(ana), REMOTE) as client:

        def bearer(token: str) -> dict[str, str]:
            return {"authorization": f"Bearer {token}"}

        assert (await client.get("/api/v1/experiments", headers=bearer(reader))).status_code == 200
        refused = await client.post(NOTE, json={"text": "x"}, headers=bearer(reader))
        assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
        assert (await client.post(NOTE, json={"text": "x"}, headers=bearer(full))).status_code == 201
        assert (await client.get("/api/v1/streams", headers=bearer(short))).status_code == 200
        with ana.store.write() as session:
            session.execute(update(ApiToken).where(ApiToken.name == "short").values(expires_at=utcnow()))
        assert (await client.get("/api/v1/streams", headers=bearer(short))).status_code == 401
        assert accounts.revoke_token(ana.store, record["id"])
        assert (await client.get("/api/v1/streams", headers=bearer(full))).status_code == 401
        assert not accounts.revoke_token(ana.store, record["id"]), "already revoked"
    listed = {t["name"]: t for t in accounts.list_tokens(ana.store)}
    assert listed["full"]["state"] == "revoked" and listed["short"]["state"] == "expired"
    assert listed["reader"]["last_used_at"] is not None and listed["reader"]["state"] == "active"
    uses = [a for a in actions(ana) if a[1] == "token.use"]
    assert {u[0] for u in uses} == {"token:full", "token:reader", "token:short"}


async def test_the_account_page_changes_the_password_and_ends_own_sessions_and_tokens(ana: World) -> None:
    app = remote_app(ana)
    with ana.store.read() as session:
        ana_id = session.scalar(select(WebSession.user_id)) or 1
    mine, mine_record = accounts.create_token(ana.store, "ana's script", user="ana")
    accounts.create_token(ana.store, "someone else's")
    async with client_for(app, REMOTE) as phone, client_for(app, REMOTE) as laptop:
        await login(phone, headers={"user-agent": "Phone"})
        await login(laptop, headers={"user-agent": "Laptop"})
        page = await laptop.get("/account")
        assert page.status_code == 200 and "Phone" in page.text and "Laptop" in page.text
        assert "ana&#39;s script" in page.text and "someone else" not in page.text
        token = csrf_of(page.text)
        phone_id = accounts.user_sessions(
            ana.store, ana_id, idle=timedelta(hours=1), lifetime=timedelta(days=1)
        )[-1]
        assert phone_id["user_agent"] == "Phone"
        ended = await laptop.post(f"/account/sessions/{phone_id['id']}/end", data={"csrf_token": token})
        assert ended.status_code == 303 and (await phone.get("/")).status_code == 303
        revoked = await laptop.post(f"/account/tokens/{mine_record['id']}/revoke", data={"csrf_token": token})
        assert revoked.status_code == 303
        assert (
            await laptop.get("/api/v1/streams", headers={"authorization": f"Bearer {mine}"})
        ).status_code == 401
        other = next(t for t in accounts.list_tokens(ana.store) if t["name"] == "someone else's")
        assert (
            await laptop.post(f"/account/tokens/{other['id']}/revoke", data={"csrf_token": token})
        ).status_code == 404

        await login(phone)
        wrong = await laptop.post("/account/password", data={"csrf_token": token, "current": "nope",
                                                             "new": "a new long password", "confirm": "a new long password"})  # fmt: skip
        assert wrong.status_code == 303 and "not your current password" in (await laptop.get("/account")).text
        token = csrf_of((await laptop.get("/account")).text)
        changed = await laptop.post("/account/password", data={"csrf_token": token, "current": PASSWORD,
                                                               "new": "a new long password", "confirm": "a new long password"})  # fmt: skip
        assert changed.status_code == 303
        assert (await laptop.get("/")).status_code == 200, "this browser stays signed in"
        assert (await phone.get("/")).status_code == 303, "every other session has ended"
        assert (await login(phone, "a new long password")).status_code == 303


async def test_the_account_page_needs_a_login(local_client: httpx.AsyncClient) -> None:
    assert (await local_client.get("/account")).status_code == 404


# -- 5. audit log -----------------------------------------------------------------------------


async def test_logins_logouts_tokens_and_experiment_changes_are_audited(ana: World) -> None:
    auth.add_user(ana.store, "bob", PASSWORD, admin=False)
    token, _ = accounts.create_token(ana.store, "ci")
    app = remote_app(ana)
    async with client_for(app, REMOTE) as client:
        await login(client, "wrong password")
        await login(client)
        body = {"title": "By a script", "hypothesis": "h", "practice": "content-calendar", "metric": "mentions",
                "streams": ["acme-news"], "start": "2026-01-05", "end": "2026-01-18"}  # fmt: skip
        made = await client.post(
            "/api/v1/experiments", json=body, headers={"authorization": f"Bearer {token}"}
        )
        assert made.status_code == 201 and made.json()["created_by"] == "token:ci"
        page = await client.get("/")
        assert 'href="/audit"' in page.text, "admins find the audit log in the navigation"
        csrf = csrf_of(page.text)
        await client.post("/experiments/2/notes", data={"csrf_token": csrf, "text": "by ana"})
        await client.post(f"/experiments/{made.json()['id']}/measure", data={"csrf_token": csrf})
        await client.post(f"/experiments/{made.json()['id']}/cancel", data={"csrf_token": csrf, "confirm": "yes"})
        audit_page = await client.get("/audit")
        assert audit_page.status_code == 200 and "experiment.create" in audit_page.text
        await client.post("/logout", data={"csrf_token": csrf})
        await login(client, name="bob")
        assert (await client.get("/audit")).status_code == 403, "only admins see the audit log"
        assert 'href="/audit"' not in (await client.get("/")).text
    seen = actions(ana)
    exp = f"experiment:{made.json()['id']}"
    for event in [
        ("ana", "login.failure", "user:ana", "127.0.0.1"),
        ("ana", "login", "user:ana", "127.0.0.1"),
        ("token:ci", "experiment.create", exp, None),
        ("ana", "experiment.note", "experiment:2", None),
        ("ana", "experiment.measure", exp, None),
        ("ana", "experiment.cancel", exp, None),
        ("ana", "logout", None, "127.0.0.1"),
        ("bob", "login", "user:bob", "127.0.0.1"),
    ]:
        if event[1] == "logout":
            assert any(e[0] == "ana" and e[1] == "logout" for e in seen), seen
        else:
            assert event in seen, (event, seen)
    assert any(e[1] == "token.create" for e in seen) and any(
        e[1] == "token.use" and e[3] == "127.0.0.1" for e in seen
    )
    first = audit.events(ana.store)[0]  # the world's experiments, registered through the services
    assert first["action"] == "experiment.create" and first["actor"].startswith("cli:")
    assert ("token:ci", "token.use", None, None) not in seen and any(e[1] == "user.add" for e in seen)
