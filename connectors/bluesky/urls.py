"""Pure URL and parameter builders for the AT Protocol XRPC endpoints Bluesky serves."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

DEFAULT_BASE_URL = "https://public.api.bsky.app"  # the public AppView: no login
DEFAULT_AUTH_URL = "https://bsky.social"  # the entryway: sessions, and a proxy for app.bsky.*
PAGE_LIMIT = 100  # the maximum both searchPosts and getAuthorFeed accept

SEARCH_POSTS = "app.bsky.feed.searchPosts"
AUTHOR_FEED = "app.bsky.feed.getAuthorFeed"
GET_PROFILE = "app.bsky.actor.getProfile"
GET_POSTS = "app.bsky.feed.getPosts"
POSTS_BATCH = 25  # getPosts takes at most 25 uris
CREATE_SESSION = "com.atproto.server.createSession"
REFRESH_SESSION = "com.atproto.server.refreshSession"


def xrpc(base_url: str, nsid: str) -> str:
    """The URL of an XRPC method on a host: `{base}/xrpc/{nsid}`."""
    return f"{base_url.rstrip('/')}/xrpc/{nsid}"


def search_params(
    query: str, *, cursor: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> dict[str, str]:
    """searchPosts parameters: newest first; `since` (inclusive, on the post's sortAt) bounds a later run,
    `until` (exclusive) restarts a search below the result-set cap."""
    params = {"q": query, "sort": "latest", "limit": str(PAGE_LIMIT)}
    if since is not None:
        params["since"] = iso_z(since)
    if until is not None:
        params["until"] = iso_z(until)
    if cursor:
        params["cursor"] = cursor
    return params


def author_feed_params(actor: str, *, cursor: str | None = None) -> dict[str, str]:
    """getAuthorFeed parameters (default filter: posts and replies; no pinned post on top)."""
    params = {"actor": actor, "limit": str(PAGE_LIMIT)}
    if cursor:
        params["cursor"] = cursor
    return params


def profile_params(actor: str) -> dict[str, str]:
    return {"actor": actor}


def iso_z(moment: datetime, timespec: str = "milliseconds") -> str:
    """An aware datetime as the `2025-05-19T17:10:09.561Z` form the AT Protocol uses."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def rkey(uri: str) -> str | None:
    """The record key of an `at://did/collection/rkey` URI: its last path segment (None if absent)."""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) < 3 or not parts[-1]:
        return None
    return parts[-1]


def post_url(profile: str, record_key: str) -> str:
    """The bsky.app link a person can open; `profile` is a handle or a DID."""
    return f"https://bsky.app/profile/{profile}/post/{record_key}"


def posts_params(uris: list[str]) -> httpx.QueryParams:
    """getPosts parameters: `uris` repeated (a post the AppView no longer has is left out)."""
    return httpx.QueryParams([("uris", uri) for uri in uris])
