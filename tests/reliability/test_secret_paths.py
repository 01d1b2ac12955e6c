"""Secrets stay secret on every path (issue 17, item 7): an SMTP server that echoes the
credentials, file modes, and credentials written into URLs."""

from __future__ import annotations

import base64
import os
import re
import smtplib
import socket
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tracker.config import SmtpConfig, load_settings
from tracker.digest.scrub import cores, scrub
from tracker.digest.send import connect, describe
from tracker.errors import ConfigError
from tracker.logs import setup_logging
from tracker.store.db import open_store
from tracker.web import auth

PASSWORD = "Tr0ub4dor&3-horse-staple"
USER = "ops"


def plain(prefix: bytes = b"") -> str:
    return base64.b64encode(prefix + b"\0" + USER.encode() + b"\0" + PASSWORD.encode()).decode()


def leaks(text: str) -> bool:
    """True when `text` holds the password, or 8 of its bytes in a row, plain or in base64 at
    any alignment (whitespace inside a base64 run ignored)."""
    secret = PASSWORD.encode()
    windows = [secret[i : i + 8] for i in range(len(secret) - 7)]
    if any(w.decode() in text for w in windows):
        return True
    compact = "".join(text.split())
    for run in re.findall(r"[A-Za-z0-9+/=]{8,}", compact):
        for shift in range(4):
            chunk = run[shift:].rstrip("=")
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            decoded = base64.b64decode(chunk.replace("=", "A")) if chunk else b""
            if any(w in decoded for w in windows):
                return True
    return False


def forms() -> list[str]:
    """Every encoding a leak could take: plain, base64 at each alignment, and their cores."""
    secret = PASSWORD.encode()
    found = [PASSWORD, base64.b64encode(secret).decode(), plain()]
    found += [base64.b64encode(b"\0" * k + secret).decode()[4:-4] for k in range(3)]
    return found + cores(secret)


ECHOES = {
    "plain": lambda mech: f"535 5.7.8 refused credentials {plain() if mech == 'PLAIN' else _login()}",
    "shifted by one byte": lambda mech: f"535 5.7.8 refused {plain(b'x')}",
    "shifted by two bytes": lambda mech: f"535 5.7.8 refused {plain(b'xy')}",
    "split over reply lines": lambda mech: (
        f"535-5.7.8 refused {plain()[:13]}\r\n535 {plain()[13:]} (see logs)"
    ),
    "cut short": lambda mech: f"535 5.7.8 refused {plain()[:-6]}",
    "the password itself": lambda mech: f"535 5.7.8 password {PASSWORD!s} is wrong",
}


def _login() -> str:
    return base64.b64encode(PASSWORD.encode()).decode()


@pytest.fixture
def echoing_server() -> Iterator[Any]:
    """An aiosmtpd server that refuses every login and echoes what it got (a misbehaving relay)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    state: dict[str, Any] = {"echo": "plain", "seen": []}

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        state["seen"].append((mechanism, data.login, data.password))
        return AuthResult(success=False, handled=False, message=ECHOES[state["echo"]](mechanism))

    controllers = []
    for exclude in (["LOGIN"], ["PLAIN"]):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        controller = Controller(
            Inbox(),
            hostname="127.0.0.1",
            port=port,
            authenticator=authenticator,
            auth_require_tls=False,
            auth_exclude_mechanism=exclude,
        )
        controller.start()
        controllers.append(controller)
    state["ports"] = {"PLAIN": controllers[0].port, "LOGIN": controllers[1].port}
    try:
        yield state
    finally:
        for controller in controllers:
            controller.stop()


CASES = [("PLAIN", echo) for echo in ECHOES] + [("LOGIN", "plain"), ("LOGIN", "the password itself")]


@pytest.mark.parametrize(("mechanism", "echo"), CASES)
def test_the_smtp_password_is_scrubbed_from_an_echoing_server(
    echoing_server: Any, mechanism: str, echo: str
) -> None:
    echoing_server["echo"] = echo
    smtp = SmtpConfig(host="127.0.0.1", port=echoing_server["ports"][mechanism], security="none",
                      username=USER, password_env="SMTP_PW", timeout=timedelta(seconds=10))  # fmt: skip
    with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        connect(smtp, PASSWORD)
    assert echoing_server["seen"][-1] == (mechanism, USER.encode(), PASSWORD.encode())
    assert leaks(caught.value.smtp_error.decode()), "the server did echo the secret"
    message = describe(caught.value, smtp, PASSWORD)
    assert message.startswith(f"authentication refused by 127.0.0.1:{smtp.port}: 535")
    assert not leaks(message), message
    for form in forms():
        assert form not in message, (form, message)
    assert "\n" not in message


def test_scrub_finds_the_password_in_base64_at_any_alignment_and_inside_text() -> None:
    secret = PASSWORD.encode()
    for k in range(6):
        for prefix in (b"", b"\0ops\0", b"user@example.org\0"):
            blob = base64.b64encode(b"z" * k + prefix + secret + b"\0tail").decode()
            text = f"error: got {blob}, and more"
            assert leaks(text)
            cleaned = scrub(text, PASSWORD)
            assert cleaned.startswith("error: got ") and cleaned.endswith(", and more")
            assert not leaks(cleaned), cleaned
            for form in forms():
                assert form not in cleaned
    assert scrub("nothing secret here", PASSWORD) == "nothing secret here"
    assert scrub("x", None) == "x"


def test_the_database_log_and_session_key_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.umask(0o022)  # what a default shell gives: files readable by everyone
    config = write_config(tmp_path, extra='[logging]\nfile = "logs/tracker.log"\n')
    settings = load_settings(config)
    store = open_store(settings.database_url)
    try:
        auth.add_user(store, "ana", "correct horse battery")  # a write: the WAL exists now
        setup_logging(settings, quiet=True)
        import logging

        logging.getLogger("tracker.test").warning("a line")
        auth.session_key(settings)
        paths = [tmp_path / "tracker.db", tmp_path / "tracker.db-wal", tmp_path / "logs" / "tracker.log",
                 tmp_path / auth.KEY_FILE]  # fmt: skip
        for path in paths:
            assert path.exists(), path
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    finally:
        store.close()
        for handler in logging.getLogger("tracker").handlers:
            handler.close()


@pytest.mark.parametrize(
    ("extra", "streams", "key", "hint"),
    [
        ("", [{"name": "news", "connector": "rss", "url": "https://bob:s3cr3t-pw@news.example/feed.xml",
               "every": "1h"}], "streams[0].url", "token_env"),
        ("", [{"name": "m", "connector": "mastodon", "hashtag": "acme", "every": "1h",
               "base_url": "https://bob:s3cr3t-pw@mastodon.example"}], "streams[0].base_url", "_env"),
        ('[database]\nurl = "postgresql+psycopg://tracker:s3cr3t-pw@db.example/tracker"\n', [], "database.url",
         "PGPASSWORD"),
    ],
)  # fmt: skip
def test_credentials_inside_a_url_are_refused(
    tmp_path: Path, extra: str, streams: list[dict[str, Any]], key: str, hint: str
) -> None:
    config = write_config(tmp_path, streams=streams, extra=extra)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    text = "\n".join(caught.value.problems)
    assert f"{key}: " in text and hint in text and "s3cr3t-pw" not in text


def test_a_user_name_alone_in_a_database_url_is_fine(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, extra='[database]\nurl = "postgresql+psycopg://tracker@db.example/tracker"\n'
    )
    assert load_settings(config).database_url.startswith("postgresql")
