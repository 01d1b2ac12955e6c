"""Connectors are found through entry points, exactly as a third-party one would be."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracker import registry
from tracker.config import known_connectors

PLUGIN = """
from connectors.base import AccountStats, Page

class ThirdPartyConnector:
    platform = "mastodon"

    def __init__(self, spec, http):
        self.spec = spec

    async def pages(self, cursor):
        yield Page(final=True, complete=True, cursor={})

    async def account_stats(self):
        return None
"""

# The light module a plugin's `tracker.stream_keys` entry point names: its keys, read by the
# config without importing the connector.
SETTINGS = """
from connectors.base import TEXT, StreamKeys

def rules(given):
    return [("room", "rooms are lower case")] if given.get("room", "").lower() != given.get("room", "") else []

KEYS = StreamKeys(selectors=("room",), keys={"room": TEXT}, rules=rules)
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    """An installed distribution with one good and one broken connector entry point."""
    (tmp_path / "thirdparty_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = tmp_path / "thirdparty_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-plugin\nVersion: 1.0\n")
    (tmp_path / "thirdparty_keyed.py").write_text(PLUGIN, encoding="utf-8")
    (tmp_path / "thirdparty_settings.py").write_text(SETTINGS, encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[tracker.connectors]\n"
        "fediverse-plus = thirdparty_plugin:ThirdPartyConnector\n"
        "broken = thirdparty_missing_module:Nothing\n"
        "keyed = thirdparty_keyed:ThirdPartyConnector\n"
        "[tracker.stream_keys]\n"
        "keyed = thirdparty_settings:KEYS\n"
    )
    sys.path.insert(0, str(tmp_path))
    registry.installed.cache_clear()
    registry.connectors.cache_clear()
    registry.stream_keys.cache_clear()
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("thirdparty_plugin", None)
        sys.modules.pop("thirdparty_settings", None)
        sys.modules.pop("thirdparty_keyed", None)
        registry.installed.cache_clear()
        registry.connectors.cache_clear()
        registry.stream_keys.cache_clear()


def test_built_ins_load_through_entry_points() -> None:
    registry.connectors.cache_clear()
    found = registry.connectors()
    assert {"mastodon", "bluesky", "hackernews", "reddit", "rss"} <= set(found)
    assert all(cls.platform == name for name, cls in found.items())


def test_a_third_party_connector_needs_only_an_entry_point(
    plugin: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tracker.registry"):
        found = registry.connectors()
    assert found["fediverse-plus"].__name__ == "ThirdPartyConnector"
    assert "broken" not in found, "a connector that fails to import is skipped"
    assert "connector broken" in caplog.text and "failed to import" in caplog.text
    assert "mastodon" in found, "the others still load"
    assert "fediverse-plus" in known_connectors(), "config accepts it as a connector name"


def test_collect_runs_a_third_party_connector(plugin: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import write_config

    path = write_config(tmp_path, streams=[{"name": "plus", "connector": "fediverse-plus", "every": "1h"}])
    result = cli("--config", path, "collect")
    assert result.code == 0, result.err
    assert result.out.splitlines()[1].split() == ["plus", "0", "0", "0", "0", "ok"]


def test_a_third_party_connector_declares_its_keys_in_a_light_module(plugin: Path, tmp_path: Path) -> None:
    """Its `tracker.stream_keys` entry point is read and checked like a built-in's, and loading
    the config does not import its connector (tests/test_layers.py: nor the built-ins, nor httpx)."""
    from tests.conftest import write_config
    from tracker.config import ConfigError, load_settings

    path = write_config(tmp_path, streams=[{"name": "plus", "connector": "keyed", "every": "1h", "room": "acme"}])
    (stream,) = load_settings(path).streams
    assert dict(stream.selectors) == {"room": "acme"}
    assert "thirdparty_keyed" not in sys.modules, "its connector is imported only to collect"
    path = write_config(tmp_path, streams=[{"name": "plus", "connector": "keyed", "every": "1h", "room": "Acme"}])
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.problems == ["streams[0].room: rooms are lower case"]


def test_a_connector_without_a_light_module_is_asked_for_its_class_keys(plugin: Path) -> None:
    keys = registry.stream_keys()
    assert "fediverse-plus" not in keys, "its class declares no keys: it accepts only the common ones"
    assert set(keys["mastodon"].keys) >= {"hashtag", "account", "query", "token_env"}
    assert keys["keyed"].selectors == ("room",)
