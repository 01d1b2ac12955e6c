"""The RSS connector's stream key: the feed's URL.

Read by the tracker's config (through the `tracker.stream_keys` entry point) without importing
the connector itself: this module imports nothing but connectors.base.
"""

from __future__ import annotations

from connectors.base import URL, StreamKeys

STREAM_KEYS = StreamKeys(selectors=("url",), keys={"url": URL})
