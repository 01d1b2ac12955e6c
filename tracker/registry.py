"""Connectors are found through the `tracker.connectors` entry-point group.

The built-ins register there exactly as a third-party connector would, so a
connector needs nothing but an entry point. One that fails to import is logged and
skipped: a broken plugin must not stop the other streams from being collected.

A connector's own stream keys (a `StreamKeys`) are found through a second group,
`tracker.stream_keys`, naming a light module of its package (the built-ins'
`connectors/<name>/settings.py`), so loading a config imports no connector and no httpx.
A connector registered without one is asked for its class's `stream_keys` instead.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from connectors.base import Connector, StreamKeys

log = logging.getLogger("tracker.registry")
GROUP = "tracker.connectors"
KEYS_GROUP = "tracker.stream_keys"


@lru_cache(maxsize=1)
def installed() -> tuple[EntryPoint, ...]:
    """Every installed entry point of the two groups, read once per process: each reading walks the
    metadata of every installed distribution, and the config, the connectors and the stream keys
    all ask (`cache_clear()` reads them again, for a plugin installed since)."""
    everything = entry_points()
    return (*everything.select(group=GROUP), *everything.select(group=KEYS_GROUP))


def registered(group: str) -> list[EntryPoint]:
    """The installed entry points of `group` (GROUP or KEYS_GROUP), in their order."""
    return [ep for ep in installed() if ep.group == group]


def _load(ep: EntryPoint, what: str) -> Any | None:
    try:
        return ep.load()
    except Exception as exc:  # any import-time failure of a plugin
        log.error("%s %s (%s) failed to import and is skipped: %s", what, ep.name, ep.value, exc)
        return None


@lru_cache(maxsize=1)
def connectors() -> dict[str, type[Connector]]:
    """Connector name -> connector class, for every entry point that imports."""
    found = {ep.name: _load(ep, "connector") for ep in registered(GROUP)}
    return {name: cls for name, cls in found.items() if cls is not None}


def connector_class(name: str) -> type[Connector] | None:
    return connectors().get(name)


@lru_cache(maxsize=1)
def stream_keys() -> dict[str, StreamKeys]:
    """Connector name -> its own stream keys, in the order the connectors are registered.

    Read from `tracker.stream_keys` without importing the connectors; only a connector
    that registers none there is imported, for its class's `stream_keys`. A connector
    without keys of its own (or whose declaration fails to import) is left out.
    """
    light = {ep.name: ep for ep in registered(KEYS_GROUP)}
    found: dict[str, StreamKeys] = {}
    for ep in registered(GROUP):
        if ep.name in light:
            keys = _load(light[ep.name], "stream keys of connector")
        else:
            keys = getattr(_load(ep, "connector"), "stream_keys", None)
        if isinstance(keys, StreamKeys):
            found[ep.name] = keys
    return found
