"""Configuration: discovery, validation of every kind of mistake, documentation, secrets."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import write_config
from tracker.config import (
    GENERIC_STREAM_KEYS,
    SECTION_KEYS,
    load_settings,
    parse_settings,
    resolve_secret,
    stream_keys,
)
from tracker.errors import ConfigError, UserError

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "tracker.example.toml"
BASE = '[organisation]\nname = "Acme"\ntimezone = "Europe/Vienna"\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(tomllib.loads(text), Path("/x/tracker.toml"))
    return info.value.problems


def stream(**keys: object) -> str:
    body = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in keys.items())
    return "\n[[streams]]\n" + body


def test_example_config_is_valid_and_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    settings = parse_settings(tomllib.loads(text), EXAMPLE)
    assert {s.connector for s in settings.streams} == {"mastodon", "bluesky", "hackernews", "reddit", "rss"}
    sections = re.split(r"^(?:#\s*)?\[+([a-z]+)\]+\s*$", text, flags=re.MULTILINE)
    documented: dict[str, set[str]] = {}
    for name, body in zip(sections[1::2], sections[2::2], strict=True):
        keys = set(re.findall(r"^\s*#?\s*([a-z_][a-z0-9_]*)\s*=", body, flags=re.MULTILINE))
        documented.setdefault(name, set()).update(keys)
    accepted = {**SECTION_KEYS, "streams": GENERIC_STREAM_KEYS + tuple(stream_keys())}
    for section, keys in accepted.items():
        missing = set(keys) - documented.get(section, set())
        assert not missing, f"[{section}] keys accepted by the code but not in the example: {missing}"


def test_spec_example_from_section_3_is_accepted() -> None:
    text = (
        BASE
        + """
