"""The Mastodon connector's stream keys: a hashtag, an account or a search (with a token).

Read by the tracker's config (through the `tracker.stream_keys` entry point) without importing
the connector itself: this module imports nothing but connectors.base.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import SECRET, TEXT, StreamKeys

SELECTORS = ("hashtag", "account", "query")


def rules(given: Mapping[str, str]) -> list[tuple[str, str]]:
    """The search API answers only with a token."""
    if given.get("query") and not given.get("token_env"):
        return [("token_env", "mastodon search (query) needs a token: set token_env")]
    return []


STREAM_KEYS = StreamKeys(
    selectors=SELECTORS,
    keys={"hashtag": TEXT, "account": TEXT, "query": TEXT, "token_env": SECRET},
    rules=rules,
)
