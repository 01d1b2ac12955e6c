"""Pure URL and parameter builders for the Mastodon REST API (docs.joinmastodon.org/methods)."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

DEFAULT_BASE_URL = "https://mastodon.social"
LIMIT = 40  # the documented maximum per page for timelines, account statuses and search
STATUSES_BATCH = 20  # GET /api/v1/statuses?id[]= takes at most 20 ids (Mastodon 4.3+; 422 beyond)


def base_url(configured: str | None) -> str:
    """The instance URL without a trailing slash; mastodon.social when none is configured."""
    return (configured or DEFAULT_BASE_URL).rstrip("/")


def hashtag_name(selector: str) -> str:
    """A hashtag as the API takes it: without the leading '#'."""
    return selector.strip().lstrip("#")


def acct_name(selector: str) -> str:
    """An account as accounts/lookup takes it: `user@instance` or a local `user`, no leading '@'."""
    return selector.strip().lstrip("@")


def tag_timeline(base: str, hashtag: str) -> str:
    """GET /api/v1/timelines/tag/:hashtag (public tag timeline)."""
    return f"{base}/api/v1/timelines/tag/{quote(hashtag_name(hashtag), safe='')}"


def account_lookup(base: str) -> str:
    """GET /api/v1/accounts/lookup?acct=... (Account entity, no WebFinger)."""
    return f"{base}/api/v1/accounts/lookup"


def account_statuses(base: str, account_id: str) -> str:
    """GET /api/v1/accounts/:id/statuses."""
    return f"{base}/api/v1/accounts/{quote(account_id, safe='')}/statuses"


def instance(base: str) -> str:
    """GET /api/v2/instance (the server's configuration, timelines_access included)."""
    return f"{base}/api/v2/instance"


def search(base: str) -> str:
    """GET /api/v2/search."""
    return f"{base}/api/v2/search"


def timeline_params(
    limit: int, *, since_id: str | None = None, max_id: str | None = None, exclude_reblogs: bool = False
) -> dict[str, str]:
    """Query of a timeline page: newest first, older than `max_id`, newer than `since_id`.

    `since_id` keeps the newest page of what is newer than a known status (unlike
    `min_id`, which returns the page immediately after it), so a run reads newest-first.
    """
    params = {"limit": str(limit)}
    if exclude_reblogs:
        params["exclude_reblogs"] = "true"
    if since_id is not None:
        params["since_id"] = since_id
    if max_id is not None:
        params["max_id"] = max_id
    return params


def search_params(query: str, limit: int, *, offset: int = 0, min_id: str | None = None) -> dict[str, str]:
    """Query of a statuses search page (newest first on Mastodon 4.x).

    Older pages go by `offset` (allowed with a user token): `max_id` would turn into a
    `before:` filter cut at whole seconds and could skip posts of the same second.
    `min_id` (turned into an `after:` filter by the server) limits later runs to newer posts.
    """
    params = {"q": query, "type": "statuses", "limit": str(limit)}
    if offset:
        params["offset"] = str(offset)
    if min_id is not None:
        params["min_id"] = min_id
    return params


def max_id_of(link: str | None) -> str | None:
    """The `max_id` of a Link rel="next" URL; None when there is no next page."""
    if not link:
        return None
    values = parse_qs(urlsplit(link).query).get("max_id")
    return values[0] if values else None


def statuses(base: str) -> str:
    """GET /api/v1/statuses?id[]=...: several statuses at once (Mastodon 4.3+); unknown ids left out."""
    return f"{base}/api/v1/statuses"


def statuses_params(ids: list[str]) -> list[tuple[str, str]]:
    """The repeated `id[]` parameter of GET /api/v1/statuses."""
    return [("id[]", status_id) for status_id in ids]


def status(base: str, status_id: str) -> str:
    """GET /api/v1/statuses/:id (404 once the status is deleted)."""
    return f"{base}/api/v1/statuses/{quote(status_id, safe='')}"
