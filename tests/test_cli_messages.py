"""Every message a person can cause is in the product's words: no Python types, classes or tracebacks.

A table of wrong invocations across every command and every kind of argument (ids,
numbers, days, weeks, files, directories, stream names, ports, choices, a broken
config, a corrupt database) runs through the real entry point; each must fail with
its usage exit code and a message that names the thing and says what to do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.test_cli import all_commands

# Python leaking into a message: type names, exception classes, tracebacks, pydantic, repr of types.
PYTHON = re.compile(
    r"\b(int|str|float|bool|dict|tuple|NoneType|None|bytes)\b|list\[|<class|Traceback|File \"|, line \d+, in"
    r"|\b[A-Z][a-z]+(?:[A-Z][a-z]+)*(Error|Exception)\b|Input should be|isoformat|\[Errno|Errno \d|"
    r"Invalid value for|^Error: |\{[A-Z_]+\}|\[\[|<[a-z_\[\]]+>",
    re.MULTILINE,
)
JSONL_UNKNOWN_STREAM = '{"platform": "rss", "external_id": "1", "text": "t", "created_at": "2026-09-01T10:00:00Z", "stream": "acme-linkedin"}\n'
CSV_BAD_DAY = "platform,external_id,text,created_at,stream\nrss,1,hi,yesterday,brand\n"

# (arguments, exit code, a fragment the message must contain). {dir} is the test's directory.
WRONG: list[tuple[tuple[str, ...], int, str]] = [
    (("experiment", "show", "abc"), 2, "ID: expected a whole number, got 'abc'"),
    (("experiment", "reopen", "abc"), 2, "ID: expected a whole number, got 'abc'"),
    (("experiment", "reopen", "1"), 2, "--reason: required"),
    (("experiment", "plan", "--metric", "vibes", "--stream", "brand"), 2, "--metric: unknown metric 'vibes'"),
    (("user", "add"), 2, "NAME: required"),
    (("user", "list", "--bogus"), 2, "no such option --bogus"),
    (("user", "disable", "nobody"), 2, "no user 'nobody' (see `tracker user list`)"),
    (("user", "enable", "nobody"), 2, "no user 'nobody'"),
    (("user", "passwd", "nobody"), 2, "no user 'nobody'"),
    (("user", "remove", "nobody", "--yes"), 2, "no user 'nobody'"),
    (("token", "create", "--expires", "soon"), 2, "--expires: expected a duration like \"90d\""),
    (("token", "list", "--bogus"), 2, "no such option --bogus"),
    (("token", "revoke", "abc"), 2, "ID: expected a whole number, got 'abc'"),
    (("audit", "--since", "yesterday"), 2, "--since: expected a day like 2026-09-01"),
    (("web", "rotate-key", "--bogus"), 2, "no such option --bogus"),
    (("mentions", "search"), 2, "QUERY: required"),
    (("mentions", "search", "(acme"), 2, "unbalanced parenthesis at position 1"),
    (("mentions", "search", "--limt"), 2, "no such option --limt"),
    (("search", "add"), 2, "NAME: required"),
    (("search", "list", "--bogus"), 2, "no such option --bogus"),
    (("search", "show", "nope"), 2, "no saved search 'nope'"),
    (("search", "rename", "nope", "new"), 2, "no saved search 'nope'"),
    (("search", "remove", "nope"), 2, "no saved search 'nope'"),
    (("practices", "--bogus"), 2, "no such option --bogus"),
    (("alerts", "list", "--bogus"), 2, "no such option --bogus"),
    (("alerts", "check", "--bogus"), 2, "no such option --bogus"),
    (("alerts", "history", "--since", "yesterday"), 2, "--since: expected a day like 2026-09-01, got 'yesterday'"),
    (("alerts", "test"), 2, "NAME: required"),
    (("alerts", "test", "nope"), 2, "no alert named 'nope'"),
    (("label", "import"), 2, "FILE: required"),
    (("label", "export", "--format", "xml"), 2, "--format must be jsonl or csv"),
    (("label", "add", "abc", "positive"), 2, "MENTION: expected a whole number, got 'abc'"),
    (("label", "train", "--lang"), 2, "'--lang' requires an argument"),
    (("label", "status", "--bogus"), 2, "no such option --bogus"),
    (("label", "queue", "--bogus"), 2, "no such option --bogus"),
    (("label", "exclusions", "--stream"), 2, "'--stream' requires an argument"),
    (("experiment", "show"), 2, "ID: required"),
    (("experiment", "show", "99"), 2, "no experiment with id 99"),
    (("experiment", "show", "1.5"), 2, "ID: expected a whole number"),
    (("experiment", "edit", "abc"), 2, "ID: expected a whole number"),
    (("experiment", "edit", "1", "--start", "yesterday"), 2, "--start: expected a day like"),
    (("experiment", "edit", "1", "--min-effect", "lots"), 2, "--min-effect: expected a number, got 'lots'"),
    (("experiment", "cancel", "x"), 2, "ID: expected a whole number"),
    (("experiment", "measure", "abc"), 2, "ID: expected a whole number"),
    (("experiment", "measure"), 2, "give an experiment ID or --all"),
    (("experiment", "note", "abc", "text"), 2, "ID: expected a whole number"),
    (("experiment", "note", "1"), 2, "TEXT: required"),
    (("experiment", "conclude", "1"), 2, "--learning: required"),
    (("experiment", "conclude", "1", "--learning", "x", "--adopt", "--reject"), 2, "exclude each other"),
    (("experiment", "add"), 2, "--metric: required"),
    (("experiment", "add", "--metric", "vibes"), 2, "unknown metric 'vibes'"),
    (("experiment", "add", "--stream", "acme-linkedin"), 2, "unknown stream 'acme-linkedin' (known: brand, other)"),
    (("experiment", "add", "--control-stream", "nope"), 2, "--control-stream: unknown stream 'nope' (known:"),
    (("experiment", "add", "--search", "nope"), 2, "--search: no saved search 'nope' (none saved yet)"),
    (("experiment", "add", "--start", "yesterday"), 2, "--start: expected a day like 2026-09-01, got 'yesterday'"),
    (("experiment", "add", "--min-effect", "abc"), 2, "--min-effect: expected a number, got 'abc'"),
    (("experiment", "add", "--expect", "up"), 2, "--expect: expected increase or decrease"),
    (("experiment", "list", "--status", "nope"), 2, "--status: expected one of"),
    (("experiment", "list", "--bogus"), 2, "no such option --bogus"),
    (("experiment", "frob"), 2, "no such command 'frob'"),
    (("mentions", "import", "{dir}/missing.jsonl"), 2, "no such file"),
    (("mentions", "import", "{dir}/data.xml"), 2, "--format jsonl|csv"),
    (("mentions", "import", "--format", "xml", "{dir}/unknown.jsonl"), 2, "--format: expected jsonl or csv"),
    (("mentions", "import", "{dir}/bad-day.csv"), 1, "line 2: created_at: not an ISO 8601 timestamp with a UTC offset like 2026-09-01T10:00:00Z, got 'yesterday'"),
    (("mentions", "import", "{dir}/unknown.jsonl"), 1, "line 1: unknown stream 'acme-linkedin' (known: brand, other); add it with --create-streams"),
    (("mentions", "import", "--stream", "Bad Name!", "{dir}/unknown.jsonl"), 2, "--stream: 'Bad Name!' is not a stream name"),
    (("mentions", "import", "--stream", "acme-linkdin", "{dir}/unknown.jsonl"), 2, "--stream: unknown stream 'acme-linkdin'"),
    (("mentions", "export", "--since", "yesterday"), 2, "--since: expected a day like"),
    (("mentions", "export", "--until", "2026-13-01"), 2, "--until: expected a day like"),
    (("mentions", "export", "--format", "xml"), 2, "--format: expected jsonl or csv"),
    (("mentions", "export", "--stream", "nope"), 2, "--stream: unknown stream 'nope'"),
    (("mentions", "export", "--since", "2026-09-02", "--until", "2026-09-01"), 2, "--until is before --since"),
    (("reflect", "--as-of", "yesterday"), 2, "--as-of: expected a day like"),
    (("digest", "--week", "2026-W99"), 2, "--week: expected an ISO week like"),
    (("digest", "--week", "last"), 2, "--week: expected an ISO week like"),
    (("digest", "--out", "{dir}/digest.doc"), 2, "--out: expected a file ending in"),
    (("serve", "--port", "abc"), 2, "--port: expected a whole number, got 'abc'"),
    (("serve", "--port", "99999"), 2, "--port: expected a number from 1 to 65535, got '99999'"),
    (("demo", "--weeks", "x"), 2, "--weeks: expected a whole number, got 'x'"),
    (("demo", "--weeks", "2"), 2, "--weeks: the demo needs at least 4 weeks"),
    (("demo", "--seed", "1e3"), 2, "--seed: expected a whole number"),
    (("demo", "--dir", "/proc/nope"), 2, "--dir: cannot create /proc/nope: no such file or directory"),
    (("sandbox", "serve", "--port", "-1"), 2, "--port: expected a number from 0 to 65535"),
    (("sandbox", "serve", "--weeks", "many"), 2, "--weeks: expected a whole number"),
    (("sandbox", "serve", "--episode", "storm@+2m"), 2, "--episode: expected KIND[:STREAM]@WHEN with KIND one of"),
    (("sandbox", "serve", "--episode", "spike@+soon"), 2, "--episode: expected a duration after '+'"),
    (("sandbox", "serve", "--weeks", "1", "--episode", "spike:acme-tiktok@+1m"), 2,
     "episode spike on 'acme-tiktok': the sandbox's world has no such mention stream"),
    (("collect", "--stream", "nope"), 2, "--stream: unknown stream 'nope' (known: brand, other)"),
    (("status", "--bogus"), 2, "no such option --bogus"),
    (("frobnicate",), 2, "no such command 'frobnicate'"),
    (("db", "frob"), 2, "no such command 'frob'"),
    (("db", "check", "--fix"), 2, "no such option --fix"),
    (("init", "{dir}"), 2, "already exists: edit it, or pass --force"),
    (("init", "{dir}/new", "--name", 'a"b'), 2, "--name: expected a plain name"),
    (("user", "add"), 2, "NAME: required"),
    (("token", "create", "--name"), 2, "'--name' requires an argument"),
    (("--config", "{dir}/missing.toml", "status"), 2, "no configuration at"),
    (("--config", "{dir}/broken.toml", "status"), 2, "not valid TOML"),
    (("--config", "{dir}/corrupt.toml", "status"), 2, "corrupt.db is damaged or is not a tracker database: restore it"),
    (("--config", "{dir}/corrupt.toml", "experiment", "list"), 2, "is damaged or is not a tracker database"),
]  # fmt: skip


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    streams = [{"name": "brand", "connector": "hackernews", "query": "acme", "every": "1h"},
               {"name": "other", "connector": "hackernews", "query": "globex", "every": "1h"}]  # fmt: skip
    write_config(tmp_path, db_url=f"sqlite:///{tmp_path / 'tracker.db'}", streams=streams)
    (tmp_path / "data.xml").write_text("<x/>")
    (tmp_path / "unknown.jsonl").write_text(JSONL_UNKNOWN_STREAM)
    (tmp_path / "bad-day.csv").write_text(CSV_BAD_DAY)
    (tmp_path / "broken.toml").write_text("[organisation\nname = 1\n")
    (tmp_path / "corrupt.db").write_text("this is not a database at all, just text " * 20)
    (tmp_path / "corrupt.toml").write_text(
        f'[organisation]\nname = "Org"\n[database]\nurl = "sqlite:///{tmp_path / "corrupt.db"}"\n'
    )
    return tmp_path


def test_the_table_covers_every_command() -> None:
    assert len(WRONG) >= 40
    paths = [tuple(p) for p in all_commands()]
    tried = set()
    for args, _, _ in WRONG:
        words = tuple(a for a in args if not a.startswith(("-", "{")))
        tried |= {p for p in paths if words[: len(p)] == p}
    # These take nothing but --config (and --json), whose wrong values are rows of their own.
    only_config = {("run",), ("db", "upgrade")}
    assert set(paths) - tried <= only_config, set(paths) - tried


@pytest.mark.parametrize(
    ("args", "code", "fragment"), WRONG, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_wrong_invocations_speak_product_words(args: tuple[str, ...], code: int, fragment: str,
                                               workspace: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(workspace)
    argv = [a.replace("{dir}", str(workspace)) for a in args]
    if argv[0] not in ("--config", "init"):
        argv = ["--config", str(workspace / "tracker.toml"), *argv]
    result = cli(*argv)
    message = result.err + (result.out if result.code else "")
    assert result.code == code, (result.code, message)
    assert fragment in message, message
    assert not PYTHON.search(message), (PYTHON.search(message), message)
    first = message.strip().splitlines()[0]
    assert first.startswith(("error: ", "line ")) or "lines:" in first, message


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p))
def test_help_names_values_in_words(path: list[str], cli: Any) -> None:
    result = cli(*path, "--help")
    assert result.code == 0
    assert not PYTHON.search(result.out), (PYTHON.search(result.out), result.out)
    assert "<" not in result.out and "{" not in result.out.split("Options:")[0], result.out


def test_a_missing_metric_is_required_for_the_web_form_too() -> None:
    from tracker.experiments import ExperimentInput, validate

    class NoPractices:
        def practice(self, key: str) -> None:
            return None

    problems = dict(validate(ExperimentInput(), model=NoPractices(), streams={"brand"}))  # type: ignore[arg-type]
    assert problems["metric"].startswith("required (one of mentions"), problems


def test_json_output_is_unchanged_by_the_words(workspace: Path, cli: Any) -> None:
    result = cli("--config", workspace / "tracker.toml", "status", "--json")
    assert result.code == 0
    assert json.loads(result.out)["streams"][0]["next_run"].endswith("Z")
