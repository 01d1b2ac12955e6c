"""`tracker user …`, `tracker token …`, `tracker audit` and `tracker web rotate-key` (issue 17, items 1, 4, 5)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import write_config
from tracker.config import load_settings
from tracker.store.db import open_store
from tracker.store.models import User, WebSession
from tracker.web import auth

PASSWORD = "correct horse battery"


@pytest.fixture
def config(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_config(tmp_path)
    monkeypatch.setattr("typer.prompt", lambda *a, **k: PASSWORD)
    assert cli("--config", path, "user", "add", "ana").code == 0
    return path


def _session_for(config: Path, name: str) -> str:
    from tracker import accounts

    store = open_store(load_settings(config).database_url)
    try:
        with store.read() as session:
            user_id = session.scalars(select(User.id).where(User.name == name)).one()
        return accounts.start_session(store, user_id, client="127.0.0.1", user_agent="test")
    finally:
        store.close()


def _open_sessions(config: Path) -> int:
    store = open_store(load_settings(config).database_url)
    try:
        with store.read() as session:
            return len(session.scalars(select(WebSession).where(WebSession.ended_at.is_(None))).all())
    finally:
        store.close()


def test_users_are_listed_disabled_enabled_given_passwords_and_removed(config: Path, cli: Any) -> None:
    assert cli("--config", config, "user", "add", "bob", "--no-admin").code == 0
    listed = json.loads(cli("--config", config, "user", "list", "--json").out)
    assert [(u["name"], u["admin"], u["disabled"]) for u in listed] == [
        ("ana", True, False),
        ("bob", False, False),
    ]
    _session_for(config, "bob")
    assert _open_sessions(config) == 1
    disabled = cli("--config", config, "user", "disable", "bob")
    assert disabled.code == 0 and "every session of it has ended" in disabled.out
    assert _open_sessions(config) == 0, "disabling ends the sessions at once"
    assert "already disabled" in cli("--config", config, "user", "disable", "bob").out
    assert "(disabled)" in cli("--config", config, "user", "list").out
    enabled = json.loads(cli("--config", config, "user", "enable", "bob", "--json").out)
    assert enabled["disabled"] is False and enabled["changed"] is True
    _session_for(config, "bob")
    passwd = cli("--config", config, "user", "passwd", "bob")
    assert passwd.code == 0 and _open_sessions(config) == 0
    unknown = cli("--config", config, "user", "passwd", "carol")
    assert unknown.code == 2 and "no user 'carol'" in unknown.err
    assert cli("--config", config, "user", "remove", "bob", "--yes").code == 0
    assert [u["name"] for u in json.loads(cli("--config", config, "user", "list", "--json").out)] == ["ana"]
    assert cli("--config", config, "user", "remove", "bob", "--yes").code == 2


def test_tokens_are_created_listed_and_revoked(config: Path, cli: Any) -> None:
    made = cli(
        "--config",
        config,
        "token",
        "create",
        "--name",
        "nightly",
        "--expires",
        "90d",
        "--read-only",
        "--json",
    )
    assert made.code == 0
    record = json.loads(made.out)
    assert record["token"].startswith("trk_") and record["read_only"] is True and record["expires_at"]
    plain = cli("--config", config, "token", "create", "--name", "ci", "--user", "ana")
    assert plain.code == 0 and plain.out.strip().startswith("trk_"), "the old output is kept"
    listed = json.loads(cli("--config", config, "token", "list", "--json").out)
    assert [(t["name"], t["user"], t["state"], t["last_used_at"]) for t in listed] == [
        ("nightly", None, "active", None),
        ("ci", "ana", "active", None),
    ]
    assert all("token" not in t and record["token"] not in json.dumps(t) for t in listed)
    assert "last used never" in cli("--config", config, "token", "list").out
    assert cli("--config", config, "token", "revoke", str(record["id"])).code == 0
    assert json.loads(cli("--config", config, "token", "list", "--json").out)[0]["state"] == "revoked"
    assert "already revoked" in cli("--config", config, "token", "revoke", str(record["id"])).out
    again = json.loads(cli("--config", config, "token", "revoke", str(record["id"]), "--json").out)
    assert again["state"] == "revoked" and again["changed"] is False
    missing = cli("--config", config, "token", "revoke", "999")
    assert missing.code == 2 and "no token with id 999" in missing.err
    bad = cli("--config", config, "token", "create", "--expires", "soon")
    assert bad.code == 2 and "--expires" in bad.err


def test_the_audit_log_is_shown_with_since_and_json(config: Path, cli: Any) -> None:
    cli("--config", config, "token", "create", "--name", "ci")
    cli("--config", config, "user", "disable", "ana")
    events = json.loads(cli("--config", config, "audit", "--json").out)
    assert [e["action"] for e in events] == ["user.add", "token.create", "user.disable"]
    assert all(e["actor"].startswith("cli:") and e["at"].endswith("Z") for e in events)
    text = cli("--config", config, "audit").out
    assert "user.disable user:ana" in text
    assert json.loads(cli("--config", config, "audit", "--since", "2999-01-01", "--json").out) == []
    assert len(json.loads(cli("--config", config, "audit", "--since", "2020-01-01", "--json").out)) == 3
    bad = cli("--config", config, "audit", "--since", "last week")
    assert bad.code == 2 and "--since" in bad.err


def test_rotate_key_ends_every_session_and_writes_a_private_key(config: Path, cli: Any) -> None:
    settings = load_settings(config)
    old = auth.session_key(settings)
    _session_for(config, "ana")
    rotated = cli("--config", config, "web", "rotate-key")
    assert rotated.code == 0 and "1 sessions ended" in rotated.out
    path = settings.directory / auth.KEY_FILE
    assert path.read_text().strip() != old and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert _open_sessions(config) == 0