[[streams]]
name = "acme-mastodon"
connector = "mastodon"
base_url = "https://mastodon.social"
hashtag = "acme"
every = "15m"
role = "brand"
include = ["acme", "\\"acme cloud\\""]
exclude = ["acme corp hiring"]
languages = ["en", "de"]
"""
    )
    settings = parse_settings(tomllib.loads(text), Path("/x/t.toml"))
    assert settings.streams[0].every.total_seconds() == 900
    assert settings.streams[0].include == ("acme", '"acme cloud"')
    assert settings.database_url == "sqlite:////x/tracker.db"


def test_bad_duration_names_the_key_with_its_index() -> None:
    text = BASE + stream(name="a", connector="hackernews", query="q", every="15m")
    text += stream(name="b", connector="hackernews", query="q", every="15m")
    text += stream(name="c", connector="hackernews", query="q", every="soon")
    assert problems(text) == ["streams[2].every: expected a duration like \"15m\" (s, m, h, d), got 'soon'"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[organisation]\ntimezone = "UTC"\n', "organisation.name: required"),
        (BASE.replace("Europe/Vienna", "Mars/Olympus"), "organisation.timezone: unknown time zone"),
        (BASE + "[databse]\nurl = 'x'\n", "databse: unknown section (did you mean 'database'?)"),
        (BASE + "[web]\nprot = 80\n", "web.prot: unknown key (did you mean 'port'?)"),
        (BASE + "[web]\nport = 70000\n", "web.port: expected a whole number from 1 to 65535"),
        (BASE + "[web]\nport = true\n", "web.port: expected a whole number"),
        (BASE + stream(name="Bad Name", connector="rss", url="https://x.example/f", every="1h"),
         "streams[0].name: expected a slug"),
        (BASE + stream(name="a", connector="myspace", query="x", every="1h"), "streams[0].connector: unknown connector"),
        (BASE + stream(name="a", connector="rss", every="1h"), "streams[0].url: the rss connector needs exactly one of url"),
        (BASE + stream(name="a", connector="mastodon", hashtag="x", account="y", every="1h"),
         "streams[0].hashtag: the mastodon connector needs exactly one of hashtag or account or query"),
        (BASE + stream(name="a", connector="mastodon", query="x", every="1h"),
         "streams[0].token_env: mastodon search (query) needs a token"),
        (BASE + stream(name="a", connector="hackernews", query="x", subreddit="y", every="1h"),
         "streams[0].subreddit: not used by the hackernews connector"),
        (BASE + stream(name="a", connector="reddit", query="x", every="1h"), "streams[0].user_agent: required"),
        (BASE + stream(name="a", connector="reddit", query="x", user_agent="u", client_id_env="ID", every="1h"),
         "streams[0].client_secret_env: client_id_env and client_secret_env go together"),
        (BASE + stream(name="a", connector="bluesky", query="x", identifier="me.bsky.social", every="1h"),
         "streams[0].app_password_env: identifier and app_password_env go together"),
        (BASE + stream(name="a", connector="hackernews", query="x", every="1h", role="boss"),
         "streams[0].role: expected one of brand, competitor, owned"),
        (BASE + stream(name="a", connector="hackernews", query="x"), "streams[0].every: required"),
        (BASE + stream(name="a", connector="hackernews", query="x", every="1s"), "streams[0].every: must be at least 10s"),
        (BASE + stream(name="a", connector="hackernews", query="x", every="1h", backfill=0),
         "streams[0].backfill: expected a whole number from 1"),
        (BASE + stream(name="a", connector="hackernews", query="x", every="1h", languages=["english!"]),
         "streams[0].languages: 'english!' is not valid here"),
        (BASE + stream(name="a", connector="rss", url="ftp://x", every="1h"), "streams[0].url: expected an http"),
        (BASE + stream(name="a", connector="mastodon", hashtag="x", every="1h", token_env="not a name"),
         "streams[0].token_env: expected the name of an environment variable"),
        (BASE + stream(name="a", connector="mastodon", hashtag="x", every="1h", token="s3cr3t"),
         "streams[0].token: secrets are not written in the file"),
        (BASE + '[smtp]\nhost = "h"\npassword = "hunter2"\n', "smtp.password: secrets are not written in the file"),
        (BASE + '[smtp]\nhost = "h"\nusername = "u"\n', "smtp.password_env: a username needs a password"),
        (BASE + '[smtp]\nhost = "h"\nsecurity = "tls"\n', "smtp.security: expected one of starttls, ssl, none"),
        (BASE + '[digest]\nto = ["not-an-address"]\nfrom = "a@b.example"\n', "digest.to: 'not-an-address' is not valid"),
        (BASE + '[digest]\nto = ["a@b.example"]\nfrom = "a@b.example"\ntime = "25:00"\n', "digest.time: expected a time"),
        (BASE + '[digest]\nto = ["a@b.example"]\nfrom = "a@b.example"\nweekday = "monday"\n', "digest.weekday"),
        (BASE + '[maturity]\nmodel = "nowhere.toml"\n', "maturity.model: no file at"),
        (BASE + '[collection]\nread_timeout = "fast"\n', "collection.read_timeout: expected a duration"),
        (BASE + '[logging]\nlevel = "loud"\n', "logging.level: expected one of"),
        ("streams = 3\n" + BASE, "streams: expected [[streams]] tables"),
    ],
)  # fmt: skip
def test_each_mistake_is_named(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    text = '[organisation]\ntimezone = "Nowhere/Land"\n' + stream(name="x", connector="rss", every="soon")
    text += stream(name="x", connector="rss", url="https://a.example/f", every="1h")
    found = problems(text)
    keys = [p.split(":")[0] for p in found]
    assert {
        "organisation.name",
        "organisation.timezone",
        "streams[0].every",
        "streams[0].url",
        "streams[1].name",
    } <= set(keys)


def test_duplicate_stream_names_rejected() -> None:
    text = BASE + stream(name="x", connector="rss", url="https://a.example/f", every="1h") * 2
    assert "streams[1].name: 'x' is used by another stream" in problems(text)


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    for name in "abc":
        (tmp_path / name / "tracker.toml").write_text(BASE.replace("Acme", name.upper()))
    monkeypatch.chdir(tmp_path / "c")
    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
    assert load_settings().organisation.name == "C"
    monkeypatch.setenv("TRACKER_CONFIG", str(tmp_path / "b" / "tracker.toml"))
    assert load_settings().organisation.name == "B"
    assert load_settings(tmp_path / "a" / "tracker.toml").organisation.name == "A"


def test_missing_config_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
    with pytest.raises(UserError, match="tracker init"):
        load_settings()


def test_relative_sqlite_path_is_relative_to_the_config(tmp_path: Path) -> None:
    path = write_config(tmp_path, db_url="sqlite:///data/t.db")
    assert load_settings(path).database_url == f"sqlite:///{tmp_path / 'data' / 't.db'}"


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "tracker.toml"
    path.write_text("[organisation\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_secret_is_read_from_env_and_error_never_holds_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "tok-123456")
    assert resolve_secret("MY_TOKEN", "streams[0].token_env") == "tok-123456"
    monkeypatch.delenv("MY_TOKEN")
    with pytest.raises(UserError) as info:
        resolve_secret("MY_TOKEN", "streams[0].token_env")
    assert "MY_TOKEN is not set" in str(info.value)


def test_cli_reports_config_problems_one_per_line_with_exit_2(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tracker.toml"
    path.write_text(BASE + stream(name="x", connector="hackernews", query="q", every="soon", role="boss"))
    result = cli("--config", path, "mentions", "export")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert lines[0].startswith("error: invalid configuration")
    assert any(line.startswith("streams[0].every:") for line in lines)
    assert any(line.startswith("streams[0].role:") for line in lines)
    assert "Traceback" not in result.err
    assert not (tmp_path / "tracker.db").exists(), "nothing is written for an invalid config"


def test_secret_value_never_printed_by_config_errors(tmp_path: Path, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKER_SMTP_PASSWORD", "pa55-very-secret")
    path = tmp_path / "tracker.toml"
    path.write_text(
        BASE + '[smtp]\nhost = "h"\nusername = "u"\npassword_env = "TRACKER_SMTP_PASSWORD"\nport = 0\n'
    )
    result = cli("--config", path, "mentions", "export")
    assert result.code == 2
    assert "pa55-very-secret" not in result.out + result.err


def test_every_stream_key_is_a_known_section_key() -> None:
    assert set(GENERIC_STREAM_KEYS) == set(SECTION_KEYS["streams"])
    assert {"hashtag", "account", "query", "url", "subreddit", "token_env", "auth_url"} <= set(stream_keys())


def test_a_config_with_a_sandbox_table_but_no_episodes_does_not_load_the_sandbox(tmp_path: Path) -> None:
    """Every command loads the config: the demo's [sandbox] table must not bring the sandbox server in."""
    import subprocess
    import sys

    config = write_config(tmp_path, extra="[sandbox]\nseed = 3\n")
    probe = ("import sys; from tracker.config import load_settings; load_settings(sys.argv[1]); "
             "print(sorted(m for m in sys.modules if m.startswith('tracker.sandbox')))")  # fmt: skip
    found = subprocess.run([sys.executable, "-c", probe, str(config)], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", found.stdout
