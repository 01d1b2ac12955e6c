"""The Reddit connector's stream keys: a search (optionally in one subreddit), its User-Agent and OAuth.

Read by the tracker's config (through the `tracker.stream_keys` entry point) without importing
the connector itself: this module imports nothing but connectors.base.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import SECRET, TEXT, URL, StreamKeys


def rules(given: Mapping[str, str]) -> list[tuple[str, str]]:
    """Reddit throttles generic clients; OAuth keys come in pairs, and a login needs the app."""
    problems: list[tuple[str, str]] = []
    if not given.get("user_agent"):
        problems.append(("user_agent", "required: Reddit asks for a descriptive User-Agent"))
    if bool(given.get("client_id_env")) != bool(given.get("client_secret_env")):
        problems.append(("client_secret_env", "client_id_env and client_secret_env go together"))
    if bool(given.get("username")) != bool(given.get("password_env")):
        problems.append(("password_env", "username and password_env go together (a script app's login)"))
    elif given.get("username") and not given.get("client_id_env"):
        problems.append(("client_id_env", "username needs the script app's client_id_env and secret"))
    return problems


STREAM_KEYS = StreamKeys(
    selectors=("query",),
    keys={"query": TEXT, "subreddit": TEXT, "user_agent": TEXT, "client_id_env": SECRET,
          "client_secret_env": SECRET, "auth_url": URL, "username": TEXT, "password_env": SECRET},
    rules=rules,
)  # fmt: skip
