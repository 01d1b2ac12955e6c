"""CLI conventions: help everywhere, exit codes, no tracebacks, init, both entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from tracker.cli import app
from tracker.config import load_settings


def all_commands() -> list[list[str]]:
    """Every command path of the CLI, e.g. ["mentions", "import"]."""
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(root, [])
    return found


def test_the_commands_of_this_stage_exist() -> None:
    commands = {" ".join(c) for c in all_commands()}
    assert {"init", "db upgrade", "mentions import", "mentions export"} <= commands


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p))
def test_every_command_has_help(path: list[str], cli: Any) -> None:
    result = cli(*path, "--help")
    assert result.code == 0
    assert "--config" in result.out, "every command takes --config"
    root = typer.main.get_command(app)
    command: Any = root
    for name in path:
        command = command.commands[name]
    assert command.help and command.help.strip(), f"{' '.join(path)} has no help text"
    for param in command.params:
        if param.name != "help" and not param.hidden:
            assert getattr(param, "help", None) or param.param_type_name == "argument", param.name


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert result.code == 0 and result.out.startswith("tracker ")


def test_unknown_command_is_usage_error(cli: Any) -> None:
    assert cli("frobnicate").code == 2


def test_unexpected_error_has_no_traceback_unless_debug(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracker.mentions

    def boom(**_: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tracker.mentions, "export", boom)
    config = tmp_path / "tracker.toml"
    assert cli("init", tmp_path).code == 0
    result = cli("--config", config, "mentions", "export")
    assert result.code == 1
    assert "Traceback" not in result.err and "unexpected problem (disk on fire)" in result.err
    assert "RuntimeError" not in result.err
    with pytest.raises(RuntimeError):
        cli("--debug", "--config", config, "mentions", "export")


def test_ctrl_c_in_any_command_says_interrupted_with_exit_130(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typer turns Ctrl-C into exit status 130 without a word: the user is told it stopped."""
    import tracker.mentions

    def interrupted(**_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tracker.mentions, "export", interrupted)
    config = tmp_path / "tracker.toml"
    assert cli("init", tmp_path).code == 0
    result = cli("--config", config, "mentions", "export")
    assert result.code == 130 and result.err.strip() == "interrupted", result
    monkeypatch.setattr(tracker.mentions, "import_file", interrupted)
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"platform": "rss", "external_id": "1", "text": "x", "created_at": "2026-01-01T00:00:00Z"}\n')
    said = cli("--config", config, "mentions", "import", lines, "--stream", "feed")
    assert said.code == 130 and said.err.startswith("stopped after reading 0 lines: 0 stored"), said
    assert "interrupted" not in said.err, "the import's own line says it"


def test_init_writes_a_valid_commented_config_and_database(tmp_path: Path, cli: Any) -> None:
    result = cli("init", tmp_path / "team", "--name", "Globex Marketing")
    assert result.code == 0, result.err
    path = tmp_path / "team" / "tracker.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count("#") > 20, "the starter is commented"
    settings = load_settings(path)
    assert settings.organisation.name == "Globex Marketing"
    assert (tmp_path / "team" / "tracker.db").exists()
    again = cli("init", tmp_path / "team")
    assert again.code == 2 and "already exists" in again.err
    assert cli("init", tmp_path / "team", "--force").code == 0


def test_python_dash_m_and_console_script(tmp_path: Path) -> None:
    for command in ([sys.executable, "-m", "tracker"], [str(Path(sys.executable).parent / "tracker")]):
        result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "mentions" in result.stdout


def test_subprocess_exit_codes_and_clean_errors(tmp_path: Path) -> None:
    tracker = [sys.executable, "-m", "tracker"]
    missing = subprocess.run([*tracker, "--config", tmp_path / "none.toml", "mentions", "export"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "tracker init" in missing.stderr and "Traceback" not in missing.stderr
