"""The Hacker News connector's stream keys: a search, optionally narrowed by HN tags.

Read by the tracker's config (through the `tracker.stream_keys` entry point) without importing
the connector itself: this module imports nothing but connectors.base.
"""

from __future__ import annotations

from connectors.base import TEXT, StreamKeys

STREAM_KEYS = StreamKeys(selectors=("query",), keys={"query": TEXT, "tags": TEXT})
