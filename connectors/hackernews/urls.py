"""URLs and query parameters of the HN Search API (Algolia), as documented at hn.algolia.com/api."""

from __future__ import annotations

DEFAULT_BASE_URL = "https://hn.algolia.com"
DEFAULT_TAGS = "(story,comment)"  # parentheses mean OR: stories and comments
HITS_PER_PAGE = 100
STORIES_BATCH = 50  # stories asked for by id in one search (an OR of story_<id> tags)


def search_by_date_url(base_url: str | None) -> str:
    """The newest-first search endpoint (`/search` would rank by relevance instead)."""
    return f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/api/v1/search_by_date"


def search_params(
    query: str,
    *,
    tags: str | None = None,
    page: int = 0,
    after: int | None = None,
    until: int | None = None,
) -> dict[str, str | int]:
    """Parameters of one search_by_date page.

    `after` keeps hits created strictly after that Unix time (created_at_i>N); `until`
    keeps hits created at or before it (created_at_i<=N). Algolia ANDs filters joined by commas.

    Algolia by default also matches typo variants (one typo from 4 letters: "acme" finds
    "acne") and the last word as a prefix ("acme" finds "acmeist"): `typoTolerance=false`
    and `queryType=prefixNone` make a query match its words only, so near misses are
    not counted as mentions.
    """
    params: dict[str, str | int] = {
        "query": query,
        "tags": tags or DEFAULT_TAGS,
        "hitsPerPage": HITS_PER_PAGE,
        "page": page,
        "typoTolerance": "false",
        "queryType": "prefixNone",
    }
    filters = []
    if after is not None:
        filters.append(f"created_at_i>{after}")
    if until is not None:
        filters.append(f"created_at_i<={until}")
    if filters:
        params["numericFilters"] = ",".join(filters)
    return params


def item_url(object_id: str) -> str:
    """The page a person opens for a story or comment."""
    return f"https://news.ycombinator.com/item?id={object_id}"


def search_url(base_url: str | None) -> str:
    """The relevance-ranked endpoint; with a tags filter on ids the order does not matter."""
    return f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/api/v1/search"


def stories_params(object_ids: list[str]) -> dict[str, str | int]:
    """Stories by id: Algolia tags every story `story_<its id>`, and a parenthesised list ORs tags."""
    return {
        "tags": "story,(" + ",".join(f"story_{oid}" for oid in object_ids) + ")",
        "hitsPerPage": len(object_ids),
    }
