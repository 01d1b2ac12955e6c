"""Secrets set through `*_env` never appear in output, logs, the database or exports,
even when every one of them is refused (401s on collection, SMTP authentication failing)."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.support import file_contains, running, wait_until
from tracker.sandbox.server import SandboxServer
from tracker.sandbox.world import generate_world

SECRETS = {
    "MASTO_TOKEN_FOR_TEST": "masto-tok-9f8e7d6c5b4a",
    "SMTP_PASSWORD_FOR_TEST": "smtp-pw-Zq8!Lm2#Xy",
}


def smtp_refusing_every_login() -> Any:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    def refuse(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        return AuthResult(success=False, handled=False)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(
        Inbox(), hostname="127.0.0.1", port=port, authenticator=refuse, auth_require_tls=False
    )
    controller.start()
    return controller


@pytest.mark.slow
def test_no_secret_value_is_ever_written_anywhere(tmp_path: Path) -> None:
    world = generate_world(seed=5, weeks=2)
    smtp = smtp_refusing_every_login()
    try:
        with SandboxServer(
            world, require_bluesky_login=True, block_anonymous_reddit=True, rate_limits={}
        ) as server:
            server.faults.add("/mastodon", "401", count=None)
            secrets = dict(SECRETS)
            for name, value in server.secrets().items():
                secrets[name] = f"wrong-{value}-x7"  # every credential is refused
            streams = []
            for config in server.stream_configs():
                config = {**config, "every": "15m", "run_timeout": "20s"}
                if config["name"] == "acme-mastodon":
                    config["token_env"] = "MASTO_TOKEN_FOR_TEST"
                streams.append(config)
            port = smtp.port
            extra = (
                '[collection]\nretries = 1\nbackoff = "10ms"\n'
                '[logging]\nfile = "tracker.log"\nlevel = "debug"\n'
                '[digest]\nto = ["team@acme.example"]\nfrom = "tracker@acme.example"\n'
                f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nusername = "tracker"\n'
                'password_env = "SMTP_PASSWORD_FOR_TEST"\ntimeout = "5s"\n'
            )
            config_path = write_config(tmp_path, streams=streams, extra=extra)
            env = {**os.environ, **secrets}
            tracker = [sys.executable, "-m", "tracker", "--config", str(config_path)]
            outputs: list[str] = []

            def run(*args: str, expect: int | None = None) -> None:
                result = subprocess.run(
                    [*tracker, *args], capture_output=True, text=True, env=env, timeout=300
                )
                outputs.append(result.stdout + result.stderr)
                if expect is not None:
                    assert result.returncode == expect, result.stdout + result.stderr

            run("collect", expect=1)
            run("collect", "--json", expect=1)
            run("status")
            run("status", "--json")
            run("digest", "--send", expect=1)
            run("digest", "--week", "2026-W40", "--json")
            run("mentions", "export", "--out", str(tmp_path / "export.jsonl"), expect=0)
            run("mentions", "export", "--format", "csv")
            run("--debug", "experiment", "list")
            worker = subprocess.Popen([*tracker, "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=env)  # fmt: skip
            # Until the worker is up (its streams were just collected, so none is due): what it logs
            # starting and stopping is what must stay clean.
            wait_until(file_contains(tmp_path / "tracker.log", "worker started"), "the worker", alive=running(worker))
            worker.send_signal(signal.SIGTERM)
            outputs.append("".join(worker.communicate(timeout=60)))
    finally:
        smtp.stop()

    joined = "\n".join(outputs)
    assert "needs" in joined or "refused" in joined, "the refusals were reported"
    assert "authentication refused" in joined
    files = [tmp_path / name for name in ("tracker.log", "export.jsonl", "tracker.db", "tracker.db-wal")]
    blobs = [path.read_bytes() for path in files if path.exists()] + [joined.encode()]
    for value in secrets.values():
        forms = {
            value.encode(),
            base64.b64encode(value.encode()),
            base64.b64encode(b"\0tracker\0" + value.encode()),
        }
        for blob in blobs:
            for form in forms:
                assert form not in blob, f"a secret ({value[:4]}...) leaked"
