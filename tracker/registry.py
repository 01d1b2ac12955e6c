"""Connectors are found through the `tracker.connectors` entry-point group.

The built-ins register there exactly as a third-party connector would, so a
connector needs nothing but an entry point. One that fails to import is logged and
skipped: a broken plugin must not stop the other streams from being collected.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger("tracker.registry")
GROUP = "tracker.connectors"


@lru_cache(maxsize=1)
def connectors() -> dict[str, Any]:
    """Connector name -> connector class, for every entry point that imports."""
    found: dict[str, Any] = {}
    for ep in entry_points(group=GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # any import-time failure of a plugin
            log.error("connector %s (%s) failed to import and is skipped: %s", ep.name, ep.value, exc)
    return found


def connector_class(name: str) -> Any | None:
    return connectors().get(name)
