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


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    """An installed distribution with one good and one broken connector entry point."""
    (tmp_path / "thirdparty_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = tmp_path / "thirdparty_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[tracker.connectors]\n"
        "fediverse-plus = thirdparty_plugin:ThirdPartyConnector\n"
        "broken = thirdparty_missing_module:Nothing\n"
    )
    sys.path.insert(0, str(tmp_path))
    registry.connectors.cache_clear()
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("thirdparty_plugin", None)
        registry.connectors.cache_clear()


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
