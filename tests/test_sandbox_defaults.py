"""The sandbox's defaults (seed, weeks, port, brand, competitor) are set once, in
tracker.config.SANDBOX_DEFAULTS, and every entry point agrees with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tracker.config import SANDBOX_DEFAULTS, load_settings


def test_a_sandbox_section_without_values_takes_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, extra="[sandbox]\n"))
    assert settings.sandbox == SANDBOX_DEFAULTS
    assert (SANDBOX_DEFAULTS.seed, SANDBOX_DEFAULTS.port) == (42, 0)


def test_python_m_tracker_sandbox_takes_the_same_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.sandbox import __main__ as entry

    called: list[tuple[Any, ...]] = []
    monkeypatch.setattr(entry, "serve", lambda *args, **kwargs: called.append((args, kwargs)))
    assert entry.main([]) == 0
    (seed, weeks, port), options = called[0]
    assert (seed, weeks, port) == (SANDBOX_DEFAULTS.seed, SANDBOX_DEFAULTS.weeks, SANDBOX_DEFAULTS.port)
    assert (options["brand"], options["competitor"]) == (SANDBOX_DEFAULTS.brand, SANDBOX_DEFAULTS.competitor)


@pytest.mark.parametrize("command", [["demo"], ["sandbox", "serve"]])
def test_the_help_names_the_default_seed(cli: Any, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0
    assert re.search(rf"\b{SANDBOX_DEFAULTS.seed}\b", " ".join(result.out.split())), result.out


def test_sandbox_serve_without_a_config_serves_the_default_world(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tracker.sandbox.server as server

    called: list[tuple[Any, ...]] = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: called.append((args, kwargs)))
    monkeypatch.chdir(tmp_path)
    assert cli("sandbox", "serve").code == 0
    (seed, weeks, port), options = called[0]
    assert (seed, weeks, port) == (SANDBOX_DEFAULTS.seed, SANDBOX_DEFAULTS.weeks, SANDBOX_DEFAULTS.port)
    assert options["brand"] == SANDBOX_DEFAULTS.brand
