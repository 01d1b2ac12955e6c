"""Fixtures of the digest tests: the known world (built once, copied per test) and real SMTP servers."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.digest import world
from tracker.config import Settings, load_settings

PASSWORD = "s3cret-Pa55word!"  # what TRACKER_TEST_SMTP_PASSWORD holds in the tests
PASSWORD_ENV = "TRACKER_TEST_SMTP_PASSWORD"


@pytest.fixture(scope="session")
def world_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite database of the known world, built once for the session."""
    folder = tmp_path_factory.mktemp("world")
    world.build(folder, f"sqlite:///{folder / 'world.db'}")
    return folder / "world.db"


@dataclass
class Env:
    """A copy of the known world with a config that can be rewritten (mail settings)."""

    dir: Path
    db_url: str

    def configure(self, extra: str = "") -> Path:
        return write_config(self.dir, db_url=self.db_url, streams=world.STREAMS, extra=extra)

    def settings(self, extra: str = "") -> Settings:
        return load_settings(self.configure(extra))


@pytest.fixture
def env(tmp_path: Path, world_db: Path) -> Env:
    shutil.copy(world_db, tmp_path / "tracker.db")
    e = Env(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    e.configure()
    return e


def mail_config(port: int, *, to: tuple[str, ...] = ("team@acme.example",), security: str = "none",
                username: str | None = None, at: str = "08:00") -> str:  # fmt: skip
    lines = [
        "[digest]",
        "to = [" + ", ".join(f'"{r}"' for r in to) + "]",
        'from = "tracker@acme.example"',
        'weekday = "mon"',
        f'time = "{at}"',
        "",
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f'security = "{security}"',
        'timeout = "5s"',
    ]
    if username:
        lines += [f'username = "{username}"', f'password_env = "{PASSWORD_ENV}"']
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- SMTP servers -------------------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it accepts; `refuse` addresses get 550 at RCPT."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    drop_after_data: bool = False  # close the connection instead of answering DATA: in doubt

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 <" + address + ">: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if self.drop_after_data:
            server.transport.abort()
        return "250 Message accepted for delivery"

    def to(self, recipient: str) -> list[EmailMessage]:
        return [parse(content) for _, rcpts, content in self.messages if recipient in rcpts]


def parse(content: bytes) -> EmailMessage:
    message = message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@dataclass
class Server:
    port: int
    inbox: Inbox
    logins: list[tuple[bytes, bytes]]


@pytest.fixture
def start_smtp() -> Iterator[Callable[..., Server]]:
    """Start aiosmtpd servers on 127.0.0.1 (stopped at the end of the test)."""
    from aiosmtpd.controller import Controller

    controllers: list[Any] = []

    def start(*, port: int | None = None, inbox: Inbox | None = None, **options: Any) -> Server:
        inbox = inbox or Inbox()
        logins: list[tuple[bytes, bytes]] = []
        if options.pop("auth", False):
            options["authenticator"] = _authenticator(logins)
        port = port or free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return Server(port, inbox, logins)

    yield start
    for controller in controllers:
        controller.stop()


def _authenticator(logins: list[tuple[bytes, bytes]]) -> Callable[..., Any]:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        logins.append((data.login, data.password))
        return AuthResult(
            success=data.login == b"tracker" and data.password == PASSWORD.encode(), handled=False
        )

    return check


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl; an EC key is quick to make)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context
