"""The Bluesky connector's stream keys: a search or an account, and an optional login.

Read by the tracker's config (through the `tracker.stream_keys` entry point) without importing
the connector itself: this module imports nothing but connectors.base.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import SECRET, TEXT, URL, StreamKeys


def rules(given: Mapping[str, str]) -> list[tuple[str, str]]:
    """A login is an identifier with its app password."""
    if bool(given.get("identifier")) != bool(given.get("app_password_env")):
        return [("app_password_env", "identifier and app_password_env go together")]
    return []


STREAM_KEYS = StreamKeys(
    selectors=("query", "account"),
    keys={"query": TEXT, "account": TEXT, "identifier": TEXT, "app_password_env": SECRET,
          "auth_url": URL},
    rules=rules,
)  # fmt: skip
