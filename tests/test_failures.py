"""Unexpected errors name the file and the fix (issue 17, item 9): a full disk, a damaged
database, a deeply nested or binary config or model file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests.conftest import write_config

NESTED = "x = " + "[" * 5000 + "]" * 5000 + "\n"


def one_line(result: Any) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "unexpected" not in lines[0] and "Error" not in lines[0] and "Traceback" not in result.err
    return lines[0]


def test_a_damaged_database_names_the_file_and_the_fix(tmp_path: Path, cli: Any) -> None:
    config = write_config(tmp_path)
    (tmp_path / "tracker.db").write_bytes(b"this is no database at all\0" * 400)
    result = cli("--config", config, "status")
    line = one_line(result)
    assert result.code == 2 and str(tmp_path / "tracker.db") in line and "restore it from a backup" in line


def test_a_full_disk_names_the_database_and_the_fix(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path)
    assert cli("--config", config, "status").code == 0

    def full(*args: object, **kwargs: object) -> None:
        raise OperationalError(
            "INSERT INTO experiments ...", {}, sqlite3.OperationalError("database or disk is full")
        )

    monkeypatch.setattr("tracker.experiments.Registry.note", full)
    result = cli("--config", config, "experiment", "note", "1", "text")
    line = one_line(result)
    assert result.code == 1 and str(tmp_path / "tracker.db") in line and "free some space" in line


def test_a_full_disk_while_writing_a_file_names_it(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    config = write_config(tmp_path)
    out = tmp_path / "export.jsonl"

    def no_space(*args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(out) + ".partial")

    monkeypatch.setattr("tracker.mentions.export", no_space)
    result = cli("--config", config, "mentions", "export", "--out", out)
    line = one_line(result)
    assert result.code == 1 and str(out) in line and "free some space" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (NESTED.encode(), "nests arrays or tables too deeply"),
        (b"\x89PNG\r\n\x1a\n\0\0\xff\xfe" * 50, "not a text file"),
    ],
)
def test_a_nested_or_binary_config_is_one_line(
    tmp_path: Path, cli: Any, content: bytes, expected: str
) -> None:
    config = tmp_path / "tracker.toml"
    config.write_bytes(content)
    result = cli("--config", config, "status")
    line = one_line(result)
    assert result.code == 2 and str(config) in line and expected in line and "tracker init" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [(NESTED.encode(), "nests arrays or tables too deeply"), (b"\xff\xfe\0\0binary" * 50, "not a text file")],
)
def test_a_nested_or_binary_maturity_model_is_one_line(
    tmp_path: Path, cli: Any, content: bytes, expected: str
) -> None:
    (tmp_path / "model.toml").write_bytes(content)
    config = write_config(tmp_path, extra='[maturity]\nmodel = "model.toml"\n')
    result = cli("--config", config, "reflect")
    line = one_line(result)
    assert result.code == 2 and "model.toml" in line and expected in line and "[maturity] model" in line


@pytest.mark.parametrize(
    "args",
    [("mentions", "export", "--since", "0001-01-01"), ("mentions", "export", "--until", "9999-12-31"),
     ("reflect", "--as-of", "9999-12-31"), ("audit", "--since", "0001-01-01"),
     ("experiment", "show", "12345678901234567890"), ("experiment", "measure", "12345678901234567890"),
     ("experiment", "note", "12345678901234567890", "text"), ("token", "revoke", "12345678901234567890")],
)  # fmt: skip
def test_days_and_ids_out_of_range_on_the_command_line_are_named(
    tmp_path: Path, cli: Any, args: tuple[str, ...]
) -> None:
    result = cli("--config", write_config(tmp_path), *args)
    line = one_line(result)
    named = "12345678901234567890" if "12345678901234567890" in args else args[-2]
    assert result.code == 2 and named in line
